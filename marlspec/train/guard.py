"""The divergence guard: find the first non-finite loss term or learner state in a chunk.

Every update reports its loss terms (by convention, every metric whose name ends in `_loss`,
whatever the algorithm) and `learner_finite` (`marlspec.train.experiment.learner_finite`: one
reduction over the parameters, optimiser states and targets, computed inside the compiled
chunk). The runner reads these per-update, per-seed values after each chunk; the first
non-finite one stops the run before its state is evaluated or saved, so the checkpoint on
disk is the last finite one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marlspec.train.experiment import FINITE_METRIC

LOSS_SUFFIX = "_loss"


class Diverged(FloatingPointError):
    """Training produced a non-finite loss term or learner state."""

    def __init__(self, seed: int, update: int, env_steps: int, term: str, value: float | None):
        self.seed, self.update, self.env_steps, self.term, self.value = seed, update, env_steps, term, value
        what = (f"{term} = {value}" if term != FINITE_METRIC
                else "the learner state (parameters, optimiser or targets) holds nan or inf")
        super().__init__(f"seed {seed}, update {update} (env step {env_steps:,}): {what}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable (a Ray sweep sends it back from its worker) with its message as amended."""
        return (_restore, (self.seed, self.update, self.env_steps, self.term, self.value, self.args))

    def describe(self) -> dict[str, Any]:
        """The fields summary.json records under `diverged`."""
        return {"seed": self.seed, "update": self.update, "env_steps": self.env_steps, "term": self.term,
                "value": None if self.value is None else str(self.value)}


def _restore(seed: int, update: int, env_steps: int, term: str, value: float | None, args: tuple[Any, ...]) -> Diverged:
    err = Diverged(seed, update, env_steps, term, value)
    err.args = args
    return err


def guarded_terms(metrics: dict[str, Any]) -> list[str]:
    """The metrics the guard reads: every `*_loss` term (sorted), then `learner_finite`."""
    return sorted(k for k in metrics if k.endswith(LOSS_SUFFIX)) + ([FINITE_METRIC] if FINITE_METRIC in metrics else [])


def first_nonfinite(metrics: dict[str, np.ndarray], seeds: list[int], updates_before: int,
                    steps_per_update: int) -> Diverged | None:
    """The earliest (update, then seed, then term) non-finite value in a chunk's metrics,
    each of shape `[seeds, updates, ...]`, as a `Diverged`; None if every value is finite.
    `learner_finite` counts as non-finite where it is not 1."""
    first: tuple[int, int, int, str, float | None] | None = None
    for order, term in enumerate(guarded_terms(metrics)):
        values = np.asarray(metrics[term], dtype=np.float64)
        values = values.reshape(values.shape[0], values.shape[1], -1) if values.ndim >= 2 else values.reshape(len(seeds), -1, 1)
        bad = (values != 1.0) if term == FINITE_METRIC else ~np.isfinite(values)
        bad = bad.any(axis=-1)  # [seeds, updates]
        if not bad.any():
            continue
        seed_i, update_i = min(zip(*np.nonzero(bad), strict=True), key=lambda su: (su[1], su[0]))
        if first is None or (update_i, seed_i, order) < (first[0], first[1], first[2]):
            value = None if term == FINITE_METRIC else float(values[seed_i, update_i][~np.isfinite(values[seed_i, update_i])][0])
            first = (int(update_i), int(seed_i), order, term, value)
    if first is None:
        return None
    update_i, seed_i, _, term, value = first
    update = updates_before + update_i + 1
    return Diverged(seeds[seed_i], update, update * steps_per_update, term, value)
