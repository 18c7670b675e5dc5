"""Multi-host start-up: `jax.distributed.initialize` before anything else touches JAX.

This module imports nothing from marlspec, since importing the environments or the runner
already creates arrays, which fixes JAX's backend to this one process.
"""

from __future__ import annotations

import os


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> None:
    """`jax.distributed.initialize` from the arguments or, where they are None, from JAX's own
    detection: `JAX_COORDINATOR_ADDRESS`, and SLURM / Open MPI / other cluster environment
    variables (JAX's `cluster_detection_method`). On CPU the processes' collectives go through gloo."""
    import jax

    jax.distributed.initialize(coordinator_address=coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS"),
                               num_processes=num_processes, process_id=process_id)
