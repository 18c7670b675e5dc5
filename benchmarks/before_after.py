"""Issue 21: the effect of a code change on training speed, measured in ONE process.

The "before" program is traced with the named files as they were at git revision `--rev`
(loaded from `git show REV:FILE` as modules, and swapped in for the live ones while that
program is traced); the "after" program with the working tree. Both are the runner's
training chunk for one spec in specs/bench/, vmapped over the seeds exactly as `marlspec
run` compiles it, compiled ahead of time, and timed alternately (before, after, after,
before, ...) on the same number of updates, because this machine is shared: only the ratio
measured here means anything.

Both start from the same runner state, so the script also reports the largest absolute
difference between the two learners after the timed updates (0 when the change keeps the
arithmetic exactly; float rounding when it only reorders it).

    python benchmarks/before_after.py ippo_ff_mpe_spread.yaml --rev c663ae1 \
        --files marlspec/algorithms/onpolicy.py --updates 16 --rounds 4
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH = ROOT / "specs" / "bench"


def old_modules(rev: str, files: list[str]) -> dict[str, types.ModuleType]:
    """The files at `rev` as modules, each imported while the earlier ones stand in for their
    live namesakes (so an old module imports the old versions of the others)."""
    mods: dict[str, types.ModuleType] = {}
    saved = {}
    try:
        for f in files:
            name = f.removesuffix(".py").replace("/", ".")
            source = subprocess.run(["git", "show", f"{rev}:{f}"], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout
            spec = importlib.util.spec_from_loader(name, loader=None)
            assert spec is not None
            module = importlib.util.module_from_spec(spec)
            module.__file__ = str(ROOT / f)
            saved[name] = sys.modules.get(name)
            sys.modules[name] = module
            exec(compile(source, f"{rev}:{f}", "exec"), module.__dict__)  # noqa: S102 - our own file at `rev`
            mods[name] = module
    finally:
        for name, m in saved.items():
            if m is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = m
    return mods


@contextlib.contextmanager
def swapped(mods: dict[str, types.ModuleType]) -> Iterator[None]:
    """Within the block, every live function and class method that has an old version
    defined in `mods` is the old version (wherever the live one was imported by name)."""
    undo: list[tuple[Any, str, Any]] = []
    try:
        for name, old in mods.items():
            live = sys.modules[name]
            for attr, new in vars(old).items():
                cur = getattr(live, attr, None)
                if isinstance(new, types.FunctionType) and isinstance(cur, types.FunctionType) and new.__module__ == name:
                    for m in list(sys.modules.values()):
                        if getattr(m, "__name__", "").startswith("marlspec") and getattr(m, attr, None) is cur:
                            undo.append((m, attr, cur))
                            setattr(m, attr, new)
                elif isinstance(new, type) and isinstance(cur, type):
                    for k, v in vars(new).items():
                        if isinstance(v, types.FunctionType | property) and k in vars(cur) and not k.startswith("__"):
                            undo.append((cur, k, vars(cur)[k]))
                            setattr(cur, k, v)
        yield
    finally:
        for obj, attr, value in reversed(undo):
            setattr(obj, attr, value)


def program(spec_file: str, updates: int, seeds: int) -> tuple[Any, Any, Any]:
    """(experiment, runner state, chunk function) as the runner builds them."""

    from marlspec.compile import compile as compile_spec
    from marlspec.spec import load_spec
    from marlspec.train.runner import init_states, over_seeds

    overrides = [f"train.seeds={list(range(seeds))}"]
    spec = load_spec(BENCH / spec_file, overrides=overrides)
    overrides.append(f"train.total_env_steps={updates * spec.train.steps_per_update}")
    ex = compile_spec(load_spec(BENCH / spec_file, overrides=overrides))
    rs = init_states(ex, list(range(seeds)))
    return ex, rs, over_seeds(functools.partial(ex.train_chunk, num_updates=updates))


def main() -> None:
    import equinox as eqx
    import jax
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--rev", required=True)
    p.add_argument("--files", nargs="+", required=True)
    p.add_argument("--updates", type=int, default=8)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--write", action="store_true", help="write benchmarks/results/before_after_<spec>.json")
    args = p.parse_args()
    mods = old_modules(args.rev, args.files)
    ex, rs, fn = program(args.spec, args.updates, args.seeds)
    dynamic, static = eqx.partition(rs, eqx.is_array)
    wrapped = lambda d: eqx.filter(fn(eqx.combine(d, static))[0], eqx.is_array)
    compiled, compile_s = {}, {}
    for side in ("before", "after"):
        t0 = time.perf_counter()
        with swapped(mods) if side == "before" else contextlib.nullcontext():  # a new function: no cached trace
            compiled[side] = jax.jit(lambda d: wrapped(d)).lower(dynamic).compile()
        compile_s[side] = time.perf_counter() - t0
    outs = {s: jax.block_until_ready(c(dynamic)) for s, c in compiled.items()}
    a, b = (jax.tree.leaves(eqx.filter(outs[s].learner, eqx.is_inexact_array)) for s in ("before", "after"))
    diff = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b, strict=True))
    scale = max(float(np.max(np.abs(np.asarray(x)))) for x in a)
    times: dict[str, list[float]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for s in (("before", "after") if r % 2 == 0 else ("after", "before")):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled[s](dynamic))
            times[s].append(time.perf_counter() - t0)
    ratios = [b_ / a_ for a_, b_ in zip(times["after"], times["before"], strict=True)]
    out = {
        "spec": args.spec, "rev": args.rev, "files": args.files, "updates": args.updates, "seeds": args.seeds,
        "steps": args.updates * ex.steps_per_update * args.seeds, "compile_s": compile_s,
        "seconds": times, "speedup_per_round": ratios, "speedup_median": statistics.median(ratios),
        "learner_max_abs_diff": diff, "learner_max_abs": scale,
        "command": "python benchmarks/before_after.py " + " ".join(sys.argv[1:]),
        "load_after": __import__("os").getloadavg()[0],
    }
    print(json.dumps(out, indent=1))
    if args.write:
        from benchmarks._common import RESULTS, machine

        name = "before_after_" + Path(args.spec).stem
        (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), **out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
