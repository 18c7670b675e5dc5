"""How the cost of MAGPO's autoregressive guider grows with the number of agents, on CoordSum.

    python benchmarks/magpo_scaling.py             # writes results/magpo_scaling.{json,md}

For N in 3, 5, 8, 16, 32 agents (CoordSum with 10 actions and targets in [0, 4.5 N), so the
target stays reachable), one seed, 16 envs x 64 steps per update, MAGPO with the CoordSum
spec's networks (joint policy embed 32, 1 block; GRU-64 learners): the time of one rollout
(the guider samples agent by agent, N decoder passes per step), of one update (4 epochs x 2
minibatches of guider + learner), compile time and the process's peak memory, each
configuration in its own process. MAGPO is measured with both guider networks, MAT's
(`magpo`) and Sable's retentive one (`magpo_sable`); MAPPO at the same N is the reference.
The growth exponent is the slope of log(time) against log(N) over the measured points
(least squares).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import in_subprocess, peak_rss_mb, timed, write  # noqa: E402

AGENTS = (3, 5, 8, 16, 32)
CONFIGS = {"magpo": ("magpo", "mat"), "magpo_sable": ("magpo", "sable"), "mappo": ("mappo", None)}
"""Row label -> (algorithm, guider architecture)."""


def one(label: str, n: int) -> dict:
    import yaml

    from benchmarks.coordsum_table import spec_text
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import parse_spec
    from marlspec.train.rollout import rollout
    from marlspec.train.runner import compile_ahead

    algorithm, architecture = CONFIGS[label]
    base = yaml.safe_load(spec_text("5x20-80", algorithm, 16 * 64 * 2, [0], [])[0])
    if architecture is not None:
        base["algorithm"]["joint_policy"]["architecture"] = architecture
    base["env"] = {"kind": "coordsum", "agents": n, "actions": 10, "max_target": int(4.5 * n)}
    base["train"].update(num_envs=16, rollout_length=64, total_env_steps=16 * 64 * 2)
    exp = compile_spec(parse_spec(yaml.safe_dump(base), "<scaling>"))
    t0 = time.perf_counter()
    rs = eqx.filter_jit(exp.init)(jax.random.PRNGKey(0))
    jax.block_until_ready(rs)
    init_s = time.perf_counter() - t0

    def roll(r):
        return rollout(exp.train_env, exp.algorithm, r.learner, r.actors, r.key, exp.rollout_length)[1]

    roll_fn, roll_compile = compile_ahead(roll, rs, donate=False)
    traj = roll_fn(rs)
    rollout_s = timed(lambda: roll_fn(rs).reward, repeats=5)

    def upd(args):
        learner, batch = args
        return exp.algorithm.update(learner, batch, jax.random.PRNGKey(1))[0]

    upd_fn, upd_compile = compile_ahead(upd, (rs.learner, traj), donate=False)
    update_s = timed(lambda: jax.tree.leaves(eqx.filter(upd_fn((rs.learner, traj)), eqx.is_array))[0], repeats=2)
    return {"algorithm": label, "agents": n, "rollout_s": rollout_s, "update_s": update_s,
            "steps_per_s": 16 * 64 / (rollout_s + update_s), "compile_s": roll_compile + upd_compile,
            "init_s": init_s, "peak_rss_mb": peak_rss_mb(), "load_avg_1min": os.getloadavg()[0]}


def slope(xs: list[int], ys: list[float]) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main() -> None:
    rows = []
    for label in CONFIGS:
        for n in AGENTS:
            t0 = time.time()
            row = in_subprocess(__file__, [label, str(n)])
            print(json.dumps(row), f"({time.time() - t0:.0f}s)", flush=True)
            rows.append(row)
    loads = [r["load_avg_1min"] for r in rows]
    fits = {}
    for algorithm in CONFIGS:
        mine = [r for r in rows if r["algorithm"] == algorithm]
        ns = [r["agents"] for r in mine]
        fits[algorithm] = {k: slope(ns, [r[k] for r in mine]) for k in ("rollout_s", "update_s", "peak_rss_mb")}
    table = [{k: r[k] for k in ("algorithm", "agents", "rollout_s", "update_s", "steps_per_s", "compile_s",
                                "peak_rss_mb")} for r in rows]
    notes = ("One seed, 16 envs x 64 steps per update (1,024 env steps). rollout_s / update_s: seconds per "
             "rollout / per update, compile excluded; compile_s: both programs. Fitted growth, time ∝ N^k: "
             + "; ".join(f"{a}: rollout k = {f['rollout_s']:.2f}, update k = {f['update_s']:.2f}, "
                         f"peak memory k = {f['peak_rss_mb']:.2f}" for a, f in fits.items())
             + ". The guider decodes the N agents one after another while acting (N passes of a decoder "
             "whose attention spans N positions, so O(N^2) per agent and O(N^3) per step in the worst case "
             "before constant costs dominate); training evaluates all agents in one causal pass. Sable's guider "
             "acts the same way (N decoder passes per step, each also reading the retention memory), and "
             "its update replays each environment's rollout step by step (a scan over time carrying the "
             "memory) where MAT's evaluates all steps at once. "
             f"Times are the best of 5 rollouts / 2 updates. The 1-minute load average after each measurement "
             f"was {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
             + (" (a quiet machine)." if max(loads) <= 2.5 else ": other jobs shared the CPU, so times carry noise."))
    write("magpo_scaling", {"rows": rows, "fitted_exponents": fits}, table, notes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
