"""The team-composition matrix game of MIPI's section 5.1 (Wang, Ye & Lu, NeurIPS 2023).

Two agents, two actions, and a type per agent (A or B). Each episode is one joint step
in a *team composition* drawn uniformly from a list, e.g. (A, B) or (B, A); the payoff
table depends on the composition. The paper trains on (A, B) and (B, A) and evaluates
on (B, B). Its exact payoffs (its Figure 2) are not in the text we have; the ones in
`COMPOSITION_PAYOFFS` are ours, chosen to have the property the paper states: a
*generalizable* joint action (0, 0) earns the same in every composition but is optimal
in none.

    composition   payoff[a_1][a_2]                optimum
    (A, B)        [[1.0, 0.5], [0.5,  1.5]]       (1, 1) = 1.5
    (B, A)        [[1.0, 0.5], [0.5,  1.5]]       (1, 1) = 1.5
    (B, B)        [[1.0, 1.25], [1.25, -1.0]]     (0, 1), (1, 0) = 1.25
    (A, A)        [[1.0, 1.25], [1.25, -1.0]]     (0, 1), (1, 0) = 1.25

Read as: action 0 is individually safe (0.5 per agent who plays it, whoever the teammate
is); action 1 pays only through the teammate: two agents of different types coordinate
on (1, 1) for 1.5, two of the same type clash there (-1.0). A team that learns the
training optimum (1, 1) earns 1.5 in training and -1.0 on (B, B); the generalizable
(0, 0) earns 1.0 everywhere.

Observations are entity-structured (`EnvInfo.entity_view`): agent i sees one entity row
per teammate (the teammate's type, one-hot; this is s_i^-) followed by its own type
(one-hot; s_i^+). The state is one row per agent: its type. The game is one step long.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlspec.envs.base import Env, EnvInfo, TimeStep, all_available, scalar

TYPES = "AB"
"""Agent types, in one-hot order."""

COMPOSITION_PAYOFFS: dict[str, list[list[float]]] = {
    "AB": [[1.0, 0.5], [0.5, 1.5]],
    "BA": [[1.0, 0.5], [0.5, 1.5]],
    "BB": [[1.0, 1.25], [1.25, -1.0]],
    "AA": [[1.0, 1.25], [1.25, -1.0]],
}
"""Our stand-in for the paper's Figure 2 payoffs (module docstring): row = agent 0's action."""


class TeamMatrixState(eqx.Module):
    composition: Int[Array, ""]
    """Index into the game's list of teams."""


class TeamMatrixGame(Env):
    """One-shot cooperative matrix game whose payoff depends on the team's composition."""

    payoffs: Float[Array, "C ..."]
    types: Int[Array, "C N"]
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, teams: tuple[str, ...], payoffs: dict[str, list] | None = None, name: str = "team_matrix"):
        tables = COMPOSITION_PAYOFFS if payoffs is None else payoffs
        n = len(teams[0])
        if any(len(t) != n for t in teams) or any(c not in TYPES for t in teams for c in t):
            raise ValueError(f"teams must be strings of {n} types from {TYPES!r} (got {teams})")
        stacked = np.stack([np.asarray(tables[t], dtype=np.float32) for t in teams])
        self.payoffs = jnp.asarray(stacked)
        self.types = jnp.asarray([[TYPES.index(c) for c in t] for t in teams], jnp.int32)
        k = len(TYPES)
        self.info = EnvInfo(
            name=name, num_agents=n, obs_dim=(n - 1) * k + k, state_dim=n * k, action_type="discrete",
            num_actions=stacked.shape[1], max_steps=1, n_entities=n - 1, entity_dim=k,
            own_features=tuple(range((n - 1) * k, n * k)),
            entity_ids=tuple(tuple(j for j in range(n) if j != i) for i in range(n)), state_entity_dim=k,
        )

    def _timestep(self, composition: Int[Array, ""], reward: Float[Array, ""], terminated: bool) -> TimeStep:
        n, k = self.info.num_agents, len(TYPES)
        onehot = jax.nn.one_hot(self.types[composition], k)  # [N, k]
        others = jnp.stack([onehot[jnp.asarray([j for j in range(n) if j != i], jnp.int32)].reshape(-1) for i in range(n)])
        return TimeStep(
            obs=jnp.concatenate([others, onehot], axis=-1), state=onehot.reshape(-1),
            avail_actions=all_available(n, self.info.num_actions), agent_mask=jnp.ones((n,), bool),
            reward=scalar(reward), terminated=scalar(terminated, bool), truncated=scalar(False, bool),
            info={},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[TeamMatrixState, TimeStep]:
        composition = jax.random.randint(key, (), 0, self.types.shape[0]).astype(jnp.int32)
        return TeamMatrixState(composition), self._timestep(composition, jnp.zeros(()), False)

    def step(self, key: PRNGKeyArray, state: TeamMatrixState, actions: Int[Array, " N"]) -> tuple[TeamMatrixState, TimeStep]:
        reward = self.payoffs[state.composition][tuple(actions.astype(jnp.int32))]
        return state, self._timestep(state.composition, reward, True)
