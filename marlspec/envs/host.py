"""The host-side twin of the environment protocol, for environments that are not JAX.

A `HostEnv` is one stateful environment instance stepped in Python (PettingZoo's
parallel API, a simulator, a robot). It returns a `HostTimeStep`: the same fields as
`TimeStep`, as numpy arrays. A `HostAutoReset` holds `num_envs` of them and speaks to
the runner the way `AutoReset` does for JAX environments: `reset(key)` and
`step(key, actions)` return a batched `TimeStep` of JAX arrays, with the finished
episode's final observation, return and length in `info`. The policy and the learner
stay jitted; only the environment step runs on the host (see `marlspec.train.host`).

`JaxOnHost` runs a JAX `Env` through the same host interface. It exists so that the
host rollout can be checked against the jitted rollout step for step.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, Shaped

from marlspec.envs.base import Env, EnvInfo, TimeStep
from marlspec.envs.wrappers import AutoReset

BatchActions = Int[Array, "E N"] | Float[Array, "E N act"] | Shaped[np.ndarray, "E N *act"]
"""Every environment's actions: [E, N] discrete or [E, N, act] continuous."""


@dataclasses.dataclass
class HostTimeStep:
    """`TimeStep` on the host: numpy arrays with the same names, shapes and meaning."""

    obs: Float[np.ndarray, "N obs"]
    state: Float[np.ndarray, " S"]
    avail_actions: Bool[np.ndarray, "N A"]
    agent_mask: Bool[np.ndarray, " N"]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, np.ndarray]

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class HostEnv(abc.ABC):
    """One environment instance stepped in Python. Subclasses set `info` and implement
    `reset(seed)` and `step(actions)`; `step` after the end of an episode is undefined."""

    info: EnvInfo

    @abc.abstractmethod
    def reset(self, seed: int) -> HostTimeStep:
        """Start an episode, seeded."""

    @abc.abstractmethod
    def step(self, actions: np.ndarray) -> HostTimeStep:
        """Advance one step with every agent's action ([N] ints or [N, act] floats)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (windows, processes)."""


def _stack(steps: list[HostTimeStep]) -> dict[str, np.ndarray]:
    return {
        "obs": np.stack([s.obs for s in steps]).astype(np.float32),
        "state": np.stack([s.state for s in steps]).astype(np.float32),
        "avail_actions": np.stack([s.avail_actions for s in steps]).astype(bool),
        "agent_mask": np.stack([s.agent_mask for s in steps]).astype(bool),
        "reward": np.asarray([s.reward for s in steps], np.float32),
        "terminated": np.asarray([s.terminated for s in steps], bool),
        "truncated": np.asarray([s.truncated for s in steps], bool),
    }


@jax.jit
def _batched_timestep(fields: dict[str, Array], info: dict[str, Array]) -> TimeStep:
    return jax.vmap(lambda f, i: TimeStep(**f, info=i))(fields, info)


def _to_timestep(fields: dict[str, np.ndarray], info: dict[str, np.ndarray]) -> TimeStep:
    """A batched `TimeStep` of JAX arrays (built per environment, so its shapes are checked)."""
    return _batched_timestep(fields, info)


def _seed(key: PRNGKeyArray) -> np.random.Generator:
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).astype(np.uint32).tolist())


class HostAutoReset:
    """`num_envs` host environments that restart when an episode ends (the host twin of
    `AutoReset`; the same `info` keys: `final_obs`, `final_state`, `final_avail_actions`, `episode_return`,
    `episode_length`, plus the environment's own).

    With `auto_reset=False` (evaluation) a finished environment is not stepped again:
    it keeps returning its last observation with reward 0.
    """

    def __init__(self, make: Callable[[], HostEnv], num_envs: int, auto_reset: bool = True):
        self.envs = [make() for _ in range(num_envs)]
        self.num_envs, self.auto_reset = num_envs, auto_reset
        self.info: EnvInfo = self.envs[0].info
        self._rng = np.random.default_rng(0)
        self._ret = np.zeros(num_envs, np.float32)
        self._len = np.zeros(num_envs, np.int32)
        self._last: list[HostTimeStep] = []

    def _reset_one(self, i: int) -> HostTimeStep:
        return self.envs[i].reset(int(self._rng.integers(2**31 - 1)))

    def reset(self, key: PRNGKeyArray) -> TimeStep:
        self._rng = _seed(key)
        self._last = [self._reset_one(i) for i in range(self.num_envs)]
        self._ret[:] = 0.0
        self._len[:] = 0
        fields = _stack(self._last)
        return _to_timestep(fields, self._info(fields, self._last))

    def _info(self, fields: dict[str, np.ndarray], finals: list[HostTimeStep]) -> dict[str, np.ndarray]:
        info = {k: np.stack([s.info[k] for s in finals]) for k in finals[0].info}
        info["final_obs"] = np.stack([s.obs for s in finals]).astype(np.float32)
        info["final_state"] = np.stack([s.state for s in finals]).astype(np.float32)
        info["final_avail_actions"] = np.stack([s.avail_actions for s in finals]).astype(bool)
        info["episode_return"] = self._ret.copy()
        info["episode_length"] = self._len.copy()
        return info

    def step(self, key: PRNGKeyArray, actions: BatchActions) -> TimeStep:
        """Step every environment; `key` is unused (host environments seed at reset)."""
        acts = np.asarray(actions)
        finals, current = [], []
        returns, lengths = np.zeros_like(self._ret), np.zeros_like(self._len)
        for i, env in enumerate(self.envs):
            last = self._last[i]
            if not self.auto_reset and last.done:
                frozen = dataclasses.replace(last, reward=0.0)
                finals.append(frozen)
                current.append(frozen)
                continue
            ts = env.step(acts[i])
            self._ret[i] += ts.reward
            self._len[i] += 1
            returns[i], lengths[i] = self._ret[i], self._len[i]
            finals.append(ts)
            if ts.done and self.auto_reset:
                self._ret[i], self._len[i] = 0.0, 0
                fresh = self._reset_one(i)
                current.append(dataclasses.replace(ts, obs=fresh.obs, state=fresh.state,
                                                   avail_actions=fresh.avail_actions, agent_mask=fresh.agent_mask))
                self._last[i] = fresh
            else:
                current.append(ts)
                self._last[i] = ts
        fields = _stack(current)
        info = self._info(fields, finals)
        info["episode_return"], info["episode_length"] = returns, lengths
        return _to_timestep(fields, info)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class JaxOnHost:
    """A JAX `Env` driven through the host interface (one jitted call per step). With
    auto-reset it is `AutoReset`; without it, it steps every environment like
    `marlspec.train.rollout.evaluate` does. Used to test the host rollout."""

    def __init__(self, env: Env, num_envs: int, auto_reset: bool = True):
        self.env, self.num_envs, self.auto_reset = env, num_envs, auto_reset
        self.info = env.info
        self._state: Any = None
        # The two branches carry different state types (AutoResetState or the vmapped env state),
        # and filter_jit also accepts numpy actions, so only the return type is pinned down here.
        self._reset: Callable[..., tuple[Any, TimeStep]]
        self._step: Callable[..., tuple[Any, TimeStep]]
        if auto_reset:
            batch = AutoReset(env, num_envs)
            self._reset = eqx.filter_jit(batch.reset)
            self._step = eqx.filter_jit(batch.step)
        else:
            # Jitted into locals first: mypy cannot infer a lambda's type against the attribute's `...`.
            reset_all = eqx.filter_jit(lambda k: jax.vmap(env.reset)(jax.random.split(k, num_envs)))
            step_all = eqx.filter_jit(
                lambda k, s, a: jax.vmap(env.step)(jax.random.split(k, num_envs), s, a))
            self._reset, self._step = reset_all, step_all

    def reset(self, key: PRNGKeyArray) -> TimeStep:
        self._state, ts = self._reset(key)
        return ts

    def step(self, key: PRNGKeyArray, actions: BatchActions) -> TimeStep:
        self._state, ts = self._step(key, self._state, actions)
        return ts

    def close(self) -> None:
        pass
