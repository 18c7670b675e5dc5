"""The one interface every algorithm implements, and the trajectory it learns from."""

from __future__ import annotations

import abc
from typing import Any, Literal

import equinox as eqx
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from marlspec.envs.base import EnvInfo, TimeStep

Mode = Literal["behaviour", "execution"]
"""`behaviour` collects training data (a guider, a dependent or joint policy);
`execution` is the decentralized policy that gets deployed and evaluated."""

Carry = Any
LearnerState = Any


class Trajectory(eqx.Module):
    """A rollout of T steps from E environments, written by the runner.

    Step t holds what the agents saw (`obs`, `state`, `avail_actions`, `agent_mask`),
    what they did (`actions`, `extras` from `act`), and what followed (`reward`, the
    `terminated`/`truncated` flags, and `next_obs`/`next_state`, which are the *final*
    observation where the episode ended at t). `first[t]` is true where obs t starts an
    episode; recurrent learners reset their state there. `init_carry` is the carry at
    the rollout start, before that reset.
    """

    obs: Float[Array, "T E N obs"]
    state: Float[Array, "T E S"]
    avail_actions: Bool[Array, "T E N A"]
    agent_mask: Bool[Array, "T E N"]
    actions: Array
    reward: Float[Array, "T E"]
    terminated: Bool[Array, "T E"]
    truncated: Bool[Array, "T E"]
    next_obs: Float[Array, "T E N obs"]
    next_state: Float[Array, "T E S"]
    next_avail_actions: Bool[Array, "T E N A"]
    first: Bool[Array, "T E"]
    extras: dict[str, Array]
    init_carry: Carry


class Algorithm(eqx.Module):
    """`init` / `act` / `update`. Instances hold only static configuration; all learned
    quantities live in the `LearnerState` pytree that `init` returns.

    `act` handles ONE environment (the runner `vmap`s it over environments).
    """

    info: eqx.AbstractVar[EnvInfo]

    @property
    def distinct_behaviour(self) -> bool:
        """True when `behaviour` and `execution` policies differ (evaluation reports both)."""
        return False

    @abc.abstractmethod
    def init(self, key: PRNGKeyArray) -> LearnerState: ...

    @abc.abstractmethod
    def initial_carry(self) -> Carry:
        """The recurrent state of one environment at an episode start."""

    @abc.abstractmethod
    def act(
        self,
        state: LearnerState,
        timestep: TimeStep,
        carry: Carry,
        key: PRNGKeyArray,
        mode: Mode,
        greedy: bool = False,
    ) -> tuple[Array, Carry, dict[str, Array]]:
        """Actions for one environment, the next carry, and extras stored in the trajectory."""

    @abc.abstractmethod
    def update(
        self, state: LearnerState, batch: Trajectory, key: PRNGKeyArray
    ) -> tuple[LearnerState, dict[str, Array]]:
        """One learning step from a batch; returns scalar metrics."""
