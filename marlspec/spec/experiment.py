"""The top-level experiment spec and its training, evaluation and logging parts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, computed_field, field_validator, model_validator

from marlspec.spec.algorithms import AlgorithmSpec
from marlspec.spec.base import Spec, fail
from marlspec.spec.envs import EnvSpec
from marlspec.spec.networks import MLPSpec, NetworkSpec


class TrainSpec(Spec):
    """How long and how wide to train."""

    total_env_steps: int = Field(default=100_000, ge=1)
    """Environment steps per seed (one step of one environment counts once, whatever the agent count)."""
    num_envs: int = Field(default=16, ge=1)
    """Environments stepped in parallel (vmapped)."""
    rollout_length: int = Field(default=128, ge=1)
    """Steps per environment between updates."""
    seeds: list[int] = Field(default_factory=lambda: [0])
    """Seeds trained side by side inside one compiled program (vmapped)."""
    lr: float = Field(default=5e-4, gt=0.0)
    """Learning rate (Adam)."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over training."""

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds:
            raise ValueError("needs at least one seed, e.g. [0]")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct (got {seeds})")
        return seeds

    @computed_field  # type: ignore[prop-decorator]
    @property
    def steps_per_update(self) -> int:
        """Environment steps consumed by one update."""
        return self.num_envs * self.rollout_length

    @computed_field  # type: ignore[prop-decorator]
    @property
    def num_updates(self) -> int:
        """Number of updates (total_env_steps rounded down to whole updates)."""
        return self.total_env_steps // self.steps_per_update


class EvalSpec(Spec):
    """Periodic evaluation of the execution (decentralized) policy."""

    interval: int = Field(default=10_000, ge=1)
    """Environment steps between evaluations; also the size of one compiled training chunk."""
    episodes: int = Field(default=32, ge=1)
    """Episodes per evaluation (run in parallel)."""
    greedy: bool = True
    """Act greedily (mode of each policy) during evaluation; false samples."""


class LogSpec(Spec):
    """Outputs of a run."""

    out_dir: str = "runs"
    """Parent folder of run directories."""
    progress: bool = True
    """Show a progress bar."""
    checkpoint: bool = True
    """Save the learner state after every chunk."""
    plot: bool = True
    """Write plots/learning_curve.png at the end."""


class ExperimentSpec(Spec):
    """A complete experiment: environment x algorithm x network, plus budget, evaluation and logging."""

    name: str = Field("experiment", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    """Run name, used in the run directory name (letters, digits, `_ . -`)."""
    env: EnvSpec
    """The environment."""
    algorithm: AlgorithmSpec
    """The algorithm."""
    network: NetworkSpec = Field(default_factory=MLPSpec)
    """The actor/critic torso."""
    train: TrainSpec = Field(default_factory=TrainSpec)
    """Training budget and batch shape."""
    eval: EvalSpec = Field(default_factory=EvalSpec)
    """Evaluation schedule."""
    log: LogSpec = Field(default_factory=LogSpec)
    """Outputs."""

    @model_validator(mode="after")
    def _compatible(self) -> ExperimentSpec:
        algo, env, train = self.algorithm, self.env, self.train
        if env.action_type == "continuous" and not algo.supports_continuous:
            fail(
                "algorithm.kind",
                f"{algo.kind} needs discrete actions; env {env.label} is continuous"
                " (choose an algorithm that supports continuous actions)",
            )
        wrong_kind = "discrete_only" if env.action_type == "continuous" else "continuous_only"
        stray = sorted(set(getattr(algo, wrong_kind, ())) & algo.model_fields_set)
        if stray:
            needs = "discrete" if wrong_kind == "discrete_only" else "continuous"
            fail(f"algorithm.{stray[0]}", f"{stray[0]} applies only to {needs} actions; env {env.label} is"
                 f" {env.action_type}, so remove it")
        minibatches = getattr(algo, "num_minibatches", None)
        if minibatches is not None and train.num_envs % minibatches:
            fail(
                "algorithm.num_minibatches",
                f"minibatch count {minibatches} does not divide train.num_envs = {train.num_envs}"
                " (minibatches hold whole environment sequences); pick a divisor",
                minibatches,
            )
        if train.num_updates < 1:
            fail(
                "train.total_env_steps",
                f"{train.total_env_steps} is less than one update of num_envs x rollout_length"
                f" = {train.steps_per_update} steps; raise it or shrink the batch",
                train.total_env_steps,
            )
        return self

    @property
    def updates_per_chunk(self) -> int:
        """Updates compiled into one chunk: one eval interval's worth, at least one."""
        return max(1, min(self.train.num_updates, self.eval.interval // self.train.steps_per_update))

    @property
    def mode_label(self) -> Literal["greedy", "stochastic"]:
        return "greedy" if self.eval.greedy else "stochastic"
