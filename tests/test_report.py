"""`marlspec report`: rliable imports on our dependency set, our fast estimators equal rliable's,
run directories and foreign marl-eval JSON load into the same groups, and the numbers in the
report are the ones the definitions give."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from marlspec.cli import app
from marlspec.io import report as R


def test_rliable_imports_and_bootstraps_on_our_dependency_set() -> None:
    """rliable 1.2 fails to import with arch 7.2 under pandas 3 (pyproject's `report` extra bounds
    pandas < 3); this is the CI check that the declared set works."""
    from rliable import library, metrics

    scores = {"a": np.arange(12.0).reshape(6, 2)}
    point, interval = library.get_interval_estimates(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=50)
    assert point["a"][0] == pytest.approx(metrics.aggregate_iqm(scores["a"]))
    assert interval["a"].shape == (2, 1) and interval["a"][0, 0] <= point["a"][0] <= interval["a"][1, 0]


@pytest.mark.parametrize("shape", [(5, 1, 3), (3, 4, 2), (10, 2, 7), (4, 1, 1)])
def test_iqm_columns_equals_rliable_per_column(shape: tuple[int, ...]) -> None:
    from rliable import metrics

    x = np.random.default_rng(sum(shape)).normal(size=shape).round(1)  # rounding makes ties
    expected = [metrics.aggregate_iqm(x[..., j]) for j in range(shape[-1])]
    np.testing.assert_allclose(R.iqm_columns(x), expected, rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_probability_of_improvement_equals_rliable(seed: int) -> None:
    from rliable import metrics

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(int(rng.integers(2, 7)), 3)).astype(float)  # many ties
    y = rng.integers(0, 4, size=(int(rng.integers(2, 7)), 3)).astype(float)
    assert R.probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y), abs=1e-12)
    assert R.probability_of_improvement(x, x) == pytest.approx(0.5)


# ------------------------------------------------------------------------ fixtures on disk


def _rundir(path: Path, algorithm: str, finals: dict[int, list[float]], task: str = "2x4-6", behaviour: bool = False,
            status: str = "completed", tag: str | None = None, steps: tuple[int, ...] = (0, 100, 200)) -> Path:
    """A run directory in the runner's layout: metrics.jsonl (one record per eval per seed) and
    summary.json. `finals[seed]` is that seed's eval_return at each of `steps`."""
    path.mkdir(parents=True)
    lines = []
    for seed, values in finals.items():
        for step, value in zip(steps, values, strict=True):
            record = {"env_steps": step, "seed": seed, "eval_return": value, "eval_win_rate": None}
            if behaviour:
                record["behaviour_return"] = value + 1.0
            lines.append(json.dumps(record))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    summary = {"env": f"coordsum/{task}", "algorithm": algorithm, "status": status, "seeds": list(finals)}
    if tag:
        summary["tag"] = tag
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def _foreign(path: Path) -> Path:
    """marl-eval JSON as another library writes it: `run_k` keys, `episode_return`, and
    absolute_metrics whose mean differs from the last step's."""
    runs = {f"run_{k}": {"step_0": {"step_count": 0, "episode_return": [0.0, 0.0]},
                         "step_1": {"step_count": 200, "episode_return": [float(k), float(k) + 2]},
                         "absolute_metrics": {"episode_return": [float(10 * k)] * 4}}
            for k in range(4)}
    path.write_text(json.dumps({"coordsum": {"2x4-6": {"otherlib_ppo": runs}}}))
    return path


@pytest.fixture()
def runs_on_disk(tmp_path: Path) -> Path:
    # five seeds whose final values have a known IQM: [1, 2, 3, 4, 100] -> mean(2, 3, 4) = 3
    _rundir(tmp_path / "a" / "magpo", "magpo", {s: [0, 0, v] for s, v in enumerate([1, 2, 3, 4, 100])}, behaviour=True)
    _rundir(tmp_path / "a" / "mappo", "mappo", {s: [0, 5, 0.5] for s in range(5)})
    _rundir(tmp_path / "a" / "broken", "mat", {0: [0, 0, 0]}, status="failed: FloatingPointError: nan")
    return tmp_path


def test_loading_run_directories_and_foreign_marl_eval(runs_on_disk: Path) -> None:
    runs, skipped = R.load_runs([str(runs_on_disk / "a"), _foreign(runs_on_disk / "other.json")])
    assert skipped == [f"{runs_on_disk / 'a' / 'broken'}: failed: FloatingPointError: nan"]
    groups = {(r.label, r.seed): r for r in runs}
    assert sorted({r.label for r in runs}) == ["magpo", "mappo", "otherlib_ppo"]
    magpo = groups[("magpo", "4")]
    assert magpo.final == {"execution/return": 100.0, "behaviour/return": 101.0}
    assert "execution/win_rate" not in magpo.final  # null win rates are "not reported"
    other = groups[("otherlib_ppo", "3")]
    assert other.seed == "3" and other.task == "2x4-6"
    assert other.final["execution/return"] == 30.0  # absolute_metrics, not the last step's mean (4.0)
    np.testing.assert_array_equal(other.curves["execution/return"], [0.0, 4.0])


def test_globs_and_seed_clashes_between_sources(tmp_path: Path) -> None:
    _rundir(tmp_path / "local" / "c0", "magpo", {0: [0, 1, 2], 1: [0, 1, 3]})
    _rundir(tmp_path / "ray" / "c0", "magpo", {0: [0, 1, 2], 1: [0, 1, 3]})
    runs, _ = R.load_runs([str(tmp_path / "*" / "c0")])
    assert sorted({r.label for r in runs}) == ["magpo@local", "magpo@ray"]
    with pytest.raises(R.ReportError, match="matches nothing"):
        R.load_runs([str(tmp_path / "nothing*")])


def test_numbers_follow_the_definitions(runs_on_disk: Path) -> None:
    runs, _ = R.load_runs([runs_on_disk / "a"])
    rep = R.build(runs, reps=500, bounds={"coordsum/2x4-6": (0.0, 10.0)})
    task = rep["tasks"]["coordsum/2x4-6"]
    final = task["algorithms"]["magpo"]["execution"]["final_return"]
    assert final["value"] == pytest.approx(3.0) and final["mean"] == pytest.approx(22.0)
    assert final["ci95"][0] <= 3.0 <= final["ci95"][1]
    assert task["algorithms"]["magpo"]["behaviour"]["final_return"]["value"] == pytest.approx(4.0)
    assert "behaviour" not in task["algorithms"]["mappo"]
    best = task["algorithms"]["mappo"]["execution"]["best_return"]
    assert best["value"] == 5.0 and best["ci95"] == [5.0, 5.0]
    assert task["curves"]["execution"]["magpo"]["steps"] == [0.0, 100.0, 200.0]
    agg = rep["aggregate"]
    # normalised with the given bounds: magpo's seeds [0.1, 0.2, 0.3, 0.4, 10.0], mappo's 0.05 each
    assert agg["algorithms"]["magpo"]["iqm"]["value"] == pytest.approx(0.3)
    assert agg["algorithms"]["magpo"]["median"]["value"] == pytest.approx(2.2)  # one task: median of task means
    assert agg["algorithms"]["mappo"]["optimality_gap"]["value"] == pytest.approx(0.95)
    assert agg["probability_of_improvement"]["magpo>mappo"]["value"] == 1.0
    assert agg["probability_of_improvement"]["mappo>magpo"]["value"] == 0.0
    prof = agg["performance_profile"]
    i = int(np.argmin(np.abs(np.array(prof["tau"]) - 0.25)))
    above = np.mean(np.array([0.1, 0.2, 0.3, 0.4, 10.0]) > prof["tau"][i])
    assert prof["magpo"]["fraction_above"][i] == pytest.approx(above)


def test_aggregate_excludes_algorithms_missing_a_task(tmp_path: Path) -> None:
    _rundir(tmp_path / "t1a", "magpo", {0: [0, 0, 1], 1: [0, 0, 2]}, task="2x4-6")
    _rundir(tmp_path / "t2a", "magpo", {0: [0, 0, 3], 1: [0, 0, 4]}, task="3x4-6")
    _rundir(tmp_path / "t1b", "mappo", {0: [0, 0, 1], 1: [0, 0, 2]}, task="2x4-6")
    runs, _ = R.load_runs([tmp_path])
    agg = R.build(runs, reps=200)["aggregate"]
    assert list(agg["algorithms"]) == ["magpo"]
    assert agg["excluded"] == {"mappo": "no run on coordsum/3x4-6"}
    assert agg["sample_efficiency"]["magpo"]["steps"] == [0.0, 100.0, 200.0]


def test_cli_writes_markdown_json_and_figures(runs_on_disk: Path) -> None:
    out = runs_on_disk / "report"
    result = CliRunner().invoke(app, ["report", str(runs_on_disk / "a"), str(_foreign(runs_on_disk / "o.json")),
                                      "--out", str(out), "--reps", "200"])
    assert result.exit_code == 0, result.output
    md = (out / "report.md").read_text()
    assert "| magpo | behaviour | 5 |" in md and "otherlib_ppo" in md and "P(row > column)" in md
    data = json.loads((out / "report.json").read_text())
    assert set(data["aggregate"]["algorithms"]) == {"magpo", "mappo", "otherlib_ppo"}
    for name in ("aggregate", "performance_profile", "probability_of_improvement", "sample_efficiency",
                 "curves_coordsum_2x4-6"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000, name


@pytest.mark.parametrize(("args", "message"), [
    (["/no/such/dir"], "no such file or directory"),
    (["RUNS", "--bounds", "coordsum/2x4-6=3"], "expected env/task=LOW:HIGH"),
    (["RUNS", "--bounds", "smax/3m=0:1"], "--bounds: no runs on smax/3m"),
])
def test_cli_bad_input_is_one_line_and_exit_2(runs_on_disk: Path, args: list[str], message: str) -> None:
    args = [str(runs_on_disk / "a") if a == "RUNS" else a for a in args]
    result = CliRunner().invoke(app, ["report", *args, "--out", str(runs_on_disk / "r")])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
