"""The run directory: resolved spec, metrics.jsonl, summary.json, checkpoint,
marl-eval JSON and plots.

Files are written so that a run killed at any instant (`kill -9`, a pre-empted job) can be
resumed with results bit-identical to a run that was never interrupted:

- Every file that is replaced is written to a temporary name, flushed, fsync'ed and renamed
  over the old one (`write_atomic`), so it is always either the old or the new version.
- `metrics.jsonl` is only appended to; a line cut short by a kill is ignored when read.
- A checkpoint is the whole training state: `checkpoint.eqx` holds the runner state (the
  learner with its optimiser states, the environments' states, the RNG keys, the update
  count) without an off-policy learner's replay buffer, so that the file `marlspec eval`
  reads stays small; the replay goes to `replay-<updates>.eqx`. The replay file is written
  first under a new name, then `checkpoint.eqx` is replaced (the commit), then older replay
  files are deleted: a kill at any point leaves a checkpoint whose replay file exists.
- `checkpoint.json` describes the checkpoint for people; resuming reads the update count from
  `checkpoint.eqx` itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import equinox as eqx
import jax
import numpy as np

from marlspec.spec import ExperimentSpec, dump_spec
from marlspec.spec.loading import one_line

SPEC_FILE = "spec.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.eqx"
CHECKPOINT_META = "checkpoint.json"
MARL_EVAL_FILE = "marl_eval.json"
REPLAY_PREFIX = "replay-"


class RunDirError(ValueError):
    """An expected problem with a run directory (it exists, it is not a run, it cannot be
    written, its checkpoint is corrupt or does not match its spec). `str(err)` is one line."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class CheckpointError(RunDirError):
    """A checkpoint that is missing, truncated, corrupt, or written for another spec."""


def _has_replay(learner: Any) -> bool:
    return getattr(learner, "replay", None) is not None


def _without_replay(learner: Any) -> Any:
    """`learner` with its `replay` field (off-policy learners) set to None."""
    if not _has_replay(learner):
        return learner
    return eqx.tree_at(lambda t: t.replay, learner, None)


def _state_without_replay(state: Any) -> Any:
    """A runner state (with a `learner` field) whose learner has no replay."""
    return eqx.tree_at(lambda s: s.learner, state, _without_replay(state.learner))


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Replace `path` with what `write(file)` writes: into `path.tmp`, flushed and fsync'ed,
    then renamed over `path` (readers see the old file or the new one, never a mix)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_json(path: Path, data: Any) -> None:
    text = (json.dumps(_clean(data), indent=2) + "\n").encode()
    write_atomic(path, lambda f: f.write(text))


def _serialise(tree: Any) -> Callable[[IO[bytes]], None]:
    return lambda f: eqx.tree_serialise_leaves(f, tree)


def _deserialise(path: Path, like: Any, whole: bool) -> Any:
    """Read `path` into the structure of `like`; with `whole`, the file must hold nothing more."""
    if not path.exists():
        raise CheckpointError(f"{path}: missing")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty (0 bytes); the run was stopped while writing it")
    try:
        with open(path, "rb") as f:
            out = eqx.tree_deserialise_leaves(f, like)
            rest = f.read(1)
    except Exception as err:  # noqa: BLE001 - numpy/equinox raise many kinds; all mean the same here
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: truncated, corrupt, or written for another spec.yaml ({size:,} bytes;"
                              f" {type(err).__name__}: {reason[:160]})") from None
    if whole and rest:
        raise CheckpointError(f"{path}: holds more than this spec's training state (written for another spec.yaml?)")
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a line that does not parse (one cut short by a
    kill) is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


class RunDir:
    def __init__(self, path: Path, trackers: list[Any] | None = None):
        self.path = Path(path)
        self.trackers = trackers or []
        """Optional TensorBoard / W&B trackers (`marlspec.io.loggers`) fed what metrics.jsonl gets."""

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, spec: ExperimentSpec, out: str | Path | None = None, overwrite: bool = False) -> RunDir:
        """A new run directory. An existing, non-empty `out` is refused unless `overwrite`
        (and then only if it is a run directory: nothing else is ever deleted)."""
        if out is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path(spec.log.out_dir) / f"{spec.name}-{stamp}"
            path, n = base, 1
            while path.exists():
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        else:
            path = Path(out)
        if cls.check_new(path, overwrite):
            try:
                shutil.rmtree(path)
            except OSError as err:
                raise RunDirError(f"cannot delete {path} for --overwrite: {err.strerror or err}") from None
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / "plots").mkdir(exist_ok=True)
            text = dump_spec(spec).encode()
            write_atomic(path / SPEC_FILE, lambda f: f.write(text))
            (path / METRICS_FILE).write_text("")
        except OSError as err:
            raise RunDirError(f"cannot write the run directory {path}: {err.strerror or err}; choose another --out"
                              ) from None
        return cls(path).attach_trackers(spec)

    def attach_trackers(self, spec: ExperimentSpec) -> RunDir:
        """Start the trackers `spec.log` asks for (a new run, or a resumed one: TensorBoard
        adds an event file, W&B continues the same run)."""
        from marlspec.io.loggers import make_trackers

        self.trackers = make_trackers(spec.log, self.path, spec.model_dump(mode="json"))
        return self

    @classmethod
    def check_new(cls, path: Path, overwrite: bool) -> bool:
        """Whether a new run in `path` must first delete it (an existing run, with `overwrite`);
        raises `RunDirError` where no new run may go."""
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{path} is a file, not a directory; choose another --out")
        if not (path.is_dir() and any(path.iterdir())):
            return False
        if not overwrite:
            raise RunDirError(f"{path} already exists; continue it with --resume {path}, or replace it with --overwrite")
        if not cls.is_run(path):
            raise RunDirError(f"{path} is not a run directory (no {SPEC_FILE}); refusing to delete it with"
                              " --overwrite; choose another --out")
        return True

    @staticmethod
    def is_run(path: Path) -> bool:
        return (Path(path) / SPEC_FILE).is_file()

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory (for `--resume` and `eval`)."""
        p = Path(path)
        if not p.exists():
            raise RunDirError(f"{p}: no such directory; pass a run directory written by `marlspec run`")
        if not p.is_dir() or not cls.is_run(p):
            raise RunDirError(f"{p} is not a run directory (no {SPEC_FILE}); pass one written by `marlspec run`")
        return cls(p)

    def spec_text(self) -> str:
        return (self.path / SPEC_FILE).read_text()

    # ------------------------------------------------------------------ metrics
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        with open(self.path / METRICS_FILE, "a") as f:
            for record in records:
                f.write(json.dumps(_clean(record)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for tracker in self.trackers:
            tracker.log(records)

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / METRICS_FILE)

    def truncate_metrics(self, env_steps: int) -> list[dict[str, Any]]:
        """Keep the records up to `env_steps` (a resumed run writes the later ones again)."""
        kept = [r for r in self.read_metrics() if isinstance(r.get("env_steps"), int) and r["env_steps"] <= env_steps]
        text = "".join(json.dumps(_clean(r)) + "\n" for r in kept).encode()
        write_atomic(self.path / METRICS_FILE, lambda f: f.write(text))
        return kept

    # -------------------------------------------------------------- checkpoints
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT_FILE).exists()

    def save_checkpoint(self, state: Any, meta: dict[str, Any]) -> None:
        """Write a runner state (a pytree with `learner` and `updates` fields, leading axis =
        seeds): the replay of an off-policy learner to `replay-<updates>.eqx`, the rest to
        `checkpoint.eqx`, then `checkpoint.json` (see the module docstring for the order)."""
        learner = state.learner
        replay_name = None
        if _has_replay(learner):
            updates = int(np.asarray(state.updates).reshape(-1)[0])
            replay_name = f"{REPLAY_PREFIX}{updates}.eqx"
            write_atomic(self.path / replay_name, _serialise(learner.replay))
        write_atomic(self.path / CHECKPOINT_FILE, _serialise(_state_without_replay(state)))
        write_json(self.path / CHECKPOINT_META, meta | ({"replay": replay_name} if replay_name else {}))
        for old in self.path.glob(f"{REPLAY_PREFIX}*.eqx"):
            if old.name != replay_name:
                old.unlink(missing_ok=True)

    def load_state(self, template: Any) -> Any:
        """The whole training state of the last checkpoint, read into `template` (a runner
        state for this run's spec), with the replay from its own file."""
        state = _deserialise(self.path / CHECKPOINT_FILE, _state_without_replay(template), whole=True)
        if _has_replay(template.learner):
            updates = int(np.asarray(state.updates).reshape(-1)[0])
            replay = _deserialise(self.path / f"{REPLAY_PREFIX}{updates}.eqx", template.learner.replay, whole=True)
            state = eqx.tree_at(lambda s: s.learner.replay, state, replay, is_leaf=lambda x: x is None)
        return state

    def load_checkpoint(self, template: Any) -> Any:
        """The learner of the last checkpoint, read into `template` (a learner). Off-policy
        learners get `template`'s replay (a fresh, empty one), since only the networks are
        needed to evaluate. The learner is the first part of `checkpoint.eqx`, so this also
        reads checkpoints written before they held the whole runner state."""
        loaded = _deserialise(self.path / CHECKPOINT_FILE, _without_replay(template), whole=False)
        if _has_replay(template):
            loaded = eqx.tree_at(lambda t: t.replay, loaded, template.replay, is_leaf=lambda x: x is None)
        return loaded

    def read_meta(self) -> dict[str, Any]:
        try:
            meta = json.loads((self.path / CHECKPOINT_META).read_text())
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    # ---------------------------------------------------------- summary, evals
    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write summary.json; the run is over, so the trackers get the summary and are closed."""
        write_json(self.path / SUMMARY_FILE, summary)
        trackers, self.trackers = self.trackers, []
        for tracker in trackers:
            tracker.close(summary)

    def read_summary(self) -> dict[str, Any] | None:
        try:
            summary = json.loads((self.path / SUMMARY_FILE).read_text())
        except (OSError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None

    def write_marl_eval(self, spec: ExperimentSpec, evals: dict[int, list[dict[str, Any]]],
                        compositions: dict[str, dict[int, list[dict[str, Any]]]] | None = None) -> None:
        """marl-eval's JSON layout: env -> task -> algorithm -> seed_k -> step_i -> metrics,
        plus `absolute_metrics` from the final evaluation. `evals[seed]` is a list of
        `{"env_steps", "return": [per episode], "win_rate"?: [..]}`. Each held-out team
        composition (`eval.compositions`) is a task of its own, `<task>@<name>`."""
        env_name, _, task = spec.env.label.partition("/")
        task = task or env_name

        def seeds_of(per_seed: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
            seeds: dict[str, Any] = {}
            for seed, records in per_seed.items():
                steps = {
                    f"step_{i}": {"step_count": r["env_steps"], **{k: v for k, v in r.items() if k != "env_steps"}}
                    for i, r in enumerate(records)
                }
                if records:
                    steps["absolute_metrics"] = {k: v for k, v in records[-1].items() if k != "env_steps"}
                seeds[f"seed_{seed}"] = steps
            return seeds

        tasks = {task: {spec.algorithm.kind: seeds_of(evals)}}
        for name, per_seed in (compositions or {}).items():
            tasks[f"{task}@{name}"] = {spec.algorithm.kind: seeds_of(per_seed)}
        write_json(self.path / MARL_EVAL_FILE, {env_name: tasks})

    def read_marl_eval(self, spec: ExperimentSpec, env_steps: int,
                       composition: str | None = None) -> dict[int, list[dict[str, Any]]]:
        """The per-seed evaluation entries of `marl_eval.json` up to `env_steps` (the inverse
        of `write_marl_eval`), of the spec's task or of a held-out `composition`; empty lists
        where the file is missing."""
        out: dict[int, list[dict[str, Any]]] = {s: [] for s in spec.train.seeds}
        try:
            data = json.loads((self.path / MARL_EVAL_FILE).read_text())
            env_name, _, task = spec.env.label.partition("/")
            name = (task or env_name) + (f"@{composition}" if composition else "")
            seeds = data[env_name][name][spec.algorithm.kind]
        except (OSError, ValueError, KeyError, TypeError):
            return out
        for seed in out:
            steps = seeds.get(f"seed_{seed}", {})
            i = 0
            while f"step_{i}" in steps:
                entry = dict(steps[f"step_{i}"])
                count = entry.pop("step_count")
                if count <= env_steps:
                    out[seed].append({"env_steps": count, **entry})
                i += 1
        return out


class CheckpointWriter:
    """Writes a run's checkpoints on one background thread, so that training goes on while the
    bytes reach the disk (an off-policy checkpoint holds the whole replay: 119 MB for QMIX on
    SMAX 3m). `save` snapshots the state first (a device copy: the next training chunk donates
    the original buffers), after waiting for the previous write, so at most one write is in
    flight and checkpoints land in order. A write's error is raised by the next `save` or
    `wait`. `written` is the metadata of the last checkpoint that is complete on disk."""

    def __init__(self, rundir: RunDir):
        self.rundir = rundir
        self.written: dict[str, Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Future[None], dict[str, Any]] | None = None

    def save(self, state: Any, meta: dict[str, Any]) -> None:
        self.wait()
        snapshot = jax.tree.map(lambda x: x.copy() if isinstance(x, jax.Array) else x, state)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="marlspec-checkpoint")
        self._pending = (self._pool.submit(self.rundir.save_checkpoint, snapshot, meta), meta)

    def wait(self) -> None:
        """Block until the write in flight (if any) is on disk; raise its error, if it had one."""
        if self._pending is None:
            return
        future, meta = self._pending
        self._pending = None
        future.result()
        self.written = meta

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
