"""An algorithm from outside the package (examples/qplex_lite) plugs in through
`marlspec.register_algorithm` and the spec's `plugins:` list, and goes through the whole command
line: `list`, `validate` (with one-line errors and line numbers), `run`, `eval`, and
`run --resume` after a SIGKILL, whose outputs carry the plugin's own name. The runs are tiny
(5 updates on a 2-agent CoordSum) and are real subprocesses, as a user would start them."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from marlspec.cli import app
from marlspec.spec import OffPolicySpec, Spec, SpecError, parse_spec, registry
from tests.test_resume import ROOT, _cli, _rows, _summary

SPEC = """\
name: qplex_tiny
plugins: [examples.qplex_lite]
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm:
  kind: qplex_lite
  buffer_size: 40
  batch_size: 4
  target_update_interval: 8
  mixing_embed: 8
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 320, num_envs: 4, rollout_length: 16, seeds: [0, 1]}
eval: {interval: 128, episodes: 4}
log: {progress: false}
"""


@pytest.fixture
def plugin_loaded(monkeypatch: pytest.MonkeyPatch) -> object:
    """The plugin imported in this process, and forgotten afterwards (other tests in this
    worker see only the built-in kinds)."""
    from marlspec.plugins import unregister_algorithm

    monkeypatch.chdir(ROOT)
    sys.modules.pop("examples.qplex_lite", None)
    yield
    unregister_algorithm("qplex_lite")
    sys.modules.pop("examples.qplex_lite", None)
    assert "qplex_lite" not in registry.ALGORITHM_SPECS


def test_list_validate_and_errors(plugin_loaded: object, tmp_path: Path) -> None:
    runner = CliRunner()
    before = runner.invoke(app, ["list", "algorithms"])
    assert before.exit_code == 0 and "qplex_lite" not in before.output  # not imported unless asked
    listed = runner.invoke(app, ["list", "algorithms", "--plugin", "examples.qplex_lite"])
    assert listed.exit_code == 0 and "qplex_lite" in listed.output and "QPLEX-lite" in listed.output

    spec = tmp_path / "q.yaml"
    spec.write_text(SPEC)
    ok = runner.invoke(app, ["validate", str(spec)])
    assert ok.exit_code == 0, ok.output
    assert "ok: qplex_tiny: qplex_lite on coordsum" in ok.output

    typo = runner.invoke(app, ["validate", str(spec), "--set", "algorithm.mixing_embd=4"])
    assert typo.exit_code == 2
    assert "algorithm.mixing_embd: unknown key 'mixing_embd'; did you mean 'mixing_embed'?" in typo.output
    assert "[--set]" in typo.output and "Traceback" not in typo.output

    spec.write_text(SPEC.replace("mixing_embed: 8", "mixing_embed: 0"))
    bad = runner.invoke(app, ["validate", str(spec)])
    assert bad.exit_code == 2
    assert f"algorithm.mixing_embed: must be >= 1 (got 0); choose a value >= 1 [{spec} line 9]" in bad.output

    spec.write_text(SPEC.replace("examples.qplex_lite", "examples.qplex_lyte"))
    missing = runner.invoke(app, ["validate", str(spec)])
    assert missing.exit_code == 2
    assert "plugins.0: no module named 'examples.qplex_lyte'" in missing.output and f"[{spec} line 2]" in missing.output

    schema = runner.invoke(app, ["schema"])
    assert schema.exit_code == 0 and '"qplex_lite"' in schema.output


def test_register_refuses_clashes(plugin_loaded: object) -> None:
    from examples.qplex_lite import QPLEXLiteSpec, build
    from marlspec import register_algorithm

    assert register_algorithm(QPLEXLiteSpec, build) == "qplex_lite"  # the same pair again: nothing changes

    class Other(OffPolicySpec):
        kind: Literal["qplex_lite"] = "qplex_lite"

    with pytest.raises(ValueError, match="'qplex_lite' is already registered by examples.qplex_lite.QPLEXLiteSpec"):
        register_algorithm(Other, build)

    class ShadowsQMIX(OffPolicySpec):
        kind: Literal["qmix"] = "qmix"

    with pytest.raises(ValueError, match="'qmix' is already built in"):
        register_algorithm(ShadowsQMIX, build)
    with pytest.raises(ValueError, match="'qplex_lite' is already built by examples.qplex_lite.build"):
        register_algorithm(QPLEXLiteSpec, lambda *a: None)

    class NoKind(Spec):
        x: int = 1

    with pytest.raises(TypeError, match="needs a field `kind"):
        register_algorithm(NoKind, build)
    with pytest.raises(SpecError, match="unknown kind 'qmix2'"):  # the union still rejects unknown kinds
        parse_spec(SPEC.replace("kind: qplex_lite", "kind: qmix2"))


def test_every_plugin_field_is_read(plugin_loaded: object) -> None:
    """The spec-field walk of tests/test_spec_fields.py holds for the plugin's kind too."""
    from tests.test_spec_fields import walk

    walk("qplex_lite", SPEC)


def test_entry_points_are_loaded(plugin_loaded: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin (a `marlspec.algorithms` entry point) registers with no `plugins:` list."""
    import importlib.metadata

    ep = importlib.metadata.EntryPoint("qplex_lite", "examples.qplex_lite", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [ep] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    spec = parse_spec(SPEC.replace("plugins: [examples.qplex_lite]\n", ""))
    assert spec.algorithm.kind == "qplex_lite"

    broken = importlib.metadata.EntryPoint("broken", "examples.no_such_plugin", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    with pytest.raises(SpecError, match=r"the installed plugin 'broken = examples.no_such_plugin' .* failed"):
        parse_spec(SPEC)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run of the plugin, by `marlspec run` in a subprocess."""
    tmp = tmp_path_factory.mktemp("plugin")
    (tmp / "q.yaml").write_text(SPEC)
    proc = _cli("run", str(tmp / "q.yaml"), "--set", f"log.out_dir={tmp / 'runs'}", "-q")
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp / "runs").iterdir()
    return run


def test_run_outputs_carry_the_plugin_name(reference: Path) -> None:
    assert reference.name.startswith("qplex_tiny-")
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["algorithm"] == "qplex_lite" and summary["status"] == "completed"
    assert summary["env_steps_per_seed"] == 320
    marl_eval = json.loads((reference / "marl_eval.json").read_text())
    assert [list(algorithms) for tasks in marl_eval.values() for algorithms in tasks.values()] == [["qplex_lite"]]
    assert (reference / "plots" / "learning_curve.png").stat().st_size > 0
    assert "plugins:\n- examples.qplex_lite\n" in (reference / "spec.yaml").read_text()  # eval/resume re-import it
    learned = [r for r in _rows(reference) if "td_loss" in r and r.get("learning")]
    assert learned, "the plugin's loss must be reported once the replay holds a batch"


def test_eval_rebuilds_the_plugin(reference: Path) -> None:
    proc = _cli("eval", str(reference), "--episodes", "4")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["return_per_seed"]) == {"0", "1"} and result["episodes"] == 4


def test_killed_plugin_run_resumes_bit_identical(reference: Path, tmp_path: Path) -> None:
    (tmp_path / "q.yaml").write_text(SPEC)
    out = tmp_path / "run"
    killed = _cli("run", str(tmp_path / "q.yaml"), "--out", str(out), "-q", driver=("chunk", 2))
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert not (out / "summary.json").exists()
    resumed = _cli("run", "--resume", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert _summary(out) == _summary(reference)
    assert _rows(out) == _rows(reference)
    assert (out / "marl_eval.json").read_bytes() == (reference / "marl_eval.json").read_bytes()
