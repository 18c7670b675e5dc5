"""The run directory: resolved spec, metrics.jsonl, summary.json, checkpoint,
marl-eval JSON and plots. Files are written so that a run that fails part-way
keeps everything it had (metrics are appended; checkpoints are replaced atomically)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import equinox as eqx

from marlspec.spec import ExperimentSpec, dump_spec

SPEC_FILE = "spec.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.eqx"
CHECKPOINT_META = "checkpoint.json"
MARL_EVAL_FILE = "marl_eval.json"


def _has_replay(learner: Any) -> bool:
    return getattr(learner, "replay", None) is not None


def _without_replay(learner: Any) -> Any:
    """`learner` with its `replay` field (off-policy learners) set to None."""
    if not _has_replay(learner):
        return learner
    return eqx.tree_at(lambda t: t.replay, learner, None)


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n")
    os.replace(tmp, path)


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, spec: ExperimentSpec, out: str | Path | None = None) -> RunDir:
        if out is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            out = Path(spec.log.out_dir) / f"{spec.name}-{stamp}"
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        (path / "plots").mkdir(exist_ok=True)
        (path / SPEC_FILE).write_text(dump_spec(spec))
        (path / METRICS_FILE).write_text("")
        return cls(path)

    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        with open(self.path / METRICS_FILE, "a") as f:
            for record in records:
                f.write(json.dumps(_clean(record)) + "\n")
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / METRICS_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def save_checkpoint(self, learner: Any, meta: dict[str, Any]) -> None:
        """Write the learner state, without an off-policy learner's replay buffer (hundreds
        of MB on SMAX, and only the networks are needed to evaluate)."""
        tmp = self.path / (CHECKPOINT_FILE + ".tmp")
        eqx.tree_serialise_leaves(tmp, _without_replay(learner))
        os.replace(tmp, self.path / CHECKPOINT_FILE)
        write_json(self.path / CHECKPOINT_META, meta | ({"replay": "not saved"} if _has_replay(learner) else {}))

    def load_checkpoint(self, template: Any) -> Any:
        """Read a checkpoint into `template`'s structure; a replay buffer, which checkpoints
        do not hold, is taken from `template` (a fresh, empty one)."""
        loaded = eqx.tree_deserialise_leaves(self.path / CHECKPOINT_FILE, _without_replay(template))
        if _has_replay(template):
            loaded = eqx.tree_at(lambda t: t.replay, loaded, template.replay, is_leaf=lambda x: x is None)
        return loaded

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / SUMMARY_FILE, summary)

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
