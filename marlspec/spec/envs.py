"""Environment specs, one per `kind`. Each says what the environment is; the
implementation lives in `marlspec.envs` and is chosen in `marlspec.compile`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from marlspec.spec.base import Spec, fail

ActionType = Literal["discrete", "continuous"]

COORDSUM_TASKS: dict[str, tuple[int, int, int]] = {
    "3x10-30": (3, 10, 30),
    "3x30-50": (3, 30, 50),
    "5x20-80": (5, 20, 80),
    "8x15-100": (8, 15, 100),
}
"""MAGPO's four CoordSum tasks: name -> (agents, actions, max_target)."""

MATRIX_GAMES = ("climbing", "penalty", "nonmonotonic", "custom")


class MatrixGameSpec(Spec):
    """A cooperative matrix game: every agent picks an action and all receive the
    payoff of the joint action. One step, or repeated for `episode_length` steps."""

    kind: Literal["matrix"] = "matrix"
    game: Literal["climbing", "penalty", "nonmonotonic", "custom"] = "penalty"
    """Named game (payoffs in REFERENCE_FACTS.md) or `custom` with `payoff`."""
    k: float = -100.0
    """Miscoordination penalty of the penalty game; must be <= 0."""
    payoff: list | None = None
    """For `custom`: a nested list with one axis per agent (n agents, A actions each)."""
    episode_length: int = Field(1, ge=1, le=10_000)
    """1 for a one-shot game; more for the repeated game (observation = last joint action)."""

    @model_validator(mode="after")
    def _check(self) -> MatrixGameSpec:
        if self.game == "penalty" and self.k > 0:
            fail("env.k", f"the penalty game needs k <= 0 (got {self.k}); use e.g. k: -100")
        if self.game == "custom":
            if self.payoff is None:
                fail("env.payoff", "game 'custom' needs a payoff tensor; add payoff: [[1, 0], [0, 1]]")
            _check_payoff(self.payoff)
        elif self.payoff is not None:
            fail("env.payoff", f"payoff is only read for game 'custom' (got game '{self.game}')")
        return self

    @property
    def label(self) -> str:
        return f"matrix/{self.game}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"


def _check_payoff(payoff: list) -> None:
    """A payoff tensor must be a rectangular nested list of numbers, square on every axis."""

    def shape(x: object, depth: int) -> tuple[int, ...]:
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return ()
        if not isinstance(x, list) or not x:
            fail("env.payoff", f"payoff must be a nested list of numbers (got {x!r} at depth {depth})")
        inner = {shape(y, depth + 1) for y in x}
        if len(inner) != 1:
            fail("env.payoff", "payoff is ragged: every row must have the same length")
        return (len(x), *inner.pop())

    dims = shape(payoff, 0)
    if len(dims) < 2:
        fail("env.payoff", f"payoff needs one axis per agent and at least 2 agents (got shape {dims})")
    if len(set(dims)) != 1:
        fail("env.payoff", f"every agent needs the same number of actions (got shape {dims})")


class CoordSumSpec(Spec):
    """MAGPO's CoordSum (appendix B): agents must pick actions summing to a target
    while an adversary guesses agent 0's action from its history."""

    kind: Literal["coordsum"] = "coordsum"
    task: str | None = None
    """A named task (`3x10-30`, `3x30-50`, `5x20-80`, `8x15-100`); overrides the three fields below."""
    agents: int = Field(3, ge=2, le=64)
    """Number of agents."""
    actions: int = Field(10, ge=2, le=256)
    """Actions per agent (integers 0..actions-1)."""
    max_target: int = Field(30, ge=1)
    """Targets are drawn uniformly from [0, max_target)."""
    time_limit: int = Field(100, ge=1)
    """Episode length in steps."""
    reference_quirk: bool = False
    """Reproduce the reference implementation's clamped guess table (all targets >= actions-1 share a row)."""

    @model_validator(mode="after")
    def _check(self) -> CoordSumSpec:
        if self.task is not None and self.task not in COORDSUM_TASKS:
            import difflib

            close = difflib.get_close_matches(self.task, COORDSUM_TASKS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            fail("env.task", f"unknown CoordSum task '{self.task}'; {hint}choices: {', '.join(COORDSUM_TASKS)}")
        return self

    @property
    def resolved(self) -> tuple[int, int, int]:
        """(agents, actions, max_target), with the named task applied."""
        if self.task is not None:
            return COORDSUM_TASKS[self.task]
        return self.agents, self.actions, self.max_target

    @property
    def label(self) -> str:
        n, a, t = self.resolved
        return f"coordsum/{n}x{a}-{t}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"


MPE_SCENARIOS = ("simple_spread",)


class MPESpec(Spec):
    """Multi-Particle Environments through JaxMARL (cooperative scenarios)."""

    kind: Literal["mpe"] = "mpe"
    scenario: str = "simple_spread"
    """Scenario name, e.g. `simple_spread` (see `marlspec list envs`)."""
    max_steps: int = Field(25, ge=1)
    """Episode length (time limit, a truncation)."""

    @model_validator(mode="after")
    def _check(self) -> MPESpec:
        if self.scenario not in MPE_SCENARIOS:
            import difflib

            close = difflib.get_close_matches(self.scenario, MPE_SCENARIOS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            fail("env.scenario", f"unknown MPE scenario '{self.scenario}'; {hint}choices: {', '.join(MPE_SCENARIOS)}")
        return self

    @property
    def label(self) -> str:
        return f"mpe/{self.scenario}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"


EnvSpec = Annotated[MatrixGameSpec | CoordSumSpec | MPESpec, Field(discriminator="kind")]
"""Every environment kind, chosen by the `kind` field."""
