"""Issue 2 benchmark: what vmapping seeds saves, end to end.

Runs `marlspec run specs/mappo_coordsum.yaml` as a user would (a fresh process, the
persistent compilation cache on) once with 8 seeds in one vmapped program and 8 times
with one seed each, at a short budget, and records the wall times. Unlike the
per-update factor in `core_throughput.py`, this counts what separate runs also pay:
process start-up, imports, compilation (or cache loading) and evaluation.

    python benchmarks/seeds_vmap.py

Writes benchmarks/results/seeds_vmap.json and .md.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "mappo_coordsum.yaml"
STEPS = 64_000
"""Env steps per seed: 20 updates of 32 envs x 100 steps, evaluated every 12,800 steps."""


def run(seeds: list[int], out: Path) -> float:
    cmd = [sys.executable, "-m", "marlspec", "run", str(SPEC), "--quiet", "--out", str(out),
           "--set", f"train.seeds={seeds}", "--set", f"train.total_env_steps={STEPS}",
           "--set", "eval.interval=12800", "--set", "log.checkpoint=false"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        warm = run([0], Path(tmp) / "warm")  # fills the persistent compilation cache
        singles = [run([s], Path(tmp) / f"single{s}") for s in range(8)]
        eight = run(list(range(8)), Path(tmp) / "eight")
    factor = sum(singles) / eight
    row = {"spec": SPEC.name, "env_steps_per_seed": STEPS, "first_single_run_s": warm,
           "eight_single_runs_s": sum(singles), "one_run_of_8_seeds_s": eight, "sequential_over_vmapped": factor}
    notes = (f"8 single-seed runs one after another took {sum(singles):.1f} s "
             f"(each {min(singles):.1f}-{max(singles):.1f} s, the compilation cache already warm); one run with "
             f"the 8 seeds vmapped took {eight:.1f} s: a factor {factor:.2f}. The first single-seed run "
             f"({warm:.1f} s) filled the cache and is not counted. Each run is `python -m marlspec run "
             f"{SPEC.relative_to(ROOT)} --quiet` with train.total_env_steps={STEPS}. The per-update factor with "
             "compilation and start-up excluded is in core_throughput.md.")
    write("seeds_vmap", {"row": row, "single_runs_s": singles}, [row], notes)
    print(notes)


if __name__ == "__main__":
    main()
