"""Why the value-decomposition family levelled off near half wins on SMAX 3m (issue 22):
instrumented runs of QMIX, MACPF and FOP, and one-switch arms compared on the same seeds.

    python benchmarks/vd_diagnose.py run qmix_base qmix_train8 --steps 200000   # some arms
    python benchmarks/vd_diagnose.py list                                        # every arm
    python benchmarks/vd_diagnose.py report                                      # tables and plots

An arm is a name in ARMS: a spec and the `--set` overrides that make it. Every arm goes
through the one runner (`marlspec.train.runner.run`) on seeds 0, 1, 2 unless told
otherwise, evaluating greedily on 32 episodes every `--eval` steps, and keeps every
per-seed record of metrics.jsonl: the greedy win rate of the execution policy (and of
MACPF's dependent policy), the training episodes' win rate under exploration, and the
learner's chunk-mean diagnostics (Q_tot of the taken actions, its TD target, the observed
discounted return-to-go in the same sampled episodes, |TD error|, gradient norms before
clipping per optimiser group, epsilon, alpha). Replay reuse and staleness are derived from
the per-update counts of finished episodes.

Writes results/vd_diagnose_runs/<arm>_<steps>.json per run, and `report` writes
results/vd_diagnose.{md,json} and results/vd_diagnose_<algorithm>.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, write  # noqa: E402

RUNS = RESULTS / "vd_diagnose_runs"
QMIX, MACPF, FOP = "specs/qmix_smax_3m.yaml", "specs/macpf_smac.yaml", "specs/fop_smax_3m.yaml"

# The settings the specs had when issue 22 was filed (commit f1f96a8), spelled out so that
# the baseline arms stay what they were whatever the specs' defaults become.
OLD = ["algorithm.train_steps=1", "algorithm.target_update_interval=200", "algorithm.target_update_unit=episodes",
       "algorithm.reward_scale=1.0", "algorithm.buffer_size=1000", "algorithm.epsilon_anneal_steps=50000",
       "algorithm.normalize_state=true"]
OLD_SOFT = [*OLD, "algorithm.alpha_start=0.001", "algorithm.alpha_end=0.001", "algorithm.alpha_anneal_steps=1"]

ARMS: dict[str, tuple[str, list[str], str]] = {
    # ---- round 1: one switch at a time from the settings of the issue
    "qmix_base": (QMIX, OLD + ["algorithm.td_lambda=0.6"], "the issue's settings"),
    "qmix_train8": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.train_steps=8"], "8 gradient steps per rollout"),
    "qmix_reward10": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.reward_scale=10"], "reward x10"),
    "qmix_rawstate": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.normalize_state=false"], "raw state"),
    "qmix_td0": (QMIX, OLD + ["algorithm.td_lambda=0"], "one-step targets"),
    "qmix_target_gs": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.target_update_unit=gradient_steps"],
                       "target copy every 200 gradient steps"),
    "qmix_buffer5000": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.buffer_size=5000"], "replay 5000 episodes"),
    "qmix_eps200k": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.epsilon_anneal_steps=200000"],
                     "epsilon over 200k steps"),
    "macpf_base": (MACPF, OLD_SOFT, "the issue's settings"),
    "macpf_train8": (MACPF, OLD_SOFT + ["algorithm.train_steps=8"], "8 gradient steps per rollout"),
    "macpf_reward10": (MACPF, OLD_SOFT + ["algorithm.reward_scale=10"], "reward x10"),
    "macpf_rawstate": (MACPF, OLD_SOFT + ["algorithm.normalize_state=false"], "raw state"),
    "macpf_td0": (MACPF, OLD_SOFT + ["algorithm.td_lambda=0"], "one-step targets"),
    "macpf_target_gs": (MACPF, OLD_SOFT + ["algorithm.target_update_unit=gradient_steps"],
                        "target copy every 200 gradient steps"),
    "macpf_buffer5000": (MACPF, OLD_SOFT + ["algorithm.buffer_size=5000"], "replay 5000 episodes"),
    "macpf_eps200k": (MACPF, OLD_SOFT + ["algorithm.epsilon_anneal_steps=200000"], "epsilon over 200k steps"),
    "macpf_alpha0.01": (MACPF, OLD_SOFT + ["algorithm.alpha_start=0.01", "algorithm.alpha_end=0.01"], "alpha 0.01"),
    # ---- round 2: the same switches on top of 8 gradient steps per rollout
    "qmix_train8_reward10": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.train_steps=8",
                                          "algorithm.reward_scale=10"], "8 steps, reward x10"),
    "qmix_train8_target_gs": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.train_steps=8",
                                           "algorithm.target_update_unit=gradient_steps"],
                              "8 steps, target every 200 gradient steps"),
    "qmix_train4_reward10": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.train_steps=4",
                                          "algorithm.reward_scale=10"], "4 steps, reward x10"),
    "macpf_train8_reward10_alpha_paper": (MACPF, OLD_SOFT + [
        "algorithm.train_steps=8", "algorithm.reward_scale=10", "algorithm.alpha_start=0.5", "algorithm.alpha_end=0.05",
        "algorithm.alpha_anneal_steps=200000"], "8 steps, reward x10, the paper's alpha 0.5 -> 0.05 over 200k"),
    "macpf_train8_reward10": (MACPF, OLD_SOFT + ["algorithm.train_steps=8", "algorithm.reward_scale=10"],
                              "8 steps, reward x10, alpha 0.001"),
    # ---- round 3: one switch at a time on top of reward x10 (one gradient step per rollout)
    "qmix_reward10_td0": (QMIX, OLD + ["algorithm.reward_scale=10", "algorithm.td_lambda=0"],
                          "reward x10, one-step targets"),
    "qmix_reward10_rawstate": (QMIX, OLD + ["algorithm.reward_scale=10", "algorithm.td_lambda=0.6",
                                            "algorithm.normalize_state=false"], "reward x10, raw state"),
    "qmix_reward10_wide": (QMIX, OLD + ["algorithm.reward_scale=10", "algorithm.td_lambda=0.6", "network.fc=128",
                                        "network.hidden=128"], "reward x10, fc 128 + GRU 128 (MAPPO's)"),
    "qmix_reward10_buffer5000": (QMIX, OLD + ["algorithm.reward_scale=10", "algorithm.td_lambda=0.6",
                                              "algorithm.buffer_size=5000"], "reward x10, replay 5000 episodes"),
    "qmix_reward10_adam": (QMIX, OLD + ["algorithm.reward_scale=10", "algorithm.td_lambda=0.6",
                                        "algorithm.optimizer=adam"], "reward x10, Adam"),
    "qmix_train32_reward10": (QMIX, OLD + ["algorithm.td_lambda=0.6", "algorithm.train_steps=32",
                                           "algorithm.reward_scale=10"], "32 steps, reward x10"),
}


def arm_spec(name: str, steps: int, seeds: list[int], eval_interval: int) -> Any:
    from marlspec.spec import load_spec

    path, overrides, _ = ARMS[name]
    return load_spec(ROOT / path, [
        *overrides, "env.map=3m", f"train.total_env_steps={steps}", f"train.seeds={seeds}",
        f"eval.interval={eval_interval}", "eval.episodes=32", "log.progress=false", "log.checkpoint=false",
        "log.plot=false", f"name={name}",
    ])


def train(name: str, steps: int, seeds: list[int], eval_interval: int, out: Path) -> dict[str, Any]:
    from marlspec.train.runner import run

    spec = arm_spec(name, steps, seeds, eval_interval)
    rundir = run(spec, out / f"{name}_{steps}", progress=False)
    rows = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((rundir.path / "summary.json").read_text())
    return {"arm": name, "spec": ARMS[name][0], "overrides": ARMS[name][1], "what": ARMS[name][2],
            "algorithm": spec.algorithm.kind, "steps": steps, "seeds": seeds,
            "resolved_algorithm": spec.algorithm.model_dump(), "steps_per_update": spec.train.steps_per_update,
            "rows": rows, "train_seconds": summary["train_seconds"], "compile_seconds": summary["compile_seconds"],
            "sps": summary["sps"]}


# ------------------------------------------------------------------ derived diagnostics


def by_step(run: dict[str, Any], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, values [evals, seeds]) of one record field; NaN where absent."""
    steps = sorted({r["env_steps"] for r in run["rows"]})
    vals = [[r.get(key) if r.get(key) is not None else np.nan for r in run["rows"] if r["env_steps"] == s]
            for s in steps]
    return np.array(steps), np.array(vals, dtype=float)


def replay_stats(run: dict[str, Any]) -> dict[str, float]:
    """Reuse and staleness of the replay at the end of the run, from the per-update episode counts.

    - reuse: how many times an episode is sampled on average while it sits in the replay,
      train_steps x batch_size / episodes finished per update (PyMARL: 32, one step per episode);
    - span: the replay holds the last `buffer_size` episodes, i.e. this many env steps and
      this many gradient steps of the learner;
    - explored: the fraction of the final replay collected while epsilon was above twice its floor.
    """
    a = run["resolved_algorithm"]
    steps, eps_per_update = by_step(run, "train_episodes")
    _, length = by_step(run, "train_episode_length")
    _, epsilon = by_step(run, "epsilon")
    per_update = np.nanmean(eps_per_update[1:], axis=1)  # the first record precedes training
    upc = np.diff(steps) / run["steps_per_update"]
    added = per_update * upc  # episodes finished in each chunk
    capacity = a["buffer_size"]
    # walk back from the end until the replay is full
    held, span_steps, span_updates, explored = 0.0, 0.0, 0.0, 0.0
    eps_mean = np.nanmean(epsilon[1:], axis=1)
    for n, u, eps, ln in zip(added[::-1], upc[::-1], eps_mean[::-1], np.nanmean(length[1:], 1)[::-1], strict=True):
        take = min(n, capacity - held)
        frac = take / n if n > 0 else 0.0
        held += take
        span_steps += frac * n * ln
        span_updates += frac * u
        explored += take * (eps > 2 * a["epsilon_end"])
        if held >= capacity:
            break
    final_rate = per_update[-1]
    return {"episodes_per_update": float(final_rate), "reuse": a["train_steps"] * a["batch_size"] / float(final_rate),
            "span_env_steps": float(span_steps), "span_gradient_steps": float(span_updates * a["train_steps"]),
            "explored_fraction": float(explored / max(held, 1.0)),
            "gradient_steps": float(steps[-1] / run["steps_per_update"] * a["train_steps"])}


def last(run: dict[str, Any], key: str, evals: int = 1) -> float:
    """Mean over seeds (and the last `evals` evaluations) of one field."""
    _, v = by_step(run, key)
    return float(np.nanmean(v[-evals:])) if np.isfinite(v[-evals:]).any() else float("nan")


def table_row(run: dict[str, Any]) -> dict[str, Any]:
    _, win = by_step(run, "eval_win_rate")
    rs = replay_stats(run)
    row: dict[str, Any] = {
        "arm": run["arm"], "what": run["what"], "steps": run["steps"],
        "greedy win (final, per seed)": " ".join(f"{w:.2f}" for w in win[-1]),
        "greedy win (final 3 evals)": last(run, "eval_win_rate", 3),
        "seeds >= 0.8": int((win[-1] >= 0.8).sum()),
        "behaviour win (train, final)": last(run, "train_won"),
        "Q_tot": last(run, "q_tot"), "target": last(run, "target"), "return-to-go": last(run, "return"),
        "|TD|": last(run, "td_abs") if "td_abs" in run["rows"][-1] else float(np.sqrt(last(run, "critic_loss"))),
        "grad norm": last(run, "grad_norm_0"), "reuse": rs["reuse"], "gradient steps": rs["gradient_steps"],
        "train s": run["train_seconds"],
    }
    if "behaviour_win_rate" in run["rows"][-1]:
        row["dependent greedy win"] = last(run, "behaviour_win_rate")
    return row


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("eval_win_rate", "greedy win rate (execution)"), ("train_won", "training-episode win rate (behaviour)"),
              ("q_tot", "Q_tot (solid), return-to-go (dotted)"), ("td_abs", "|TD error| (sqrt critic loss for soft)"),
              ("grad_norm_0", "gradient norm before clipping (group 0)"), ("epsilon", "epsilon")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for i, r in enumerate(runs):
        c = f"C{i % 10}"
        for ax, (key, title) in zip(axes.flat, panels, strict=True):
            k = key
            if key == "td_abs" and "td_abs" not in r["rows"][-1]:
                k = "critic_loss"
            x, y = by_step(r, k)
            if k == "critic_loss":
                y = np.sqrt(y)
            ax.plot(x / 1000, np.nanmean(y, 1), color=c, label=r["arm"])
            if key == "q_tot":
                x, y = by_step(r, "return")
                ax.plot(x / 1000, np.nanmean(y, 1), ":", color=c)
            ax.set(title=title, xlabel="env steps (k)")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_runs() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]


def report() -> None:
    runs = load_runs()
    order = list(ARMS)
    runs.sort(key=lambda r: (r["algorithm"], r["steps"], order.index(r["arm"]) if r["arm"] in order else 99))
    table = [table_row(r) for r in runs]
    for algorithm in sorted({r["algorithm"] for r in runs}):
        plot([r for r in runs if r["algorithm"] == algorithm], RESULTS / f"vd_diagnose_{algorithm}.png")
    replay = {f"{r['arm']}_{r['steps']}": replay_stats(r) for r in runs}
    write("vd_diagnose", {"runs": [{k: v for k, v in r.items() if k != "rows"} for r in runs], "replay": replay},
          table, NOTES + "\n\n" + replay_table(runs))


def replay_table(runs: list[dict[str, Any]]) -> str:
    lines = ["## Replay reuse and staleness at the end of each run", "",
             "| arm | steps | episodes per update | reuse (samples per episode) | replay span (env steps) |"
             " replay span (gradient steps) | gradient steps in the run | share collected at eps > 2 x floor |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = replay_stats(r)
        lines.append(f"| {r['arm']} | {r['steps']} | {s['episodes_per_update']:.1f} | {s['reuse']:.1f} |"
                     f" {s['span_env_steps']:,.0f} | {s['span_gradient_steps']:,.0f} | {s['gradient_steps']:,.0f} |"
                     f" {s['explored_fraction']:.2f} |")
    return "\n".join(lines)


NOTES = """Seeds 0, 1, 2 per arm, trained together; greedy evaluation on 32 episodes. Regenerate with
`python benchmarks/vd_diagnose.py run ARM ... --steps N` and `python benchmarks/vd_diagnose.py report`.
Columns: Q_tot is the learner's joint value of the taken actions on its sampled batches, target its
TD(lambda) target, return-to-go the observed discounted return in the same episodes (all in the
learner's reward units, i.e. after `reward_scale`), chunk means at the last evaluation; |TD| the mean
absolute TD error (for the soft methods the root of the critic loss); grad norm the global norm of
the first optimiser group before clipping; reuse = train_steps x batch_size / episodes finished per
update. Plots: results/vd_diagnose_<algorithm>.png."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run", "report", "list"])
    parser.add_argument("arms", nargs="*")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--eval", type=int, default=20_000)
    parser.add_argument("--out", default="/tmp/vd_diagnose_runs")
    args = parser.parse_args()
    if args.command == "list":
        for name, (path, overrides, what) in ARMS.items():
            print(f"{name:20s} {what:40s} {path} {' '.join(overrides)}")
        return
    if args.command == "run":
        from marlspec.train.runner import enable_compilation_cache

        unknown = [a for a in args.arms if a not in ARMS]
        if unknown:
            sys.exit(f"unknown arm(s) {unknown}; see `python benchmarks/vd_diagnose.py list`")
        enable_compilation_cache()
        RUNS.mkdir(parents=True, exist_ok=True)
        for name in args.arms:
            r = train(name, args.steps, args.seeds, args.eval, Path(args.out))
            _, win = by_step(r, "eval_win_rate")
            print(name, "final greedy win rates", win[-1].tolist(), "train s", round(r["train_seconds"]), flush=True)
            (RUNS / f"{name}_{args.steps}.json").write_text(json.dumps(r))
    report()


if __name__ == "__main__":
    main()
