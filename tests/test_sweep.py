"""`marlspec sweep`: grid expansion, one run directory per configuration with its resolved spec,
the index `report` reads, resuming, and failures that do not stop the others, locally and on a
local Ray instance started by the test. Tiny budgets: one mappo configuration that trains and
one whose learning rate (1e38) makes the loss non-finite, so the runner fails it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import marlspec.sweep as sw
from marlspec.cli import app
from marlspec.io import report as R
from marlspec.spec import SpecError, load_spec

TINY = """
name: sw
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 128, num_envs: 4, rollout_length: 16, seeds: [0]}
eval: {interval: 64, episodes: 4}
log: {progress: false, checkpoint: false, plot: false}
"""
GRID = {"algorithm.kind": ["mappo"], "train.lr": [0.001, 1e38]}


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "sw.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def local_sweep(spec_file: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweeps") / "local"
    sw.sweep(spec_file, GRID, [0, 1], out, echo=lambda _: None)
    return out


def test_seeds_and_grid_parsing() -> None:
    assert sw.parse_seeds("0..3") == [0, 1, 2, 3]
    assert sw.parse_seeds("4,7") == [4, 7] and sw.parse_seeds("[1, 2]") == [1, 2]
    assert sw.parse_grid(["algorithm.clip_eps=[0.1, 0.2]", "algorithm.kind=[mappo,ippo]"]) == {
        "algorithm.clip_eps": [0.1, 0.2], "algorithm.kind": ["mappo", "ippo"]}
    for bad in ("3..1", "a..b", "[]"):
        with pytest.raises(SpecError, match="--seeds"):
            sw.parse_seeds(bad)
    for bad in (["algorithm.clip_eps"], ["algorithm.clip_eps=0.1"], ["x=[1]", "x=[2]"]):
        with pytest.raises(SpecError, match="--grid"):
            sw.parse_grid(bad)


def test_expand_labels_every_combination_and_keeps_invalid_ones(spec_file: Path) -> None:
    configs = sw.expand(spec_file, {"algorithm.kind": ["mappo", "ippo"], "algorithm.num_minibatches": [2, 3]}, [0, 1, 2])
    assert [c.label for c in configs] == ["mappo[num_minibatches=2]", "mappo[num_minibatches=3]",
                                          "ippo[num_minibatches=2]", "ippo[num_minibatches=3]"]
    assert [c.status for c in configs] == ["pending", "invalid", "pending", "invalid"]
    assert "algorithm.num_minibatches: minibatch count 3 does not divide" in (configs[1].error or "")
    assert configs[2].spec is not None and configs[2].spec.algorithm.kind == "ippo"
    assert configs[2].spec.train.seeds == [0, 1, 2]


def test_local_sweep_writes_runs_and_index_and_survives_a_failure(local_sweep: Path, spec_file: Path) -> None:
    index = json.loads((local_sweep / sw.INDEX).read_text())
    status = {c["label"]: c["status"] for c in index["configs"]}
    assert status == {"mappo[lr=0.001]": "completed", "mappo[lr=1.0e+38]": "failed"}
    failed = next(c for c in index["configs"] if c["status"] == "failed")
    assert "Diverged" in failed["error"] and "policy_loss = nan" in failed["error"]
    good = local_sweep / index["configs"][0]["run_dir"]
    assert load_spec(good / "spec.yaml").train.lr == 0.001  # the resolved spec of that configuration
    summary = json.loads((good / "summary.json").read_text())
    assert summary["tag"] == "mappo[lr=0.001]" and summary["seeds"] == [0, 1]
    runs, skipped = R.load_runs([local_sweep])
    assert {(r.label, r.seed) for r in runs} == {("mappo[lr=0.001]", "0"), ("mappo[lr=0.001]", "1")}
    assert len(skipped) == 1 and skipped[0].endswith(": diverged")


def test_resume_skips_completed_configurations_and_retries_failed_ones(local_sweep: Path, spec_file: Path,
                                                                       monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(sw, "run_config", lambda spec, run_dir, label, overrides: calls.append(label) or
                        {"final_return": 0.0})
    configs = sw.sweep(spec_file, GRID, [0, 1], local_sweep, echo=lambda _: None)
    assert calls == ["mappo[lr=1.0e+38]"]
    assert [c.status for c in configs] == ["completed", "completed"]


def test_cli_sweep_exit_codes(spec_file: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sw, "run_config", lambda spec, run_dir, label, overrides: {"final_return": 1.0})
    result = CliRunner().invoke(app, ["sweep", str(spec_file), "--grid", "algorithm.num_minibatches=[2,3]",
                                      "--seeds", "0..1", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1, result.output  # one configuration is invalid
    assert "1 completed, 0 failed, 1 invalid of 2" in result.output
    bad = CliRunner().invoke(app, ["sweep", str(spec_file), "--grid", "algorithm.clip_eps=0.1", "--out", str(tmp_path / "t")])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "--grid" in bad.output


def test_ray_sweep_matches_the_local_one_and_report_reads_both(local_sweep: Path, spec_file: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = local_sweep.parent / "ray"
        configs = sw.sweep(spec_file, GRID, [0, 1], out, ray_address="auto", echo=lambda _: None)
    finally:
        ray.shutdown()
    assert [(c.label, c.status) for c in configs] == [("mappo[lr=0.001]", "completed"), ("mappo[lr=1.0e+38]", "failed")]
    assert (configs[1].error or "").startswith("marlspec.train.guard.Diverged:") and "policy_loss = nan" in (configs[1].error or "")
    runs, _ = R.load_runs([local_sweep, out])
    assert sorted({r.label for r in runs}) == ["mappo[lr=0.001]@local", "mappo[lr=0.001]@ray"]
    by = {(r.label, r.seed): r.final["execution/return"] for r in runs}
    # The same spec and seed on either engine (same machine) gives the same run.
    assert by[("mappo[lr=0.001]@local", "0")] == by[("mappo[lr=0.001]@ray", "0")]
