"""Issue 2 benchmark: random-action env throughput (the physical limit here) beside
MAPPO training throughput, for CoordSum and MPE spread at 64/256/1024 envs; compile
time and peak memory; the JaxMARL reference configurations; and the cost of 8 vmapped
seeds against 8 single-seed runs.

    python benchmarks/core_throughput.py            # all configurations, ~10-20 min on 2 cores
Each configuration runs in its own process, so its peak memory is its own.
"""

from __future__ import annotations

import json
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import env_only_sps, in_subprocess, peak_rss_mb, seconds_per_update, write  # noqa: E402

ENVS = {"coordsum": "{kind: coordsum, task: 3x10-30}", "mpe_spread": "{kind: mpe, scenario: simple_spread}"}


def spec_text(env: str, algo: str, num_envs: int, rollout: int, network: str, seeds: list[int], lr: float = 5e-4,
              epochs: int = 4, minibatches: int = 4) -> str:
    return (f"env: {ENVS[env]}\nalgorithm: {{kind: {algo}, epochs: {epochs}, num_minibatches: {minibatches}}}\n"
            f"network: {network}\ntrain: {{total_env_steps: {num_envs * rollout * 4}, num_envs: {num_envs}, "
            f"rollout_length: {rollout}, seeds: {seeds}, lr: {lr}}}\nlog: {{progress: false}}\n")


def one(env: str, algo: str, num_envs: int, rollout: int, network: str, n_seeds: int) -> dict:
    """Measure one configuration: env-only steps/s and training steps/s (compile excluded)."""
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import parse_spec

    seeds = list(range(n_seeds))
    spec = parse_spec(spec_text(env, algo, num_envs, rollout, network, seeds))
    exp = compile_spec(spec)
    env_sps = env_only_sps(exp.train_env, exp.env.info, rollout)
    per_update, compile_s = seconds_per_update(exp, seeds)
    train_sps = n_seeds * num_envs * rollout / per_update
    return {"env": env, "algo": algo, "num_envs": num_envs, "rollout": rollout, "network": network,
            "seeds": n_seeds, "env_only_sps": env_sps, "train_sps": train_sps,
            "train_over_env": train_sps / (env_sps * n_seeds), "compile_s": compile_s,
            "seconds_per_update": per_update, "peak_rss_mb": peak_rss_mb()}


MLP = "{kind: mlp, hidden: [64, 64], activation: tanh}"
GRU128 = "{kind: gru, fc: 128, hidden: 128, activation: relu}"


def main() -> None:
    rows = []
    configs = [(env, "mappo", n, 128, MLP, 1) for env in ENVS for n in (64, 256, 1024)]
    # JaxMARL's reference configurations (REFERENCE_FACTS.md), compared at *their* settings.
    configs += [("mpe_spread", "mappo", 16, 128, GRU128, 1), ("mpe_spread", "ippo", 16, 128, MLP, 1),
                ("mpe_spread", "ippo", 16, 128, MLP, 10)]
    for env, algo, n, rollout, net, s in configs:
        t0 = time.time()
        row = in_subprocess(__file__, [env, algo, str(n), str(rollout), net, str(s)])
        print(json.dumps(row), f"({time.time() - t0:.0f}s)", flush=True)
        rows.append(row)
    # 8 seeds vmapped in one program vs 8 single-seed programs run one after another.
    single = in_subprocess(__file__, ["coordsum", "mappo", "64", "128", MLP, "1"])
    eight = in_subprocess(__file__, ["coordsum", "mappo", "64", "128", MLP, "8"])
    per_update_single = single["seconds_per_update"]
    seeds_factor = 8 * per_update_single / eight["seconds_per_update"]
    table = [{k: r[k] for k in ("env", "algo", "num_envs", "network", "seeds", "env_only_sps", "train_sps",
                                "train_over_env", "compile_s", "peak_rss_mb")} for r in rows]
    notes = (f"8 vmapped seeds (coordsum, 64 envs): {eight['seconds_per_update']:.3f} s per update vs "
             f"{per_update_single:.3f} s for one seed, so 8 sequential single-seed runs cost "
             f"{seeds_factor:.2f}x the vmapped run.\n\n"
             "env_only_sps: random legal actions through AutoReset, one seed. train_sps: env steps per second "
             "during MAPPO training, all seeds counted, compile excluded. train_over_env: train_sps / (env_only_sps x seeds). "
             "peak_rss_mb: the whole process's peak resident memory (includes compilation).")
    write("core_throughput", {"rows": rows, "seeds_single": single, "seeds_eight": eight,
                              "eight_sequential_over_vmapped": seeds_factor}, table, notes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        env, algo, n, rollout, net, s = sys.argv[2:8]
        print(json.dumps(one(env, algo, int(n), int(rollout), net, int(s))))
    else:
        main()
