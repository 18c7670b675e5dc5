"""Resume after `kill -9`: a run killed at any point and resumed ends bit-identical to a run
that was never interrupted (summary.json and metrics.jsonl apart from wall-clock fields,
marl_eval.json, and the bytes of the checkpoint and of the off-policy replay), for an
on-policy (MAPPO) and an off-policy (QMIX) algorithm.

Each killed run is a real process that receives SIGKILL (`tests/kill_driver.py`): while the
training chunk compiles, while a chunk runs, and half-way through writing a checkpoint file.
The budgets are 5 updates in chunks of 2, so the last chunk is a padded one. One kill point
per family runs in the fast suite; the others are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "kill_driver.py"
WALL_CLOCK = {"wall_time", "sps", "train_seconds", "compile_seconds", "wall_seconds"}

SPECS = {
    "mappo": """
name: kill_mappo
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 320, num_envs: 4, rollout_length: 16, seeds: [0, 1]}
eval: {interval: 128, episodes: 4}
log: {progress: false, plot: false}
""",
    "qmix": """
name: kill_qmix
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm: {kind: qmix, buffer_size: 40, batch_size: 4, target_update_interval: 8, mixing_embed: 8, hypernet_embed: 8}
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 320, num_envs: 4, rollout_length: 16, seeds: [0, 1]}
eval: {interval: 128, episodes: 4}
log: {progress: false, plot: false}
""",
    # MIPI with a held-out team composition: its results (marl_eval.json task `@BB`, the
    # summary's `compositions`) before the kill come back from disk (`CompositionEvals.restore`).
    "mipi": """
name: kill_mipi
env: {kind: team_matrix, teams: [AB, BA]}
algorithm: {kind: mipi, buffer_size: 40, batch_size: 4, target_update_interval: 8, mixing_embed: 8, attention_heads: 1}
network: {kind: entity, embed: 8, heads: 1, hidden: 8, recurrent: false}
train: {total_env_steps: 20, num_envs: 4, rollout_length: 1, seeds: [0, 1]}
eval: {interval: 8, episodes: 4, compositions: {BB: {teams: [BB]}}}
log: {progress: false, plot: false}
""",
}
# (family, kill point, N): the N-th compilation / chunk / checkpoint file. MAPPO writes one
# .eqx per checkpoint (after the evaluations at updates 0, 2, 4, 5); QMIX two (replay first,
# then the state), so its 6th file is the state at update 4, written after replay-4.eqx.
KILLS = [
    ("mappo", "checkpoint", 3), ("mappo", "compile", 1), ("mappo", "chunk", 2),
    ("qmix", "checkpoint", 6), ("qmix", "checkpoint", 5), ("qmix", "compile", 1), ("qmix", "chunk", 3),
    ("mipi", "checkpoint", 6),
]
FAST = {("mappo", "checkpoint", 3), ("qmix", "checkpoint", 6), ("mipi", "checkpoint", 6)}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"  # these programs run for milliseconds: compile them fast
    return env


def _cli(*args: str, driver: tuple[str, int] | None = None) -> subprocess.CompletedProcess[str]:
    prefix = [sys.executable, str(DRIVER), driver[0], str(driver[1]), "--"] if driver else \
        [sys.executable, "-m", "marlspec.cli"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=900)


def _spec_file(tmp: Path, family: str) -> Path:
    path = tmp / f"{family}.yaml"
    path.write_text(SPECS[family])
    return path


class _References(dict):
    """One uninterrupted run per family, through the same command line, made when first asked for
    (so that a selection of the tests runs only the families it needs)."""

    def __init__(self, tmp: Path):
        super().__init__()
        self.tmp = tmp

    def __missing__(self, family: str) -> Path:
        proc = _cli("run", str(_spec_file(self.tmp, family)), "--out", str(self.tmp / family), "-q")
        assert proc.returncode == 0, proc.stderr
        self[family] = self.tmp / family
        return self[family]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _References(tmp_path_factory.mktemp("reference"))


def _rows(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK}
            for line in (path / "metrics.jsonl").read_text().splitlines()]


def _summary(path: Path) -> dict:
    return {k: v for k, v in json.loads((path / "summary.json").read_text()).items() if k not in WALL_CLOCK}


def assert_identical(run: Path, ref: Path) -> None:
    assert _summary(run) == _summary(ref)
    assert _summary(run)["status"] == "completed"
    assert _rows(run) == _rows(ref)
    assert (run / "marl_eval.json").read_bytes() == (ref / "marl_eval.json").read_bytes()
    binaries = sorted(p.name for p in ref.glob("*.eqx"))
    assert binaries == sorted(p.name for p in run.glob("*.eqx"))
    for name in binaries:
        assert (run / name).read_bytes() == (ref / name).read_bytes(), name
    assert not list(run.glob("*.tmp")), "the resumed run rewrites (and so consumes) the file the kill cut short"
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in ref.iterdir())


def _params() -> list:
    return [pytest.param(*k, id="-".join(map(str, k)), marks=() if k in FAST else pytest.mark.slow) for k in KILLS]


@pytest.mark.parametrize(("family", "point", "n"), _params())
def test_killed_run_resumes_bit_identical(family: str, point: str, n: int, reference: dict[str, Path],
                                          tmp_path: Path) -> None:
    out = tmp_path / "run"
    killed = _cli("run", str(_spec_file(tmp_path, family)), "--out", str(out), "-q", driver=(point, n))
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert not (out / "summary.json").exists()  # nothing got to record an end
    if point == "checkpoint":
        assert list(out.glob("*.eqx.tmp")), "the kill must land inside a checkpoint write"
    if point == "compile":
        assert {r["env_steps"] for r in _rows(out)} == {0}  # only the evaluation before training
    if family == "mipi":  # the held-out composition was evaluated before the kill, at updates 0 and 2
        assert {r["env_steps"] for r in _rows(out) if "compositions" in r} >= {0, 8}
    if family in ("qmix", "mipi") and (point, n) == ("checkpoint", 6):
        # the new replay was complete but its state was not: the previous pair must be used
        assert (out / "replay-4.eqx").exists() and (out / "replay-2.eqx").exists()
    if (family, point) == ("qmix", "checkpoint"):
        import jax

        from marlspec.train.runner import resume  # the same from Python

        before = jax.config.read("jax_disable_most_optimizations")
        jax.config.update("jax_disable_most_optimizations", True)  # as in the subprocesses
        try:
            resume(out, progress=False)
        finally:
            jax.config.update("jax_disable_most_optimizations", before)
    else:
        resumed = _cli("run", "--resume", str(out), "-q")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith("done: ")
    assert_identical(out, reference[family])


def test_resuming_a_completed_run_changes_nothing(reference: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "done"
    shutil.copytree(reference["mappo"], copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    proc = _cli("run", "--resume", str(copy), "-q")
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before
