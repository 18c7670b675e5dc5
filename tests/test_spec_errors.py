"""Bad input: every malformed spec gives one line naming the field, the value and a fix,
exit code 2, and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marlspec.cli import app
from marlspec.spec import dump_spec, load_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

OK = "env: {kind: coordsum, task: 3x10-30}\nalgorithm: {kind: mappo}\n"

CASES = {
    "unknown_env_kind": ("env: {kind: starcraft}\nalgorithm: {kind: mappo}\n", "env.kind", "choices"),
    "misspelt_algorithm_kind": ("env: {kind: coordsum}\nalgorithm: {kind: mapo}\n", "algorithm.kind", "did you mean 'mappo'"),
    "misspelt_key": (OK + "train: {num_env: 8}\n", "train.num_env", "did you mean 'num_envs'"),
    "misspelt_top_level_key": (OK + "trian: {}\n", "trian", "did you mean 'train'"),
    "wrong_type": (OK + "train: {num_envs: many}\n", "train.num_envs", "whole number"),
    "out_of_range": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, clip_eps: 1.5}\n", "algorithm.clip_eps", "< 1"),
    "negative_lr": (OK + "train: {lr: -0.1}\n", "train.lr", "> 0"),
    "non_dividing_minibatches": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, num_minibatches: 3}\n",
                                 "algorithm.num_minibatches", "does not divide"),
    "budget_below_one_update": (OK + "train: {total_env_steps: 10}\n", "train.total_env_steps", "less than one update"),
    "unknown_preset": ("env: {kind: coordsum, task: 5x20-81}\nalgorithm: {kind: mappo}\n", "env.task", "did you mean '5x20-80'"),
    "missing_kind": ("env: {task: 3x10-30}\nalgorithm: {kind: mappo}\n", "env", "add kind"),
    "missing_algorithm": ("env: {kind: coordsum}\n", "algorithm", "missing"),
    "bad_literal": (OK + "network: {kind: mlp, activation: sigmoid}\n", "network.activation", "choices"),
    "empty_seeds": (OK + "train: {seeds: []}\n", "train.seeds", "at least one seed"),
    "positive_penalty": ("env: {kind: matrix, game: penalty, k: 5}\nalgorithm: {kind: mappo}\n", "env.k", "k <= 0"),
    "ragged_payoff": ("env: {kind: matrix, game: custom, payoff: [[1, 2], [3]]}\nalgorithm: {kind: mappo}\n",
                      "env.payoff", "ragged"),
    "section_not_mapping": ("env: 3\nalgorithm: {kind: mappo}\n", "env", "mapping"),
    "empty_file": ("", "spec is empty", "env:"),
    "invalid_yaml": ("env: {kind: coordsum\nalgorithm: [\n", "invalid YAML", "line"),
    "not_a_mapping": ("- just\n- a list\n", "must be a mapping", "env"),
}


@pytest.fixture()
def cli():
    return CliRunner()


def check_one_line(result, *needles):
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert "\n" not in text, text
    assert "Traceback" not in text
    assert text.startswith("error: ")
    for needle in needles:
        assert needle in text, (needle, text)
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_spec(name, cli, tmp_path):
    text, path, fix = CASES[name]
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    out = check_one_line(cli.invoke(app, ["validate", str(f)]), path, fix)
    if path.split(".")[0] in ("env", "algorithm", "train", "network", "trian"):
        assert f"[{f} line " in out  # points at the line in the file


def test_missing_file(cli, tmp_path):
    check_one_line(cli.invoke(app, ["validate", str(tmp_path / "nope.yaml")]), "not found", "nope.yaml")


def test_bad_override(cli, tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(OK)
    check_one_line(cli.invoke(app, ["validate", str(f), "--set", "algorithm.clip_eps"]), "dotted.path=value")
    out = check_one_line(cli.invoke(app, ["validate", str(f), "--set", "algorithm.clip_eps=7"]), "algorithm.clip_eps")
    assert out.endswith("[--set]"), out  # the override is blamed, not a line of the file


def test_valid_spec_and_override(cli, tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(OK)
    result = cli.invoke(app, ["validate", str(f), "--set", "train.seeds=[0,1,2]", "--set", "algorithm.clip_eps=0.1"])
    assert result.exit_code == 0, result.output
    assert "seeds [0, 1, 2]" in result.output


def test_switching_kind_drops_the_old_kinds_keys(capsys):
    """`--set algorithm.kind=fop` on a MACPF spec (documented in specs/ and docs/) drops the
    MACPF-only keys with a note; a MACPF-only key given by --set itself is still an error."""
    from marlspec.spec import load_spec
    from marlspec.spec.loading import SpecError

    root = Path(__file__).resolve().parent.parent / "specs"
    spec = load_spec(root / "macpf_smac.yaml", ["algorithm.kind=fop"])
    assert spec.algorithm.kind == "fop" and spec.algorithm.td_lambda == 0.8  # shared keys kept
    assert "has no mixing" in capsys.readouterr().err
    with pytest.raises(SpecError, match="algorithm.mixing"):
        load_spec(root / "macpf_smac.yaml", ["algorithm.kind=fop", "algorithm.mixing=eq6"])


def test_shipped_specs_validate(cli):
    specs = sorted(Path(__file__).resolve().parent.parent.joinpath("specs").rglob("*.yaml"))
    assert specs
    for spec in specs:
        result = cli.invoke(app, ["validate", str(spec)])
        assert result.exit_code == 0, (spec, result.output)


ROUND_TRIP_VARIANTS = [
    ("agentmixer/predator_prey.yaml", ["algorithm.igc=false"]),
    ("agentmixer/predator_prey.yaml", ["algorithm.mixer=false"]),
    ("agentmixer/predator_prey.yaml", ["algorithm.igc_noise=shift"]),
    ("agentmixer/mabrax_ant_4x2.yaml", ["algorithm.covariance=lowrank"]),
    ("matrix/mipi_team_matrix.yaml", ["algorithm.imagine=false"]),
    ("matrix/mipi_team_matrix.yaml", ["algorithm.regularizer=entropy"]),
]


@pytest.mark.parametrize("spec", sorted(str(p.relative_to(SPECS)) for p in SPECS.rglob("*.yaml")) + ROUND_TRIP_VARIANTS)
def test_a_runs_written_spec_loads_again(spec, tmp_path):
    """A run directory's spec.yaml writes every field, defaults included; it must load again to the
    same spec (`marlspec eval` and `run --resume` read it), also for configurations whose checks
    reject fields they do not read."""
    name, overrides = (spec, []) if isinstance(spec, str) else spec
    assert (SPECS / name).exists(), f"{name} is not shipped; update ROUND_TRIP_VARIANTS"
    loaded = load_spec(SPECS / name, overrides)
    written = tmp_path / "spec.yaml"
    written.write_text(dump_spec(loaded))
    assert load_spec(written) == loaded


def test_real_process_exit_code_and_no_traceback(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("env: {kind: coordsum}\nalgorithm: {kind: mappo, num_minibatches: 3}\n")
    proc = subprocess.run([sys.executable, "-m", "marlspec.cli", "run", str(f)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "algorithm.num_minibatches" in proc.stderr
