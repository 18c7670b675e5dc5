"""Optional experiment trackers beside metrics.jsonl, chosen in the spec's `log` section:
TensorBoard event files (`log.tensorboard: true`, extra `tensorboard`) and Weights & Biases
(`log.wandb: {...}`, extra `wandb`, offline by default so nothing needs a network).

Each receives exactly the records appended to metrics.jsonl: one per evaluation per seed. A
record's numbers become scalars named `seed_<seed>/<key>` at step `env_steps` (per seed, since
the seeds of one run are independent runs that share a clock); null values (a win rate that the
environment does not report, an episode mean before any episode ended) are skipped.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from marlspec.spec.experiment import LogSpec

SKIP = ("env_steps", "seed")
"""Record keys that index the scalars rather than being one."""


@runtime_checkable
class Tracker(Protocol):
    def log(self, records: list[dict[str, Any]]) -> None: ...

    def close(self, summary: dict[str, Any] | None = None) -> None: ...


def scalars(records: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """`{env_steps: {"seed_<s>/<key>": value}}` for every finite number in `records`."""
    out: dict[int, dict[str, float]] = {}
    for r in records:
        step = int(r["env_steps"])
        for key, value in r.items():
            if key in SKIP or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            out.setdefault(step, {})[f"seed_{r['seed']}/{key}"] = float(value)
    return out


class TensorBoard:
    """Event files in `<run dir>/tensorboard/` (tensorboardX, no TensorFlow needed)."""

    def __init__(self, run_dir: Path):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(run_dir / "tensorboard"))

    def log(self, records: list[dict[str, Any]]) -> None:
        for step, values in scalars(records).items():
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self, summary: dict[str, Any] | None = None) -> None:
        self.writer.close()


class WandB:
    """A Weights & Biases run whose files live in `<run dir>/wandb/`; its config is the resolved
    spec, its history the records (step = env_steps), its summary the run's summary.json."""

    def __init__(self, run_dir: Path, spec: dict[str, Any], log: LogSpec):
        import wandb

        w = log.wandb
        assert w is not None
        id_file = run_dir / "wandb" / "run_id"  # a resumed run (--resume) continues the same W&B run
        id_file.parent.mkdir(exist_ok=True)
        run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id)
        self.run = wandb.init(project=w.project, entity=w.entity, mode=w.mode, tags=list(w.tags), group=w.group,
                              name=run_dir.name, dir=str(run_dir), config=spec, reinit="finish_previous",
                              id=run_id, resume="allow")

    def log(self, records: list[dict[str, Any]]) -> None:
        for step, values in scalars(records).items():
            self.run.log({**values, "env_steps": step}, step=step)

    def close(self, summary: dict[str, Any] | None = None) -> None:
        if summary:
            self.run.summary.update({k: v for k, v in summary.items() if isinstance(v, int | float | str)})
        self.run.finish()


def make_trackers(log: LogSpec, run_dir: Path, spec: dict[str, Any]) -> list[Tracker]:
    """The trackers `log` asks for (none by default)."""
    trackers: list[Tracker] = []
    if log.tensorboard:
        trackers.append(TensorBoard(run_dir))
    if log.wandb is not None:
        trackers.append(WandB(run_dir, spec, log))
    return trackers
