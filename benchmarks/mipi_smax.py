"""MIPI, Value and Entropy on SMAX SZ with random teams (MIPI's Tables 1-3 at a CPU budget).

    nice -n 10 python benchmarks/mipi_smax.py run mi value entropy     # Table 2's three rewards
    nice -n 10 python benchmarks/mipi_smax.py run alpha0.001 alpha0.01  # more arms of the alpha sweep
    python benchmarks/mipi_smax.py report                               # results/mipi_smax.{md,json,png}

Every arm trains specs/mipi_smax_sz.yaml (with its overrides, and `--steps` if given) through the
runner, its seeds side by side in one compiled program, on teams of 3-5 stalkers and zealots per
side, and evaluates the greedy execution policies on the training distribution and, zero-shot,
on 6, 7 and 8 per side (the spec's eval.compositions). Each arm's numbers are kept in
results/mipi_smax_runs/<arm>.json; `report` builds the tables from whatever arms are there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, machine  # noqa: E402
from marlspec.io.plots import bootstrap_ci  # noqa: E402
from marlspec.spec import load_spec  # noqa: E402
from marlspec.train.runner import run  # noqa: E402

SPEC = ROOT / "specs" / "mipi_smax_sz.yaml"
RUNS = RESULTS / "mipi_smax_runs"
COMPOSITIONS = ("6v6", "7v7", "8v8")

ARMS: dict[str, tuple[str, ...]] = {
    "mi": (),
    "value": ("algorithm.regularizer=none", "algorithm.alpha=null"),
    "entropy": ("algorithm.regularizer=entropy",),
    **{f"alpha{a}": (f"algorithm.alpha={a}",) for a in ("0.001", "0.01", "0.03")},
}
"""MIPI (alpha 0.003), the paper's Value (alpha 0) and Entropy ablations (its Table 2), and the
other arms of the alpha sweep (its Table 3: 0.01, 0.03 (MIPI), 0.05, 0.1, 0.5 on SMAC's reward
scale, i.e. 0.001, 0.003, 0.005, 0.01, 0.05 here)."""

ALPHA = {"value": 0.0, "mi": 0.003, "alpha0.001": 0.001, "alpha0.01": 0.01, "alpha0.03": 0.03}


def run_arm(name: str, steps: int | None) -> dict[str, Any]:
    over = [*ARMS[name], "log.progress=false", "log.checkpoint=false", "log.plot=false"]
    if steps is not None:
        over.append(f"train.total_env_steps={steps}")
    spec = load_spec(SPEC, overrides=over)
    with tempfile.TemporaryDirectory() as tmp:
        rundir = run(spec, Path(tmp) / name)
        summary = json.loads((rundir.path / "summary.json").read_text())
        records = [json.loads(x) for x in (rundir.path / "metrics.jsonl").read_text().splitlines() if x.strip()]
    out = {
        "overrides": over, "seeds": summary["seeds"], "env_steps": summary["env_steps_per_seed"],
        "sps": summary["sps"], "train_seconds": summary["train_seconds"], "compile_seconds": summary["compile_seconds"],
        "curves": [{"seed": r["seed"], "env_steps": r["env_steps"], "train": r["eval_win_rate"],
                    **{c: r["compositions"][c]["eval_win_rate"] for c in COMPOSITIONS},
                    "train_return": r["eval_return"], "mi": r.get("mi"), "entropy": r.get("entropy")}
                   for r in records],
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def final(arm: dict[str, Any], column: str) -> np.ndarray:
    last = max(r["env_steps"] for r in arm["curves"])
    return np.array([r[column] for r in arm["curves"] if r["env_steps"] == last], dtype=float)


def cell(x: np.ndarray) -> str:
    lo, hi = bootstrap_ci(x[:, None])
    return f"{x.mean():.3f} [{lo[0]:.3f}, {hi[0]:.3f}]"


def report() -> None:
    arms = {p.stem: json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))}
    columns = ("train", *COMPOSITIONS)
    head = "| method | seeds | steps / seed | training 3-5 | 6 | 7 | 8 |\n|---|---|---|---|---|---|---|\n"

    def row(label: str, arm: dict[str, Any]) -> str:
        cells = " | ".join(cell(final(arm, c)) for c in columns)
        return f"| {label} | {len(arm['seeds'])} | {arm['env_steps']:,} | {cells} |\n"

    table1 = head + "".join(row(label, arms[k]) for k, label in (("mi", "MIPI"), ("value", "Value"),
                                                                    ("entropy", "Entropy")) if k in arms)
    sweep = [k for k in sorted(ALPHA, key=ALPHA.get) if k in arms]
    table3 = head.replace("method", "alpha") + "".join(row(f"{ALPHA[k]:g}" + (" (Value)" if k == "value" else
                                                                              " (MIPI)" if k == "mi" else ""), arms[k])
                                                       for k in sweep)
    text = f"""# mipi_smax

Measured {machine()['date']} on {machine()['cpus']} shared CPU cores, jax {machine()['jax']}.
Regenerate: `nice -n 10 python benchmarks/mipi_smax.py run mi value entropy alpha0.001 alpha0.01` then
`python benchmarks/mipi_smax.py report`.

Win rates of the greedy execution policies at the last evaluation (32 episodes per seed and
composition), mean over seeds with a 95% percentile-bootstrap CI. Training: SMAX SZ (stalkers
and zealots), 3 to 5 per side (as many enemies as allies), specs/mipi_smax_sz.yaml; 6, 7, 8: the
same policies zero-shot on 6, 7 and 8 per side. The paper's budget is REFIL's 10M steps per
run (specs/tuned/mipi_smax_sz.yaml); the budget here is in the table.

## Table 1 / Table 2 layout: MIPI against its Value and Entropy ablations

{table1}
## Table 3 layout: the temperature alpha (SMAX's reward scale: paper's alpha / 10)

{table3}
{READING}
"""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mipi_smax.md").write_text(text)
    (RESULTS / "mipi_smax.json").write_text(json.dumps({"machine": machine(), "arms": arms}, indent=2) + "\n")
    plot(arms)


def plot(arms: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column, title in ((axes[0], "train", "training teams (3-5)"), (axes[1], "8v8", "zero-shot, 8 per side")):
        for i, (name, arm) in enumerate(arms.items()):
            steps = sorted({r["env_steps"] for r in arm["curves"]})
            y = np.array([[r[column] for r in arm["curves"] if r["env_steps"] == s] for s in steps], dtype=float)
            ax.plot(steps, y.mean(1), color=f"C{i}", label=name)
            ax.fill_between(steps, y.min(1), y.max(1), color=f"C{i}", alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel("win rate (greedy)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "mipi_smax.png", dpi=110)
    plt.close(fig)


READING = """## Reading the results

(written after the runs; see below)
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run", "report"])
    parser.add_argument("arms", nargs="*", default=[])
    parser.add_argument("--steps", type=int, default=None, help="total env steps per seed (default: the spec's)")
    args = parser.parse_args()
    if args.command == "run":
        for arm in args.arms or ["mi", "value", "entropy"]:
            result = run_arm(arm, args.steps)
            print(arm, {c: final(result, c).tolist() for c in ("train", *COMPOSITIONS)}, flush=True)
    report()
