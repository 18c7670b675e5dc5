"""Run directories: no silent overwrite, and one line with exit code 2 for every expected
failure of `run` and `eval` (an existing directory, a directory that is not a run, an output
that cannot be written, a checkpoint that is empty, truncated or written for another spec);
`--debug` shows the traceback instead. Also: a budget that is not a multiple of the chunk
compiles one program."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import marlspec.train.runner as runner
from marlspec.cli import app
from marlspec.io.rundir import CheckpointError, RunDir, RunDirError
from marlspec.spec import parse_spec
from tests.test_runner import TINY


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (the spec of tests/test_runner.py, so its program is cached)."""
    return runner.run(parse_spec(TINY), tmp_path_factory.mktemp("done") / "run").path


@pytest.fixture()
def cli() -> CliRunner:
    return CliRunner()


def one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    text = result.output.strip()
    assert "\n" not in text and "Traceback" not in text and text.startswith("error: "), text
    return text


def copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    return out


def test_existing_run_is_not_overwritten(done: Path, cli: CliRunner, tmp_path: Path) -> None:
    before = (done / "metrics.jsonl").read_bytes()
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(TINY)
    text = one_line(cli.invoke(app, ["run", str(spec_file), "--out", str(done)]))
    assert f"{done} already exists" in text and f"--resume {done}" in text and "--overwrite" in text
    assert (done / "metrics.jsonl").read_bytes() == before
    with pytest.raises(RunDirError, match="already exists"):
        runner.run(parse_spec(TINY), done)


def test_overwrite_replaces_only_run_directories(done: Path, cli: CliRunner, tmp_path: Path) -> None:
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(TINY)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    text = one_line(cli.invoke(app, ["run", str(spec_file), "--out", str(precious), "--overwrite"]))
    assert "not a run directory" in text and "refusing to delete" in text
    assert (precious / "thesis.tex").read_text() == "years of work"
    again = copy(done, tmp_path)
    (again / "stale.txt").write_text("from the old run")
    rundir = runner.run(parse_spec(TINY), again, overwrite=True)
    assert not (rundir.path / "stale.txt").exists()
    assert json.loads((rundir.path / "summary.json").read_text())["status"] == "completed"
    assert RunDir.create(parse_spec(TINY), tmp_path / "empty_dir_is_fine").path.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(TINY)
    text = one_line(cli.invoke(app, ["run", str(spec_file), "--out", str(locked / "run")]))
    assert "cannot write the run directory" in text


def test_output_under_a_file_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    """An --out that cannot be created (its parent is a file): one line, and no claim that
    metrics or checkpoints were kept."""
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(TINY)
    (tmp_path / "afile").write_text("x")
    text = one_line(cli.invoke(app, ["run", str(spec_file), "--out", str(tmp_path / "afile" / "run")]))
    assert "cannot write the run directory" in text and "kept" not in text
    text = one_line(cli.invoke(app, ["run", str(spec_file), "--out", str(tmp_path / "afile")]))
    assert "is a file" in text


def test_resume_arguments_and_non_runs(cli: CliRunner, tmp_path: Path, done: Path) -> None:
    assert "drop SPEC" in one_line(cli.invoke(app, ["run", "x.yaml", "--resume", str(done)]))
    assert "missing SPEC" in one_line(cli.invoke(app, ["run"]))
    assert "no such directory" in one_line(cli.invoke(app, ["run", "--resume", str(tmp_path / "nope")]))
    assert "not a run directory" in one_line(cli.invoke(app, ["run", "--resume", str(tmp_path)]))
    assert "not a run directory" in one_line(cli.invoke(app, ["eval", str(tmp_path)]))


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "missing"])
def test_eval_of_a_damaged_checkpoint_is_one_line(damage: str, done: Path, cli: CliRunner, tmp_path: Path) -> None:
    run = copy(done, tmp_path)
    ckpt = run / "checkpoint.eqx"
    data = ckpt.read_bytes()
    if damage == "empty":
        ckpt.write_bytes(b"")
    elif damage == "truncated":
        ckpt.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        ckpt.write_bytes(os.urandom(len(data)))
    else:
        ckpt.unlink()
    text = one_line(cli.invoke(app, ["eval", str(run), "-n", "2"]))
    assert "checkpoint.eqx" in text
    resumed = cli.invoke(app, ["run", "--resume", str(run)])
    assert resumed.exit_code == 0  # a completed run is not touched, damaged or not
    # --debug shows the traceback instead of the line
    debug = cli.invoke(app, ["eval", str(run), "-n", "2", "--debug"])
    assert debug.exit_code != 0 and isinstance(debug.exception, RunDirError)


def test_checkpoint_for_another_spec_is_one_line(done: Path, cli: CliRunner, tmp_path: Path) -> None:
    run = copy(done, tmp_path)
    (run / "spec.yaml").write_text((run / "spec.yaml").read_text().replace("- 16", "- 32"))
    text = one_line(cli.invoke(app, ["eval", str(run), "-n", "2"]))
    assert "written for another spec.yaml" in text
    (run / "summary.json").unlink()  # now it looks unfinished: resume must refuse the mismatch too
    assert "checkpoint.eqx" in one_line(cli.invoke(app, ["run", "--resume", str(run)]))
    with pytest.raises(CheckpointError):
        runner.resume(run)


def test_spec_of_a_run_that_no_longer_loads(done: Path, cli: CliRunner, tmp_path: Path) -> None:
    run = copy(done, tmp_path)
    (run / "spec.yaml").write_text((run / "spec.yaml").read_text() + "bogus: 1\n")
    assert "bogus" in one_line(cli.invoke(app, ["eval", str(run)]))


def test_every_command_takes_debug(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["list", "algorithms", "--debug"]).exit_code == 0
    assert cli.invoke(app, ["schema", "--debug"]).exit_code == 0
    assert "unknown group" in one_line(cli.invoke(app, ["list", "nothing"]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {kind: nope}\nalgorithm: {kind: mappo}\n")
    one_line(cli.invoke(app, ["validate", str(bad)]))
    assert cli.invoke(app, ["validate", str(bad), "--debug"]).exception is not None


def test_budget_not_a_multiple_of_the_chunk_compiles_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5 updates in chunks of 2: chunks of 2, 2 and 1 run in one compiled program (the last
    padded), with the evaluations and the budget the spec asks for."""
    spec = parse_spec(TINY.replace("total_env_steps: 192", "total_env_steps: 320").replace("interval: 64", "interval: 128"))
    assert (spec.train.num_updates, spec.updates_per_chunk) == (5, 2)
    calls = []
    real = runner.compile_ahead
    monkeypatch.setattr(runner, "compile_ahead", lambda *a, **k: calls.append(1) or real(*a, **k))
    rundir = runner.run(spec, tmp_path / "padded")
    assert len(calls) == 1
    rows = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["updates"] for r in rows if r["seed"] == 0] == [0, 2, 4, 5]
    assert json.loads((rundir.path / "checkpoint.json").read_text())["updates"] == 5
    state = rundir.load_state(runner.init_states(runner_compile(spec), [0, 1]))
    assert state.updates.tolist() == [5, 5]  # the padding ran no update
    assert json.loads((rundir.path / "summary.json").read_text())["env_steps_per_seed"] == 320


def runner_compile(spec):
    from marlspec.compile import compile as compile_spec

    return compile_spec(spec)
