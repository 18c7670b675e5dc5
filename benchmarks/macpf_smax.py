"""Win-rate curves of MACPF, MACPF_CONTROL, FOP and QMIX on SMAX maps, with MAPPO beside
them as the on-policy reference (the main job's budget: 500k steps per seed, 3 seeds).

    python benchmarks/macpf_smax.py run                    # 3m and 2s3z, all five, 3 seeds, 500k steps each
    python benchmarks/macpf_smax.py run --maps 3m --algorithms qmix fop --steps 500000 --seeds 0 1 2
    python benchmarks/macpf_smax.py report                 # table and plot from every saved run

Every run goes through the one runner with specs/macpf_smac.yaml (FOP:
specs/fop_smax_3m.yaml, QMIX: specs/qmix_smax_3m.yaml, MAPPO: specs/mappo_smax_3m.yaml;
only `algorithm.kind`, `env.map`, the budget and the seeds change), so the curves are the
runner's own evaluations of the execution policy (greedy, 32 episodes). MACPF's
dependent behaviour policy is evaluated beside it. Writes results/macpf_smax.{json,md}
and results/macpf_smax.png; the report also summarises the diagnosis of issue 22 from
results/vd_diagnose_runs (benchmarks/vd_diagnose.py).
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
from marlspec.io.plots import bootstrap_ci  # noqa: E402
from marlspec.spec import load_spec  # noqa: E402
from marlspec.train.runner import enable_compilation_cache, run  # noqa: E402

ALGORITHMS = ["macpf", "macpf_control", "fop", "qmix", "mappo"]
SPECS = {"qmix": "qmix_smax_3m.yaml", "fop": "fop_smax_3m.yaml", "mappo": "mappo_smax_3m.yaml"}


def train(kind: str, map_name: str, steps: int, seeds: list[int], out: Path) -> dict:
    path = ROOT / "specs" / SPECS.get(kind, "macpf_smac.yaml")
    spec = load_spec(path, [
        f"algorithm.kind={kind}", f"env.map={map_name}", f"train.total_env_steps={steps}", f"train.seeds={seeds}",
        f"eval.interval={max(steps // 10, 800)}", "eval.episodes=32", "log.progress=false", "log.checkpoint=false",
        "log.plot=false", f"name={kind}_{map_name}",
    ])
    rundir = run(spec, out / f"{kind}_{map_name}", progress=False, overwrite=True)  # a re-run replaces the old one
    rows = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((rundir.path / "summary.json").read_text())
    steps_axis = sorted({r["env_steps"] for r in rows})
    curve = [[r["eval_win_rate"] for r in rows if r["env_steps"] == s] for s in steps_axis]
    result = {"algorithm": kind, "map": map_name, "seeds": seeds, "env_steps": steps_axis, "win_rate": curve,
              "sps": summary["sps"], "train_seconds": summary["train_seconds"],
              "compile_seconds": summary["compile_seconds"], "spec": spec.model_dump(mode="json")}
    if any("behaviour_win_rate" in r for r in rows):
        result["behaviour_win_rate"] = [[r.get("behaviour_win_rate") for r in rows if r["env_steps"] == s]
                                        for s in steps_axis]
    return result


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = sorted({r["map"] for r in results}, key=lambda m: (m != "3m", m))
    fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 4), squeeze=False)
    for ax, m in zip(axes[0], maps, strict=True):
        for r in (r for r in results if r["map"] == m):
            color = f"C{ALGORITHMS.index(r['algorithm'])}"
            x = np.array(r["env_steps"]) / 1000
            y = np.array(r["win_rate"], dtype=float).T  # [seeds, evals]
            ax.plot(x, y.mean(0), color=color, label=r["algorithm"] + (" (on-policy reference)" if r["algorithm"] == "mappo" else ""))
            if y.shape[0] > 1:
                lo, hi = bootstrap_ci(y)
                ax.fill_between(x, lo, hi, color=color, alpha=0.15)
            if "behaviour_win_rate" in r:
                ax.plot(x, np.array(r["behaviour_win_rate"], dtype=float).mean(1), "--", color=color,
                        label=f"{r['algorithm']} (dependent, behaviour)")
        ax.set(title=f"SMAX {m}", xlabel="env steps (k)", ylabel="win rate (execution, greedy)", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


RUNS = RESULTS / "macpf_smax_runs"


def final(r: dict) -> np.ndarray:
    return np.array(r["win_rate"][-1], dtype=float)


def figure6(r: dict) -> dict[str, float]:
    """Seed-mean win rates of MACPF's independent (execution) and dependent (behaviour) policies:
    mean and largest absolute gap over the evaluations after the first, and the final values."""
    ind = np.array(r["win_rate"], dtype=float).mean(1)[1:]
    dep = np.array(r["behaviour_win_rate"], dtype=float).mean(1)[1:]
    return {"mean_gap": float(np.abs(ind - dep).mean()), "max_gap": float(np.abs(ind - dep).max()),
            "independent": float(ind[-1]), "dependent": float(dep[-1]), "evaluations": len(ind)}


def table_rows(results: list[dict]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        f = final(r)
        lo, hi = bootstrap_ci(f[:, None])
        rows.append({
            "map": r["map"], "algorithm": r["algorithm"], "env steps": r["env_steps"][-1],
            "final win rate (mean)": float(f.mean()), "95% CI": f"[{lo[0]:.2f}, {hi[0]:.2f}]",
            "final win rates": " ".join(f"{w:.2f}" for w in f), "seeds >= 0.8": f"{int((f >= 0.8).sum())}/{len(f)}",
            "best win rate (mean)": float(np.max(np.mean(np.array(r["win_rate"], dtype=float), 1))),
            "dependent final win rate": (float(np.mean(r["behaviour_win_rate"][-1])) if "behaviour_win_rate" in r else "-"),
            "reward scale": r.get("spec", {}).get("algorithm", {}).get("reward_scale", 1.0),
            "gradient steps / update": r.get("spec", {}).get("algorithm", {}).get("train_steps", "-"),
            "train env steps/s": r["sps"], "train minutes": r["train_seconds"] / 60,
        })
    return rows


def report() -> None:
    results = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    results.sort(key=lambda r: (r["map"] != "3m", r["map"], ALGORITHMS.index(r["algorithm"])))
    plot(results, RESULTS / "macpf_smax.png")
    seeds = sorted({len(r["seeds"]) for r in results})
    steps = sorted({r["env_steps"][-1] for r in results})
    notes = (f"{'/'.join(map(str, seeds))} seeds per run, trained together (vmapped), {'/'.join(f'{s:,}' for s in steps)}"
             " env steps per seed; greedy evaluation of the execution policy on 32 episodes; 95% CI: percentile"
             " bootstrap of the mean over seeds (`marlspec.io.plots.bootstrap_ci`); plot (results/macpf_smax.png):"
             " mean and the same CI band per evaluation. Regenerate: `python benchmarks/macpf_smax.py run` then"
             " `python benchmarks/macpf_smax.py report`.\n\n" + reading(results) + "\n\n" + diagnosis())
    write("macpf_smax", {"results": results}, table_rows(results), notes)


def by(results: list[dict], algorithm: str, map_name: str) -> dict | None:
    return next((r for r in results if r["algorithm"] == algorithm and r["map"] == map_name), None)


def reading(results: list[dict]) -> str:
    """The reading of the table, every number taken from the runs."""
    lines = ["## Reading the results", ""]
    for m in sorted({r["map"] for r in results}, key=lambda m: (m != "3m", m)):
        parts = []
        for r in (r for r in results if r["map"] == m):
            f = final(r)
            per_seed = " / ".join(f"{w:.2f}" for w in f)
            parts.append(f"{r['algorithm']} {f.mean():.2f} ({per_seed}; {int((f >= 0.8).sum())} of {len(f)} seeds >= 0.8)")
        lines.append(f"- **{m}**, final greedy win rates (mean, per seed): " + "; ".join(parts) + ".")
    for m in sorted({r["map"] for r in results}, key=lambda m: (m != "3m", m)):
        r = by(results, "macpf", m)
        if r is not None and "behaviour_win_rate" in r:
            g = figure6(r)
            lines.append(f"- **pi_ind vs pi_dep on {m} (the paper's Figure 6).** The seed-mean win rates of MACPF's"
                         f" independent (deployed) and dependent (behaviour) policies differ by {g['mean_gap']:.3f} on"
                         f" average over {g['evaluations']} evaluations ({g['max_gap']:.2f} at most); final"
                         f" {g['independent']:.2f} (independent) and {g['dependent']:.2f} (dependent).")
    cost = [f"{r['algorithm']} {r['sps'] / by(results, 'qmix', r['map'])['sps']:.2f}x" for r in results
            if r["map"] == "3m" and by(results, "qmix", "3m") and r["algorithm"] != "qmix"]
    if cost:
        lines.append("- **Cost on 3m, relative to QMIX's steps/s in the same table** (runs share a loaded CPU,"
                     " so ratios are rough): " + ", ".join(cost) + ".")
    target = []
    for kind in ("macpf", "qmix"):
        r = by(results, kind, "3m")
        if r is not None and r["env_steps"][-1] >= 500_000 - 800:
            hits = int((final(r) >= 0.8).sum())
            target.append(f"{kind} {hits} of {len(final(r))} seeds (reward scale "
                          f"{r.get('spec', {}).get('algorithm', {}).get('reward_scale', 1.0):g})")
    if target:
        lines.append("- **Issue 22's target on 3m** (the main job's budget, 500k steps: >= 0.8 greedy wins in at least"
                     " 2 of 3 seeds): " + ", ".join(target) + ". Rows at other budgets or reward scales are older runs"
                     " (the reward scale and gradient steps per update are columns of the table).")
    lines += ["", READING]
    return "\n".join(lines)


READING = ""


def diagnosis() -> str:
    """The diagnosis of issue 22, from benchmarks/vd_diagnose.py's stored runs (its reading and
    its one-switch comparisons; the full tables and curves are in results/vd_diagnose.md)."""
    from benchmarks import vd_diagnose as vd

    runs = vd.load_runs()
    if not runs:
        return ""
    named = {r["arm"]: r for r in runs}
    pairs = [vd.paired(r, named[vd.PARENT[r["arm"]]]) for r in runs if vd.PARENT.get(r["arm"]) in named]
    return ("## Diagnosis (issue 22): why the family levelled off near half wins\n\n" + vd.notes(runs).split("\n\n")[0]
            + "\n\n" + vd.reading(runs, pairs).replace("## ", "### ") + "\n\n"
            + vd.paired_table(pairs).replace("## ", "### ") + "\n\nFull diagnostics: results/vd_diagnose.md.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run", "report"])
    parser.add_argument("--maps", nargs="+", default=["3m", "2s3z"])
    parser.add_argument("--algorithms", nargs="+", default=ALGORITHMS, choices=ALGORITHMS)
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="/tmp/macpf_smax_runs")
    args = parser.parse_args()
    if args.command == "run":
        enable_compilation_cache()
        RUNS.mkdir(parents=True, exist_ok=True)
        for m in args.maps:
            for kind in args.algorithms:
                r = train(kind, m, args.steps, args.seeds, Path(args.out))
                print(kind, m, "final win rates", r["win_rate"][-1], "sps", r["sps"], flush=True)
                (RUNS / f"{kind}_{m}.json").write_text(json.dumps(r))
    report()


if __name__ == "__main__":
    main()
