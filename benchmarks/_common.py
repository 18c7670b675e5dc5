"""Helpers shared by the benchmark scripts: timing a compiled program, peak memory,
and writing results as JSON plus a markdown table."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import os

    return {"jax": jax.__version__, "backend": jax.default_backend(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Best wall time of `repeats` calls (seconds), after the caller has compiled `fn`."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def env_only_sps(batch: Any, info: Any, steps: int, repeats: int = 3) -> float:
    """Env steps/s of uniformly random legal actions through an `AutoReset` batch: one jitted
    `lax.scan` of `steps` steps, compilation excluded (the physical limit a trainer can reach)."""
    from marlspec.envs.base import random_actions

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        state, ts = batch.reset(key)

        def step(c: Any, k: jax.Array) -> tuple[Any, jax.Array]:
            state, ts = c
            k1, k2 = jax.random.split(k)
            acts = jax.vmap(random_actions, in_axes=(0, None, 0))(jax.random.split(k1, batch.num_envs), info,
                                                                   ts.avail_actions)
            return batch.step(k2, state, acts), ts.reward.sum()

        return jax.lax.scan(step, (state, ts), jax.random.split(key, steps))[1]

    jax.block_until_ready(run(jax.random.PRNGKey(0)))
    return batch.num_envs * steps / timed(lambda: run(jax.random.PRNGKey(1)), repeats=repeats)


def seconds_per_update(experiment: Any, seeds: list[int], updates: int = 2) -> tuple[float, float]:
    """`(seconds per update, compile seconds)` of the runner's seed-vmapped training chunk."""
    import functools

    from marlspec.train.runner import compile_ahead, init_states, over_seeds

    rs = init_states(experiment, seeds)
    fn = over_seeds(functools.partial(experiment.train_chunk, num_updates=updates))
    chunk, compile_s = compile_ahead(fn, rs, donate=False)
    jax.block_until_ready(chunk(rs))
    return timed(lambda: chunk(rs)[1], repeats=2) / updates, compile_s


def in_subprocess(script: str, args: list[str], timeout: float = 1200.0) -> dict[str, Any]:
    """Run `script --one ARGS` in a fresh process (so peak memory is per configuration).

    A run that exceeds `timeout` seconds is killed and started once more, so that one hung
    configuration does not cost the whole benchmark (a batched-QR deadlock in jaxlib hung
    seed-vmapped inits here until marlspec/nn/torso.py stopped batching the QR)."""
    cmd = [sys.executable, script, "--one", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{script} {args}: no result after {timeout:.0f} s; killed and started again", file=sys.stderr)
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{script} {args} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write(name: str, data: dict[str, Any], table: list[dict[str, Any]], notes: str = "") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    if table:
        cols = list(table[0])
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in table:
            lines.append("| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
        m = machine()
        header = f"# {name}\n\nMeasured {m['date']} on {m['cpus']} CPU cores, jax {m['jax']} ({m['backend']}).\n\n"
        (RESULTS / f"{name}.md").write_text(header + "\n".join(lines) + "\n\n" + notes + "\n")


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)
