"""MIPI and its ablations on the team-composition matrix game (MIPI section 5.1), 10 seeds each.

    python benchmarks/mipi_matrix.py              # every arm, then results/mipi_matrix.{json,md}
    python benchmarks/mipi_matrix.py mi value     # some arms (each is kept in results/mipi_matrix_runs/)
    python benchmarks/mipi_matrix.py --table      # rebuild the table from the kept arms

Each arm trains specs/matrix/mipi_team_matrix.yaml (with the arm's overrides) through the
runner, all seeds side by side in one compiled program, on the compositions (A, B) and (B, A),
and evaluates the greedy execution policy on them and, zero-shot, on (B, B) (the spec's
`eval.compositions`). The paper's claim (Figure 2d): MI > entropy and value-only on (B, B).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, write  # noqa: E402
from marlspec.io.plots import bootstrap_ci  # noqa: E402
from marlspec.spec import load_spec  # noqa: E402
from marlspec.train.runner import run  # noqa: E402

SPEC = ROOT / "specs" / "matrix" / "mipi_team_matrix.yaml"
RUNS = RESULTS / "mipi_matrix_runs"

DISTINCT_OPTIMA = "{AB: [[1.0, 0.5], [0.5, 1.5]], BA: [[1.0, 1.5], [0.5, 1.0]], BB: [[1.0, 1.25], [1.25, -1.0]]}"
"""The alternative payoffs of docs/environments.md: the two training compositions have different
optima ((1, 1) on (A, B), (0, 1) on (B, A)), as the paper says its compositions do."""

ARMS: dict[str, tuple[str, ...]] = {
    "mi": (),
    "entropy": ("algorithm.regularizer=entropy",),
    "value": ("algorithm.regularizer=none", "algorithm.alpha=null"),
    "mi_separate_policy": ("algorithm.shared_torso=false",),
    "mi_weighted": ("algorithm.actor_utility=weighted",),
    "entropy_weighted": ("algorithm.regularizer=entropy", "algorithm.actor_utility=weighted"),
    **{f"mi_alpha{a}": (f"algorithm.alpha={a}",) for a in ("0.1", "2.0")},
    **{f"{arm}_distinct_optima": (*over, f"env.payoffs={DISTINCT_OPTIMA}") for arm, over in
       (("mi", ()), ("entropy", ("algorithm.regularizer=entropy",)),
        ("value", ("algorithm.regularizer=none", "algorithm.alpha=null")))},
}
"""The paper's three rewards (Figure 2d: MI, entropy, pure environmental reward = value); MI with the
policy on its own network instead of a last layer on the critic's features; and MI and entropy
with eq. 18 improving against w_i(s) Q_i instead of Q_i (`actor_utility: weighted`, the objective
of the proof of Lemma 2; theory/THEOREMS.md claim 7). Value (alpha = 0) is the same either way.
`mi_alpha*`: the temperature sweep of the paper's Table 3 on this game (alpha 0 is `value`, 0.5 is
`mi`). `*_distinct_optima`: the three rewards on the payoffs `DISTINCT_OPTIMA`."""

BB_ACTIONS = {1.0: "(0,0)", -1.0: "(1,1)", 1.25: "(0,1)/(1,0)", 0.5: "-"}
"""Greedy return on (B, B) -> the joint action that earns it (payoffs: marlspec/envs/team_matrix.py)."""

NOTES = """Greedy execution policies, 16 evaluation episodes per seed and composition, after 4000
one-step episodes of training (specs/matrix/mipi_team_matrix.yaml: alpha 0.5 for MI and entropy,
one Blahut-Arimoto iteration, lr 3e-4, batch 64, Adam, REFIL imagination with lambda 0.5).
"train" is the return on the training compositions (A, B) and (B, A), whose optimum (1, 1) pays
1.5; "(B, B)" is the zero-shot return on the held-out composition: 1.0 for the generalizable
(0, 0), -1.0 for (1, 1), 1.25 for its optimum (0, 1) or (1, 0). CIs: 95% percentile bootstrap
of the mean over seeds. "MI (nats)": the final batch's mean KL(pi(.|s) || pibar(.|s+)).
"""


def run_arm(name: str) -> dict[str, Any]:
    spec = load_spec(SPEC, overrides=[*ARMS[name], "log.plot=false", "log.progress=false", "log.checkpoint=false"])
    with tempfile.TemporaryDirectory() as tmp:
        rundir = run(spec, Path(tmp) / name)
        summary = json.loads((rundir.path / "summary.json").read_text())
        records = [json.loads(x) for x in (rundir.path / "metrics.jsonl").read_text().splitlines() if x.strip()]
    last = [r for r in records if r["env_steps"] == summary["env_steps_per_seed"]]
    out = {
        "overrides": list(ARMS[name]), "seeds": summary["seeds"], "env_steps": summary["env_steps_per_seed"],
        "train_return": [r["eval_return"] for r in last],
        "bb_return": [r["compositions"]["BB"]["eval_return"] for r in last],
        "mi_nats": [r.get("mi") for r in last], "policy_entropy": [r.get("entropy") for r in last],
        "curve": [{"seed": r["seed"], "env_steps": r["env_steps"], "train": r["eval_return"],
                   "BB": r["compositions"]["BB"]["eval_return"]} for r in records],
        "train_seconds": summary["train_seconds"],
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def ci(values: list[float]) -> str:
    x = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(x[:, None])
    return f"{x.mean():.3f} [{lo[0]:.3f}, {hi[0]:.3f}]"


def table() -> None:
    rows, data = [], {}
    for name in ARMS:
        path = RUNS / f"{name}.json"
        if not path.exists():
            continue
        arm = json.loads(path.read_text())
        data[name] = arm
        counts: dict[str, int] = {}
        for r in arm["bb_return"]:
            label = BB_ACTIONS.get(round(r, 2), "mixed")
            counts[label] = counts.get(label, 0) + 1
        mi = [m for m in arm["mi_nats"] if m is not None]
        rows.append({
            "arm": name, "seeds": len(arm["seeds"]), "train return": ci(arm["train_return"]),
            "(B, B) return": ci(arm["bb_return"]),
            "(B, B) greedy joint actions": ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())),
            "MI (nats)": f"{np.mean(mi):.3f}" if mi else "-",
        })
    write("mipi_matrix", {"arms": data, "spec": str(SPEC.relative_to(ROOT))}, rows, NOTES + READING + more(data))


def more(data: dict[str, Any]) -> str:
    """The alpha sweep and the distinct-optima payoffs, read from the kept arms."""

    def outcome(name: str) -> str:
        arm = data[name]
        bb = np.asarray(arm["bb_return"], dtype=float)
        train = np.asarray(arm["train_return"], dtype=float)
        return (f"{name}: (B, B) {bb.mean():.2f} ({int((bb == -1.0).sum())} of {bb.size} seeds play (1, 1),"
                f" {int((bb == 1.0).sum())} the generalizable (0, 0)), training return {train.mean():.2f}")

    out = []
    sweep = [n for n in ("value", "mi_alpha0.1", "mi", "mi_alpha2.0") if n in data]
    if len(sweep) > 1:
        out.append("**The temperature (the paper's Table 3 on this game):** alpha 0 (value), 0.1, 0.5 (mi), 2.0 -- "
                   + "; ".join(outcome(n) for n in sweep) + ".")
    distinct = [n for n in ("mi_distinct_optima", "entropy_distinct_optima", "value_distinct_optima") if n in data]
    if distinct:
        out.append("**Payoffs whose training compositions have different optima** (`DISTINCT_OPTIMA`: (1, 1) on"
                   " (A, B), (0, 1) on (B, A)): " + "; ".join(outcome(n) for n in distinct) + ". An agent sees its own"
                   " type and its teammate's, not its position, and both training compositions show each type the"
                   " same teammate, so a policy can only be per type: A and B both playing 1 earns (1.5 + 1.0) / 2 ="
                   " 1.25 in training, the most any per-type policy earns (the generalizable (0, 0) earns 1.0), and"
                   " that policy plays (1, 1) on (B, B).")
    return ("\n\n" + "\n\n".join(out) + "\n") if out else ""


READING = """
## Reading the results

**The paper's claim does not reproduce here.** Its section 5.1 (Figure 2d) has MI reach the
generalizable joint action (0, 0) on the held-out (B, B) where entropy and value do not; in the
table every arm plays the training optimum (1, 1) on (B, B) in every seed, and MI is no better
than entropy or value there.

Why, as far as we can tell (an analysis, not a measurement): in the training compositions
(A, B) and (B, A) an agent's teammate type is a function of its own type, so on the training
distribution s- is determined by s+ and I(u_i; s- | s+) = 0 for every policy; the MI term can
only act through REFIL's imagined compositions s* (where the teammate's row may be hidden).
With our payoffs both training compositions share their optimum (1, 1), which a policy of the
agent's own type alone (zero MI) already reaches. The paper states that its compositions have
*different* optimal joint actions ("we have different optimal joint actions in different team
compositions"), and ours do not for (A, B) and (B, A): payoffs whose two training compositions
have different optima were tried next (below).

Regenerate with `nice -n 10 python benchmarks/mipi_matrix.py` (`--table` rebuilds this file
from results/mipi_matrix_runs/ without training).
"""


if __name__ == "__main__":
    args = sys.argv[1:]
    if args != ["--table"]:
        for name in args or list(ARMS):
            print(name, run_arm(name)["bb_return"], flush=True)
    table()
