"""Shared test set-up: JAX's persistent compilation cache, strict promotion rules,
and session fixtures that compile each tiny experiment once for all tests."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

# Compiled programs survive across test runs (and CI steps) in this folder.
_CACHE = Path(os.environ.get("MARLSPEC_JAX_CACHE", Path(__file__).resolve().parent.parent / ".jax_cache"))
_CACHE.mkdir(parents=True, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
# Implicit rank promotion is reported. It cannot be "raise": JaxMARL's MPE code itself
# broadcasts (3, 2) against (2,), which made the MPE learning test fail under "raise".
jax.config.update("jax_numpy_rank_promotion", "warn")


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    """Overrides that shrink any spec to a test-sized run."""
    return [
        "train.total_env_steps=256", "train.num_envs=4", "train.rollout_length=16",
        "eval.interval=128", "eval.episodes=4", "log.progress=false",
    ]
