"""`marlspec report`: statistics over many runs, following Agarwal et al. (2021, "Deep RL at the
edge of the statistical precipice") and Gorsane et al. (2022, "Towards a standardised performance
evaluation protocol for cooperative MARL"), computed with `rliable`.

Inputs are run directories written by `marlspec run` (their `metrics.jsonl` holds the execution
and, where it differs, the behaviour policy), sweep folders (`marlspec sweep`), or marl-eval JSON
files from any library (`env -> task -> algorithm -> run -> step_i -> {step_count, metric: [..]}`).
Runs are grouped by environment, task and algorithm label; each run is one seed.

Per task, for each algorithm and policy: the final and best return (and win rate where reported),
as the interquartile mean (IQM) over seeds with a stratified-bootstrap 95% CI, beside the mean.
Across tasks, on min-max normalised final scores of the execution policy: IQM, median, mean and
optimality gap (gamma = 1) with stratified-bootstrap CIs, the probability of improvement of every
algorithm over every other (Mann-Whitney U per task, averaged over tasks; independent stratified
bootstrap CIs), performance profiles (the fraction of runs scoring above tau) and sample-efficiency
curves (IQM against environment steps, with CI bands). Every number lands in `report.json`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

POLICIES = ("execution", "behaviour")
RETURN_KEYS = ("return", "episode_return", "mean_episode_return")
"""Names other libraries give the episode return in marl-eval JSON (first found is used)."""
WIN_KEYS = ("win_rate",)
SWEEP_INDEX = "sweep.json"
"""The index `marlspec sweep` writes beside its run directories."""


class ReportError(ValueError):
    """Input that cannot be reported on; `str(err)` is one line for the user."""


@dataclass
class Run:
    """One seed of one configuration: evaluation curves of each policy and its final numbers."""

    env: str
    task: str
    label: str
    seed: str
    source: str
    steps: np.ndarray
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    """`"<policy>/<metric>"` (metric `return` or `win_rate`) -> one value per entry of `steps`."""
    final: dict[str, float] = field(default_factory=dict)
    """`"<policy>/<metric>"` -> the final value (marl-eval's `absolute_metrics` where given)."""

    @property
    def group(self) -> tuple[str, str, str]:
        return self.env, self.task, self.label


def _rliable() -> tuple[Any, Any]:
    try:
        from rliable import library, metrics
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ReportError(f"reports need rliable: pip install -e \".[report]\" ({err})") from None
    return library, metrics


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """rliable draws its bootstrap indices from NumPy's global generator (its `random_state`
    argument does not reach `update_indices` in 1.2), so seed that and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


# ----------------------------------------------------------------------------- loading


def _first(d: dict[str, Any], keys: Sequence[str]) -> Any:
    return next((d[k] for k in keys if k in d), None)


def _runs_from_rundir(path: Path) -> list[Run]:
    """A `marlspec run` directory: metrics.jsonl (both policies) and summary.json (names)."""
    summary_file, metrics_file = path / "summary.json", path / "metrics.jsonl"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if not metrics_file.exists() or not summary:
        return _runs_from_marl_eval(path / "marl_eval.json", label=summary.get("tag"))
    env, _, task = str(summary["env"]).partition("/")
    label = summary.get("tag") or summary["algorithm"]
    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    by_seed: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        by_seed.setdefault(r["seed"], []).append(r)
    runs = []
    columns = {"execution/return": "eval_return", "execution/win_rate": "eval_win_rate",
               "behaviour/return": "behaviour_return", "behaviour/win_rate": "behaviour_win_rate"}
    for seed, rows in sorted(by_seed.items()):
        rows = sorted(rows, key=lambda r: r["env_steps"])
        run = Run(env, task or env, label, str(seed), str(path), np.array([r["env_steps"] for r in rows], dtype=float))
        for name, column in columns.items():
            values = [r.get(column) for r in rows]
            if all(v is not None for v in values):
                run.curves[name] = np.array(values, dtype=float)
                run.final[name] = float(values[-1])
        runs.append(run)
    return runs


def _runs_from_marl_eval(path: Path, label: str | None = None) -> list[Run]:
    """marl-eval JSON (ours or another library's): execution policy only, since the format has
    no notion of a behaviour policy. The final value is the mean of `absolute_metrics` where the
    run has it (marl-eval's recommended final measure), else of the last step."""
    if not path.exists():
        raise ReportError(f"{path.parent}: neither metrics.jsonl with summary.json nor marl_eval.json here; "
                          "pass run directories, sweep folders or marl-eval JSON files")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    runs = []
    try:
        for env, tasks in data.items():
            for task, algorithms in tasks.items():
                for algorithm, seeds in algorithms.items():
                    for seed, steps in seeds.items():
                        runs.append(_marl_eval_run(env, task, label or algorithm, seed, str(path), steps))
    except (AttributeError, KeyError, TypeError) as err:
        raise ReportError(f"{path}: not in marl-eval's layout env -> task -> algorithm -> run -> step_i "
                          f"-> {{step_count, metric: [...]}} ({type(err).__name__}: {err})") from None
    return runs


def _marl_eval_run(env: str, task: str, label: str, seed: str, source: str, steps: dict[str, Any]) -> Run:
    numbered = sorted((v for k, v in steps.items() if k.startswith("step_")), key=lambda v: v["step_count"])
    run = Run(env, task, label, re.sub(r"^(seed|run)_", "", seed), source,
              np.array([v["step_count"] for v in numbered], dtype=float))
    for metric, keys in (("return", RETURN_KEYS), ("win_rate", WIN_KEYS)):
        values = [_first(v, keys) for v in numbered]
        if not values or any(v is None for v in values):
            continue
        run.curves[f"execution/{metric}"] = np.array([float(np.mean(v)) for v in values])
        absolute = _first(steps.get("absolute_metrics", {}), keys)
        run.final[f"execution/{metric}"] = float(np.mean(absolute if absolute is not None else values[-1]))
    if "execution/return" not in run.curves:
        raise KeyError(f"no return metric ({' / '.join(RETURN_KEYS)}) in {env}/{task}/{label}/{seed}")
    return run


def _expand(arg: str) -> list[Path]:
    matches = sorted(glob.glob(arg)) if any(c in arg for c in "*?[") else [arg]
    if not matches:
        raise ReportError(f"{arg}: matches nothing; pass run directories, sweep folders, marl-eval JSON files or globs")
    return [Path(m) for m in matches]


def _sources(path: Path) -> list[Path]:
    """The run directories and marl-eval files under `path` (a file, a run directory, a sweep
    folder with its index, or any folder holding run directories)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ReportError(f"{path}: no such file or directory")
    if (path / SWEEP_INDEX).exists():
        index = json.loads((path / SWEEP_INDEX).read_text())
        # finished configurations; failed ones are then listed as left out (invalid ones have no run)
        return [path / c["run_dir"] for c in index["configs"] if (path / c["run_dir"] / "summary.json").exists()]
    if (path / "summary.json").exists() or (path / "marl_eval.json").exists():
        return [path]
    found = sorted({p.parent for name in ("summary.json", "marl_eval.json") for p in path.rglob(name)})
    nested = [p for p in found if not any(q != p and q in p.parents for q in found)]
    if not nested:
        raise ReportError(f"{path}: holds no run directory (no summary.json or marl_eval.json below it)")
    return nested


def load_runs(paths: Sequence[str | Path]) -> tuple[list[Run], list[str]]:
    """Every run under `paths`, and one line per run directory left out (failed or interrupted)."""
    runs: list[Run] = []
    skipped: list[str] = []
    seen: set[Path] = set()
    for arg in paths:
        for path in _expand(str(arg)):
            for source in _sources(path):
                if source.resolve() in seen:
                    continue
                seen.add(source.resolve())
                if source.is_file():
                    runs += _runs_from_marl_eval(source)
                    continue
                summary = source / "summary.json"
                status = json.loads(summary.read_text()).get("status", "completed") if summary.exists() else "completed"
                if status != "completed":
                    skipped.append(f"{source}: {status}")
                    continue
                runs += _runs_from_rundir(source)
    if not runs:
        raise ReportError("no completed run found in " + ", ".join(map(str, paths)))
    return _disambiguate(runs), skipped


def _disambiguate(runs: list[Run]) -> list[Run]:
    """Two sources giving the same (env, task, label) and a shared seed are different
    experiments (say, a local and a Ray sweep): label each with its source's parent folder."""
    sources: dict[tuple[str, str, str], dict[str, set[str]]] = {}
    for r in runs:
        sources.setdefault(r.group, {}).setdefault(r.source, set()).add(r.seed)
    clash = set()
    for group, by_source in sources.items():
        seeds = [s for ss in by_source.values() for s in ss]
        if len(seeds) != len(set(seeds)):
            clash.add(group)
    for r in runs:
        if r.group in clash:
            where = Path(r.source)
            parent = where.parent.parent if where.is_file() else where.parent
            r.label = f"{r.label}@{parent.name or parent}"
    return runs


# ------------------------------------------------------------------------- statistics


def _interval(library: Any, scores: dict[str, Any], func: Any, reps: int, seed: int) -> tuple[dict, dict]:
    with _seeded(seed):
        return library.get_interval_estimates(scores, func, reps=reps)


def _estimate(point: Any, interval: Any, i: int = 0) -> dict[str, Any]:
    return {"value": float(np.asarray(point)[i]), "ci95": [float(interval[0][i]), float(interval[1][i])]}


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def iqm_columns(x: np.ndarray) -> np.ndarray:
    """rliable's IQM (`metrics.aggregate_iqm`: the 25% trimmed mean over runs and tasks) of each
    entry of the trailing axis at once: `x` is runs x tasks x K, the result has K values.
    One vectorised call instead of K, since the bootstrap calls it thousands of times; the trim is
    scipy's `trim_mean` rule (int(0.25 n) values cut at each end), and tests/test_report.py checks
    it against rliable's own estimator."""
    flat = np.sort(x.reshape(-1, x.shape[-1]), axis=0)
    cut = int(0.25 * flat.shape[0])
    return flat[cut:flat.shape[0] - cut].mean(axis=0)


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's `metrics.probability_of_improvement` (the Mann-Whitney U statistic over
    n_x * n_y per task, averaged over tasks), in closed form: P(X > Y) + P(X = Y) / 2 per task.
    Equal to rliable's to float precision (tests/test_report.py) and fast enough to bootstrap."""
    diff = scores_x[:, None, :] - scores_y[None, :, :]
    return float(np.mean((diff > 0).mean(axis=(0, 1)) + 0.5 * (diff == 0).mean(axis=(0, 1))))


def task_table(runs: list[Run], reps: int, seed: int) -> dict[str, Any]:
    """Per algorithm and policy on one task: IQM [stratified-bootstrap 95% CI] and mean of the
    final and best value of each metric over seeds. All of an algorithm's numbers are
    bootstrapped in one call, one column (stratum) each, so each column is resampled on its own."""
    library, _ = _rliable()
    out: dict[str, Any] = {}
    for label in sorted({r.label for r in runs}):
        group = sorted((r for r in runs if r.label == label), key=lambda r: r.seed)
        entry: dict[str, Any] = {"seeds": [r.seed for r in group], "sources": sorted({r.source for r in group}),
                                 "env_steps": sorted({int(r.steps[-1]) for r in group})}
        columns: dict[tuple[str, str], list[float]] = {}
        for policy in POLICIES:
            for metric in ("return", "win_rate"):
                name = f"{policy}/{metric}"
                if not all(name in r.final for r in group):
                    continue
                for which, values in (("final", [r.final[name] for r in group]),
                                      ("best", [float(np.nanmax(r.curves[name])) for r in group])):
                    if _finite(values):
                        columns[(policy, f"{which}_{metric}")] = values
        if columns:
            scores = np.array(list(columns.values()), dtype=float).T
            point, interval = _interval(library, {label: scores}, lambda x: iqm_columns(x[:, None, :]), reps, seed)
            for i, ((policy, key), values) in enumerate(columns.items()):
                entry.setdefault(policy, {})[key] = {**_estimate(point[label], interval[label], i),
                                                     "mean": float(np.mean(values)), "per_seed": values}
        out[label] = entry
    return out


def curves(runs: list[Run], reps: int, seed: int, policy: str = "execution") -> dict[str, Any]:
    """IQM over seeds of `policy`'s return at each evaluation step shared by every seed, with
    stratified-bootstrap 95% CIs (one task, so the strata are the steps)."""
    library, metrics = _rliable()
    out: dict[str, Any] = {}
    name = f"{policy}/return"
    for label in sorted({r.label for r in runs}):
        group = [r for r in runs if r.label == label and name in r.curves]
        if not group:
            continue
        steps = sorted(set.intersection(*({float(x) for x in r.steps} for r in group)))
        if not steps:
            continue
        scores = np.stack([r.curves[name][np.searchsorted(r.steps, steps)] for r in group])[:, None, :]
        point, interval = _interval(library, {label: scores}, iqm_columns, reps, seed)
        out[label] = {"steps": steps, "iqm": point[label].tolist(), "ci95": np.asarray(interval[label]).tolist()}
    return out


def normalise(runs: list[Run], bounds: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """Each task's (low, high) for min-max normalisation: `bounds["env/task"]` where given, else
    the lowest and highest final execution return of any run on that task (marl-eval's rule)."""
    out: dict[str, tuple[float, float]] = {}
    for task in sorted({f"{r.env}/{r.task}" for r in runs}):
        if bounds and task in bounds:
            out[task] = bounds[task]
            continue
        values = [r.final["execution/return"] for r in runs if f"{r.env}/{r.task}" == task]
        out[task] = (float(min(values)), float(max(values)))
    return out


def aggregate(runs: list[Run], limits: dict[str, tuple[float, float]], reps: int, seed: int) -> dict[str, Any]:
    """Across tasks, on normalised final execution returns: IQM, median, mean and optimality gap
    with stratified-bootstrap CIs; probability of improvement for every ordered pair; performance
    profiles; and normalised IQM curves where every task shares its evaluation steps.

    An algorithm enters only if it has a run on every task and the same number of seeds on each
    (a runs x tasks matrix); the others are listed under `excluded` with the reason."""
    library, metrics = _rliable()
    tasks = sorted(limits)
    labels = sorted({r.label for r in runs})
    matrices: dict[str, np.ndarray] = {}
    curve_data: dict[str, tuple[list[float], np.ndarray]] = {}
    excluded: dict[str, str] = {}

    def norm(task: str, x: np.ndarray) -> np.ndarray:
        lo, hi = limits[task]
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)

    for label in labels:
        per_task = {t: sorted((r for r in runs if r.label == label and f"{r.env}/{r.task}" == t), key=lambda r: r.seed)
                    for t in tasks}
        missing = [t for t, rs in per_task.items() if not rs]
        if missing:
            excluded[label] = f"no run on {', '.join(missing)}"
            continue
        counts = {len(rs) for rs in per_task.values()}
        if len(counts) > 1:
            excluded[label] = f"seed counts differ across tasks ({', '.join(f'{t}: {len(rs)}' for t, rs in per_task.items())})"
            continue
        matrices[label] = np.stack([norm(t, np.array([r.final["execution/return"] for r in per_task[t]])) for t in tasks], 1)
        steps = [{float(x) for x in r.steps} for rs in per_task.values() for r in rs]
        shared = sorted(set.intersection(*steps))
        if shared:
            curve_data[label] = (shared, np.stack(
                [np.stack([norm(t, r.curves["execution/return"][np.searchsorted(r.steps, shared)]) for r in per_task[t]])
                 for t in tasks], 1))
    out: dict[str, Any] = {"tasks": tasks, "bounds": {t: list(v) for t, v in limits.items()}, "excluded": excluded,
                           "algorithms": {}, "probability_of_improvement": {}}
    if not matrices:
        return out
    names = ["iqm", "median", "mean", "optimality_gap"]
    func = lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_median(x), metrics.aggregate_mean(x),
                               metrics.aggregate_optimality_gap(x, 1.0)])
    point, interval = _interval(library, matrices, func, reps, seed)
    for label in matrices:
        out["algorithms"][label] = {"runs": int(matrices[label].shape[0]),
                                    **{n: _estimate(point[label], interval[label], i) for i, n in enumerate(names)},
                                    "normalised_scores": matrices[label].tolist()}
    pairs = {f"{x}>{y}": (matrices[x], matrices[y]) for x in matrices for y in matrices if x != y}
    if pairs:
        poi_point, poi_interval = _interval(library, pairs, probability_of_improvement, reps, seed)
        out["probability_of_improvement"] = {k: {"value": float(poi_point[k]), "ci95": np.ravel(poi_interval[k]).tolist()}
                                             for k in pairs}
    every = np.concatenate([m.ravel() for m in matrices.values()])
    taus = np.linspace(min(0.0, float(every.min())), max(1.0, float(every.max())), 41)
    with _seeded(seed):
        profiles, profile_cis = library.create_performance_profile(matrices, taus, reps=reps)
    out["performance_profile"] = {"tau": taus.tolist(), **{k: {"fraction_above": np.asarray(v).tolist(),
                                                                "ci95": np.asarray(profile_cis[k]).tolist()}
                                                            for k, v in profiles.items()}}
    if curve_data:
        cp, ci = _interval(library, {k: v[1] for k, v in curve_data.items()}, iqm_columns, reps, seed)
        out["sample_efficiency"] = {k: {"steps": curve_data[k][0], "iqm": cp[k].tolist(), "ci95": np.asarray(ci[k]).tolist()}
                                    for k in curve_data}
    return out


def build(runs: list[Run], bounds: dict[str, tuple[float, float]] | None = None, reps: int = 2000, seed: int = 0,
          aggregate_labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Every number of the report, as one JSON-able dict. `aggregate_labels` limits the
    across-task part (and its pairwise comparisons) to those algorithms."""
    limits = normalise(runs, bounds)
    tasks: dict[str, Any] = {}
    for task in limits:
        rs = [r for r in runs if f"{r.env}/{r.task}" == task]
        tasks[task] = {"bounds": list(limits[task]), "algorithms": task_table(rs, reps, seed),
                       "curves": {p: c for p in POLICIES if (c := curves(rs, reps, seed, p))}}
    chosen = [r for r in runs if aggregate_labels is None or r.label in aggregate_labels]
    return {
        "settings": {"statistic": "IQM (25% trimmed mean) with stratified-bootstrap percentile CIs (rliable)",
                     "confidence": 0.95, "reps": reps, "seed": seed,
                     "normalisation": "min-max per task: given bounds, else the task's lowest and highest final execution return"},
        "tasks": tasks,
        "aggregate": aggregate(chosen, {t: limits[t] for t in sorted({f'{r.env}/{r.task}' for r in chosen})}, reps, seed),
    }


# ---------------------------------------------------------------------------- writing


def _ci(e: dict[str, Any], digits: int = 1) -> str:
    return f"{e['value']:.{digits}f} [{e['ci95'][0]:.{digits}f}, {e['ci95'][1]:.{digits}f}]"


def markdown(report: dict[str, Any], skipped: Sequence[str] = (), figures: Sequence[str] = ()) -> str:
    s = report["settings"]
    lines = ["# marlspec report", "",
             f"Statistic: {s['statistic']}; {s['confidence']:.0%} intervals from {s['reps']} bootstrap samples "
             f"(seed {s['seed']}). Normalisation: {s['normalisation']}. Every number is in report.json.", ""]
    for task, t in report["tasks"].items():
        lines += [f"## {task}", "", "| algorithm | policy | seeds | env steps | final return IQM [95% CI] | mean | "
                  "best return IQM [95% CI] | final win rate IQM [95% CI] |", "|---|---|---|---|---|---|---|---|"]
        for label, a in t["algorithms"].items():
            for policy in POLICIES:
                if policy not in a:
                    continue
                p = a[policy]
                win = _ci(p["final_win_rate"], 2) if "final_win_rate" in p else ""
                steps = f"{min(a['env_steps']):,}" + (f" to {max(a['env_steps']):,}" if len(a["env_steps"]) > 1 else "")
                lines.append(f"| {label} | {policy} | {len(a['seeds'])} | {steps} | {_ci(p['final_return'])} | "
                             f"{p['final_return']['mean']:.1f} | {_ci(p['best_return'])} | {win} |")
        lines.append("")
    agg = report["aggregate"]
    lines += ["## Across tasks (normalised final execution return)", "",
              f"Tasks: {', '.join(agg['tasks'])}; bounds (low, high): "
              + ", ".join(f"{t} ({lo:.3g}, {hi:.3g})" for t, (lo, hi) in agg["bounds"].items()) + ".", ""]
    if agg["algorithms"]:
        lines += ["| algorithm | runs | IQM | median | mean | optimality gap |", "|---|---|---|---|---|---|"]
        for label, a in agg["algorithms"].items():
            lines.append(f"| {label} | {a['runs']} | " + " | ".join(_ci(a[n], 3) for n in ("iqm", "median", "mean", "optimality_gap")) + " |")
        lines += ["", poi_markdown(agg), ""]
    for label, why in agg["excluded"].items():
        lines.append(f"- left out of the aggregate: {label} ({why})")
    if skipped:
        lines += ["", "Run directories left out:"] + [f"- {s}" for s in skipped]
    if figures:
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def poi_markdown(agg: dict[str, Any]) -> str:
    """The probability-of-improvement matrix: row X, column Y, cell P(X > Y) [95% CI]."""
    labels = list(agg["algorithms"])
    poi = agg["probability_of_improvement"]
    rows = ["Probability of improvement P(row > column) [95% CI]:", "",
            "| X \\ Y | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for x in labels:
        cells = ["" if x == y else _ci(poi[f"{x}>{y}"], 2) for y in labels]
        rows.append(f"| {x} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def figures(report: dict[str, Any], out: Path) -> list[str]:
    """PNG figures under `out/figures`; returns their paths relative to `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(fig: Any, name: str, tight: bool = True) -> None:
        if tight:
            fig.tight_layout()
        fig.savefig(fig_dir / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(f"figures/{name}")

    for task, t in report["tasks"].items():
        fig, ax = plt.subplots(figsize=(8, 5))
        for i, label in enumerate(t["curves"].get("execution", {})):
            for policy, style in (("execution", "-"), ("behaviour", "--")):
                c = t["curves"].get(policy, {}).get(label)
                if c is None:
                    continue
                ax.plot(c["steps"], c["iqm"], style, color=f"C{i % 10}", linewidth=2, label=f"{label} ({policy})")
                ax.fill_between(c["steps"], c["ci95"][0], c["ci95"][1], color=f"C{i % 10}", alpha=0.15)
        ax.set(xlabel="environment steps per seed", ylabel="return (IQM over seeds)",
               title=f"{task}: IQM and 95% stratified-bootstrap CI")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, f"curves_{_slug(task)}.png")
    agg = report["aggregate"]
    algs = agg["algorithms"]
    if algs:
        names = ["iqm", "median", "mean", "optimality_gap"]
        point = {k: np.array([a[n]["value"] for n in names]) for k, a in algs.items()}
        interval = {k: np.array([[a[n]["ci95"][0] for n in names], [a[n]["ci95"][1] for n in names]]) for k, a in algs.items()}
        fig, _ = plot_utils.plot_interval_estimates(point, interval, metric_names=["IQM", "Median", "Mean", "Optimality gap"],
                                                    algorithms=list(algs), xlabel="normalised score",
                                                    xlabel_y_coordinate=-0.16 - 0.5 / len(algs))
        save(fig, "aggregate.png", tight=False)  # rliable lays out its own subplots
        prof = agg["performance_profile"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_utils.plot_performance_profiles({k: np.array(prof[k]["fraction_above"]) for k in algs}, np.array(prof["tau"]),
                                             {k: np.array(prof[k]["ci95"]) for k in algs}, ax=ax,
                                             xlabel=r"normalised score $\tau$", ylabel=r"fraction of runs above $\tau$")
        ax.legend(list(algs), fontsize=8)
        save(fig, "performance_profile.png")
        if len(algs) > 1:
            labels = list(algs)
            grid = np.full((len(labels), len(labels)), np.nan)
            for i, x in enumerate(labels):
                for j, y in enumerate(labels):
                    if x != y:
                        grid[i, j] = agg["probability_of_improvement"][f"{x}>{y}"]["value"]
            fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.0 * len(labels) + 1.5))
            im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdBu")
            for i in range(len(labels)):
                for j in range(len(labels)):
                    if i != j:
                        ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8)
            ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
            ax.set_yticks(range(len(labels)), labels)
            ax.set(xlabel="Y", ylabel="X", title="P(X > Y)")
            fig.colorbar(im, ax=ax)
            save(fig, "probability_of_improvement.png")
        if agg.get("sample_efficiency"):
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for i, (label, c) in enumerate(agg["sample_efficiency"].items()):
                ax.plot(c["steps"], c["iqm"], color=f"C{i % 10}", linewidth=2, label=label)
                ax.fill_between(c["steps"], c["ci95"][0], c["ci95"][1], color=f"C{i % 10}", alpha=0.15)
            ax.set(xlabel="environment steps per seed", ylabel="normalised IQM",
                   title="sample efficiency across tasks (IQM, 95% CI)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            save(fig, "sample_efficiency.png")
    return written


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def parse_bounds(items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """`env/task=LOW:HIGH` items (the CLI's `--bounds`)."""
    out = {}
    for item in items:
        task, _, pair = item.partition("=")
        lo, _, hi = pair.partition(":")
        try:
            low, high = float(lo), float(hi)
        except ValueError:
            raise ReportError(f"--bounds {item!r}: expected env/task=LOW:HIGH, e.g. coordsum/3x10-30=6.5:200") from None
        if not high > low:
            raise ReportError(f"--bounds {item!r}: HIGH must exceed LOW")
        out[task] = (low, high)
    return out


def write(paths: Sequence[str | Path], out: str | Path, bounds: dict[str, tuple[float, float]] | None = None,
          reps: int = 2000, seed: int = 0, plots: bool = True) -> dict[str, Any]:
    """Load, compute and write `out/report.md`, `out/report.json` and `out/figures/*.png`."""
    runs, skipped = load_runs(paths)
    return write_runs(runs, out, bounds, reps, seed, plots, skipped=skipped)


def write_runs(runs: list[Run], out: str | Path, bounds: dict[str, tuple[float, float]] | None = None,
               reps: int = 2000, seed: int = 0, plots: bool = True, skipped: Sequence[str] = (),
               aggregate_labels: Sequence[str] | None = None) -> dict[str, Any]:
    """`write` for runs already loaded (and perhaps filtered or relabelled)."""
    from marlspec.io.rundir import write_json

    if bounds:
        unknown = sorted(set(bounds) - {f"{r.env}/{r.task}" for r in runs})
        if unknown:
            raise ReportError(f"--bounds: no runs on {', '.join(unknown)}; tasks here: "
                              + ", ".join(sorted({f'{r.env}/{r.task}' for r in runs})))
    report = build(runs, bounds, reps, seed, aggregate_labels)
    report["sources"] = sorted({r.source for r in runs})
    report["skipped"] = list(skipped)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(report, out) if plots else []
    write_json(out / "report.json", report)
    (out / "report.md").write_text(markdown(report, skipped, figs))
    return report
