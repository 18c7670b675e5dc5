"""Cooperative matrix games (one-shot or repeated), JAX-native."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from marlspec.envs.base import Env, EnvInfo, TimeStep, all_available, scalar

NONMONOTONIC = [[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]]
"""QTRAN/QMIX non-monotonic game; optimum 8 at (0, 0)."""
CLIMBING = [[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]]
"""Climbing game (Claus & Boutilier 1998); optimum 11 at (0, 0)."""


def penalty(k: float) -> list[list[float]]:
    """Penalty game: optima 10 at (0, 2) and (2, 0), the safe action (1, 1) pays 2, miscoordination pays k."""
    return [[k, 0.0, 10.0], [0.0, 2.0, 0.0], [10.0, 0.0, k]]


class MatrixState(eqx.Module):
    t: Int[Array, ""]
    last: Int[Array, " N"]


class MatrixGame(Env):
    """All agents act at once and share `payoff[a_1, ..., a_n]`.

    The observation of every agent (and the state) is the previous joint action as
    per-agent one-hots (zeros at the first step) followed by `t / episode_length`.
    With `episode_length = 1` this is the classic one-shot game.
    """

    payoff: Float[Array, "..."]
    info: EnvInfo = eqx.field(static=True)
    episode_length: int = eqx.field(static=True)

    def __init__(self, payoff: np.ndarray | list, episode_length: int = 1, name: str = "matrix/custom"):
        table = np.asarray(payoff, dtype=np.float32)
        n, a = table.ndim, table.shape[0]
        self.payoff = jnp.asarray(table)
        self.episode_length = episode_length
        obs_dim = n * a + 1
        self.info = EnvInfo(
            name=name, num_agents=n, obs_dim=obs_dim, state_dim=obs_dim,
            action_type="discrete", num_actions=a, max_steps=episode_length,
        )

    def _observe(self, t: Int[Array, ""], last: Int[Array, " N"], started: bool) -> Float[Array, " obs"]:
        a = self.info.num_actions
        onehots = jax.nn.one_hot(last, a).reshape(-1) * (1.0 if started else 0.0)
        return jnp.concatenate([onehots, (t / self.episode_length)[None].astype(jnp.float32)])

    def _timestep(self, obs: Float[Array, " obs"], reward: ArrayLike, terminated: ArrayLike) -> TimeStep:
        n, a = self.info.num_agents, self.info.num_actions
        return TimeStep(
            obs=jnp.broadcast_to(obs, (n, obs.shape[0])),
            state=obs,
            avail_actions=all_available(n, a),
            agent_mask=jnp.ones((n,), bool),
            reward=scalar(reward),
            terminated=scalar(terminated, bool),
            truncated=scalar(False, bool),
            info={},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[MatrixState, TimeStep]:
        state = MatrixState(t=scalar(0, jnp.int32), last=jnp.zeros((self.info.num_agents,), jnp.int32))
        return state, self._timestep(self._observe(state.t, state.last, False), 0.0, False)

    def step(self, key: PRNGKeyArray, state: MatrixState, actions: Int[Array, " N"]) -> tuple[MatrixState, TimeStep]:
        actions = actions.astype(jnp.int32)
        reward = self.payoff[tuple(actions)]
        t = state.t + 1
        new = MatrixState(t=t, last=actions)
        return new, self._timestep(self._observe(t, actions, True), reward, t >= self.episode_length)
