"""Runners: the pure rollout/evaluation loops and the host loop around them."""

from marlspec.train.experiment import Experiment, RunnerState
from marlspec.train.rollout import ActorState, evaluate, rollout

__all__ = ["ActorState", "Experiment", "RunnerState", "evaluate", "rollout"]
