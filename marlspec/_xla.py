"""XLA settings that must be in place before JAX creates its CPU backend. No JAX import here.

XLA's multi-threaded Eigen pool on the CPU can wedge: the program never completes, every
worker thread waits for work and the caller waits for its buffers, at 0% CPU. It happened
here twice in about twenty seed-vmapped runs (jax 0.10.2), both times in the first call of
`init_states` (MAPPO and HAPPO on CoordSum 5x20-80, 5 seeds); a rerun then finished. The
same symptom, and this flag as the fix, are reported in PyAutoLabs/PyAutoFit#1528 and #1530.
Running Eigen single-threaded cost 13% of the main job's steps/s here (23.8k vs 27.4k) and
gave identical results. Set MARLSPEC_EIGEN_THREADS=multi to keep XLA's default.
"""

from __future__ import annotations

import os

FLAG = "--xla_cpu_multi_thread_eigen=false"


def avoid_eigen_deadlock() -> None:
    """Append `FLAG` to XLA_FLAGS unless the user chose otherwise (idempotent). The flag only
    concerns XLA's CPU backend; GPU programs are unaffected."""
    if os.environ.get("MARLSPEC_EIGEN_THREADS", "").lower() == "multi":
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
