"""What the Policy Modifier costs: AgentMixer's training steps/s against MAPPO's on the same spec,
and how the cost grows with the number of agents.

    python benchmarks/agentmixer_throughput.py [--quick]   # writes results/agentmixer_throughput.{json,md}

1. Same spec, one run: `specs/agentmixer/predator_prey.yaml` (32 envs x 128 steps, GRU-64
   actors and critic) with `kind: agentmixer` and with `kind: mappo`, 1 seed and 5 vmapped seeds.
   Each configuration is measured in its own process (one after another, twice, interleaved), and
   the ratio is taken within each round, so the machine's load affects both sides alike.
2. Agents from 3 to 32: CoordSum with N agents, 10 actions and targets in [0, 4.5 N) (so the target
   stays reachable), 16 envs x 64 steps, MLP-64 actors; AgentMixer and MAPPO at each N. The agent-mixing
   MLP is N -> 32 -> N per feature, the channel-mixing MLP 64 -> 256 -> 64 per agent, so the
   modifier's cost should grow about linearly in N until the N x N agent-mixing weights dominate.
   The growth exponent is the least-squares slope of log(time) on log(N).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import in_subprocess, peak_rss_mb, seconds_per_update, write  # noqa: E402

AGENTS = (3, 5, 8, 16, 32)
ALGORITHMS = ("agentmixer", "mappo")


def spec_for(algorithm: str, agents: int | None, seeds: int):
    import yaml

    from marlspec.spec import parse_spec

    base = yaml.safe_load((ROOT / "specs" / "agentmixer" / "predator_prey.yaml").read_text())
    base["algorithm"] = {"kind": algorithm}
    base["train"].update(seeds=list(range(seeds)), total_env_steps=10**7)
    if agents is not None:
        base["env"] = {"kind": "coordsum", "agents": agents, "actions": 10, "max_target": int(4.5 * agents)}
        base["network"] = {"kind": "mlp", "hidden": [64]}
        base["train"].update(num_envs=16, rollout_length=64)
    return parse_spec(yaml.safe_dump(base), f"<{algorithm} x{agents}>")


def one(algorithm: str, agents: int, seeds: int) -> dict:
    from marlspec.compile import compile as compile_spec
    from marlspec.train.runner import enable_compilation_cache

    enable_compilation_cache()
    spec = spec_for(algorithm, agents or None, seeds)
    exp = compile_spec(spec)
    sec, compile_s = seconds_per_update(exp, spec.train.seeds, updates=2)
    return {"algorithm": algorithm, "agents": agents or 2, "seeds": seeds, "env": spec.env.label,
            "seconds_per_update": sec, "steps_per_s": seeds * exp.steps_per_update / sec, "compile_s": compile_s,
            "peak_rss_mb": peak_rss_mb(), "load_avg_1min": os.getloadavg()[0]}


def slope(xs: list[int], ys: list[float]) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main(quick: bool = False) -> None:
    """`quick`: one round, one seed, agents 3, 8 and 32 (the file says so)."""
    global AGENTS
    if quick:
        AGENTS = (3, 8, 32)
    same_spec = []
    for round_ in (1,) if quick else (1, 2):
        for seeds in (1,) if quick else (1, 5):
            pair = {a: in_subprocess(__file__, [a, "0", str(seeds)]) for a in ALGORITHMS}
            ratio = pair["agentmixer"]["steps_per_s"] / pair["mappo"]["steps_per_s"]
            for a in ALGORITHMS:
                same_spec.append({**pair[a], "round": round_, "agentmixer / mappo": ratio})
            print(json.dumps(same_spec[-2:]), flush=True)
    scaling = []
    for n in AGENTS:
        for a in ALGORITHMS:
            t0 = time.time()
            scaling.append(in_subprocess(__file__, [a, str(n), "1"]))
            print(json.dumps(scaling[-1]), f"({time.time() - t0:.0f}s)", flush=True)
    fits = {a: slope(list(AGENTS), [r["seconds_per_update"] for r in scaling if r["algorithm"] == a])
            for a in ALGORITHMS}
    extra = [next(r["seconds_per_update"] for r in scaling if r["algorithm"] == "agentmixer" and r["agents"] == n)
             - next(r["seconds_per_update"] for r in scaling if r["algorithm"] == "mappo" and r["agents"] == n)
             for n in AGENTS]
    modifier_fit = slope(list(AGENTS), extra) if min(extra) > 0 else float("nan")
    cols = ("round", "algorithm", "seeds", "env", "steps_per_s", "agentmixer / mappo", "compile_s", "peak_rss_mb")
    table = [{k: r[k] for k in cols} for r in same_spec]
    table += [{"round": "", "algorithm": r["algorithm"], "seeds": 1, "env": r["env"], "steps_per_s": r["steps_per_s"],
               "agentmixer / mappo": "", "compile_s": r["compile_s"], "peak_rss_mb": r["peak_rss_mb"]} for r in scaling]
    loads = [r["load_avg_1min"] for r in same_spec + scaling]
    ratios = {s: [r["agentmixer / mappo"] for r in same_spec if r["seeds"] == s and r["algorithm"] == "mappo"]
              for s in ((1,) if quick else (1, 5))}
    notes = (
        "Training steps/s (rollout + update, compile excluded; `benchmarks._common.seconds_per_update`), "
        "all seeds counted. Same spec (predator-prey P = -1, 32 envs x 128): AgentMixer / MAPPO = "
        + "; ".join(f"{s} seed{'s' if s > 1 else ''}: " + ", ".join(f"{x:.2f}" for x in v) for s, v in ratios.items())
        + " (one value per round). Agents 3-32 on CoordSum (16 envs x 64, one seed): seconds per update grow as "
        + ", ".join(f"{a} N^{k:.2f}" for a, k in fits.items())
        + f"; AgentMixer's extra time over MAPPO grows as N^{modifier_fit:.2f}. "
        f"The 1-minute load average during the measurements was {min(loads):.1f}-{max(loads):.1f} on "
        f"{os.cpu_count()} cores" + (" (a quiet machine)." if max(loads) <= 2.5 else
                                    ": other jobs shared the CPU, so only the ratios within a round are meaningful.")
        + ("\n\nMeasured with `--quick` (one round, one seed, agents 3, 8, 32)." if quick else "")
        + "\n\nRegenerate: `python benchmarks/agentmixer_throughput.py` (add `--quick` for the short version).")
    write("agentmixer_throughput", {"same_spec": same_spec, "scaling": scaling, "fitted_exponents": fits,
                                    "modifier_extra_exponent": modifier_fit}, table, notes)
    print((Path(__file__).parent / "results" / "agentmixer_throughput.md").read_text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main(quick="--quick" in sys.argv[1:])
