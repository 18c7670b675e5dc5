"""MAGPO's training throughput on CoordSum 5x20-80 and LBF beside MAPPO's and beside the
environment alone, measured in one process per configuration.

    python benchmarks/magpo_throughput.py          # writes results/magpo_throughput.{json,md}

Configuration: specs/coordsum/magpo_5x20-80.yaml (32 envs x 128 steps, GRU-64 learners /
actors, joint policy embed 32, 4 epochs x 2 minibatches), with the algorithm switched as in
benchmarks/coordsum_table.py. Training steps/s count every seed's environment steps and
exclude compilation; env-only steps/s is random legal actions through the same AutoReset
batch, measured in the same process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import env_only_sps, in_subprocess, peak_rss_mb, seconds_per_update, write  # noqa: E402


def lbf_spec_text(algorithm: str, steps: int, seeds: list[int]) -> tuple[str, list[str]]:
    """specs/magpo_lbf.yaml (LBF 8x8-2p-2f-coop, 64 envs x 128 steps) with the algorithm switched
    the way benchmarks/coordsum_table.py switches it."""
    import yaml

    base = yaml.safe_load((ROOT / "specs" / "magpo_lbf.yaml").read_text())
    algo = dict(base["algorithm"], kind=algorithm)
    for key in {"magpo": (), "mappo": ("delta", "rl_coef", "joint_policy")}[algorithm]:
        algo.pop(key, None)
    base.update(algorithm=algo, name=f"{algorithm}_lbf", log={"progress": False, "checkpoint": False, "plot": False})
    base["train"].update(total_env_steps=steps, seeds=seeds)
    return yaml.safe_dump(base, sort_keys=False), []


def one(algorithm: str, n_seeds: int, task: str = "5x20-80") -> dict:
    from benchmarks.coordsum_table import spec_text
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import parse_spec

    seeds = list(range(n_seeds))
    if task == "lbf":
        text, overrides = lbf_spec_text(algorithm, 64 * 128 * 4, seeds)
    else:
        text, overrides = spec_text(task, algorithm, 32 * 128 * 4, seeds, [])
    exp = compile_spec(parse_spec(text, "<throughput>", overrides))
    num_envs, rollout = exp.num_envs, exp.rollout_length
    env_sps = env_only_sps(exp.train_env, exp.env.info, rollout)
    per_update, compile_s = seconds_per_update(exp, seeds)
    train_sps = n_seeds * num_envs * rollout / per_update
    return {"algorithm": algorithm, "task": task, "seeds": n_seeds, "env_only_sps": env_sps, "train_sps": train_sps,
            "train_over_env": train_sps / (env_sps * n_seeds), "seconds_per_update": per_update,
            "compile_s": compile_s, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    rows = []
    for algorithm in ("mappo", "magpo", "ctds", "mat", "happo"):
        for n_seeds in (1, 5):
            t0 = time.time()
            row = in_subprocess(__file__, [algorithm, str(n_seeds)])
            print(json.dumps(row), f"({time.time() - t0:.0f}s)", flush=True)
            rows.append(row)
    for algorithm in ("mappo", "magpo"):
        t0 = time.time()
        row = in_subprocess(__file__, [algorithm, "1", "lbf"])
        print(json.dumps(row), f"({time.time() - t0:.0f}s)", flush=True)
        rows.append(row)
    mappo = {(r["task"], r["seeds"]): r["train_sps"] for r in rows if r["algorithm"] == "mappo"}
    for r in rows:
        r["over_mappo"] = r["train_sps"] / mappo[r["task"], r["seeds"]]
    table = [{k: r[k] for k in ("task", "algorithm", "seeds", "env_only_sps", "train_sps", "train_over_env", "over_mappo",
                                "seconds_per_update", "compile_s", "peak_rss_mb")} for r in rows]
    notes = ("CoordSum 5x20-80, 32 envs x 128 steps per update (specs/coordsum/magpo_5x20-80.yaml); LBF "
             "8x8-2p-2f-coop, 64 envs x 128 steps per update (specs/magpo_lbf.yaml). env_only_sps: random legal actions, one seed. "
             "train_sps: environment steps per second while training (all seeds, compile excluded). "
             "train_over_env = train_sps / (env_only_sps x seeds); over_mappo = train_sps / MAPPO's at the same "
             "seed count. MAGPO and CTDS run the same program shape (CTDS only drops the delta constraint); "
             "both sample the guider agent by agent while acting and update guider and learners every "
             "minibatch, so their cost is MAT's plus a MAPPO-sized learner. peak_rss_mb: the process's peak "
             "resident memory, compilation included.")
    write("magpo_throughput", {"rows": rows}, table, notes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])))
    else:
        main()
