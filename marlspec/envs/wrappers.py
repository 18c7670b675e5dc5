"""Wrappers over the `Env` protocol."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.envs.base import Actions, Env, EnvInfo, TimeStep, agent_ids

BatchedActions = Int[Array, "E N"] | Float[Array, "E N act"]


class EpisodeStats(eqx.Module):
    """Running return and length of the current episode."""

    ret: Float[Array, "*E"]
    length: Int[Array, "*E"]


class AutoResetState(eqx.Module):
    env_state: Any
    stats: EpisodeStats


class AutoReset(eqx.Module):
    """A batch of `num_envs` environments that restart themselves when an episode ends.

    After a step that ends an episode, the returned `TimeStep` carries the *first*
    observation of the next episode in `obs`/`state`, and the last observation of the
    finished one in `info["final_obs"]` / `info["final_state"]` /
    `info["final_avail_actions"]`, so that truncated episodes can bootstrap from it
    (a max over the next actions must use the finished episode's last mask). `info["episode_return"]` and
    `info["episode_length"]` hold the finished episode's totals where `done` is true.

    A reset is computed only when some environment in the batch is done (`lax.cond`
    on `any(done)`), instead of on every step as JaxMARL's `step` does; and when at
    most 1/64 (else 1/8) of the batch is done, only a batch of that size is reset (the
    finished environments, gathered, reset with the keys a full reset would give them,
    and written back), so the result is the same either way. Under an outer `vmap` (over seeds) the conditions become
    batched and JAX evaluates every branch, so these savings apply to single-seed
    programs.
    """

    env: Env
    num_envs: int = eqx.field(static=True)
    partial_reset: bool = eqx.field(static=True, default=True)
    """Reset only the finished environments when few are (same result, less work)."""

    @property
    def info(self) -> EnvInfo:
        return self.env.info

    def reset(self, key: PRNGKeyArray) -> tuple[AutoResetState, TimeStep]:
        keys = jax.random.split(key, self.num_envs)
        env_state, ts = jax.vmap(self.env.reset)(keys)
        stats = EpisodeStats(
            ret=jnp.zeros((self.num_envs,), jnp.float32),
            length=jnp.zeros((self.num_envs,), jnp.int32),
        )
        return AutoResetState(env_state, stats), self._decorate(ts, ts, stats)

    def step(
        self, key: PRNGKeyArray, state: AutoResetState, actions: BatchedActions
    ) -> tuple[AutoResetState, TimeStep]:
        step_key, reset_key = jax.random.split(key)
        env_state, ts = jax.vmap(self.env.step)(
            jax.random.split(step_key, self.num_envs), state.env_state, actions
        )
        done = ts.done
        ret = state.stats.ret + ts.reward
        length = state.stats.length + 1
        finished = EpisodeStats(ret=ret, length=length)
        running = EpisodeStats(ret=jnp.where(done, 0.0, ret), length=jnp.where(done, 0, length))

        reset_keys = jax.random.split(reset_key, self.num_envs)
        fields = lambda t: (t.obs, t.state, t.avail_actions, t.agent_mask)

        def reset_all(_: None) -> tuple[Any, TimeStep]:
            fresh_state, fresh_ts = jax.vmap(self.env.reset)(reset_keys)
            pick = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)
            merged_state = jax.tree.map(pick, fresh_state, env_state)
            merged_ts = eqx.tree_at(fields, ts, tuple(map(pick, fields(fresh_ts), fields(ts))))
            return merged_state, merged_ts

        def reset_few(few: int) -> Any:
            # Reset only the (at most `few`) finished environments, with the keys the full
            # reset would give them, and write them back in place: the same result for less.
            def reset(_: None) -> tuple[Any, TimeStep]:
                idx = jnp.nonzero(done, size=few, fill_value=self.num_envs)[0]
                fresh_state, fresh_ts = jax.vmap(self.env.reset)(reset_keys[jnp.minimum(idx, self.num_envs - 1)])
                put = lambda new, old: old.at[idx].set(new if new.dtype == old.dtype else new.astype(old.dtype),
                                                       mode="drop")
                merged_state = jax.tree.map(put, fresh_state, env_state)
                merged_ts = eqx.tree_at(fields, ts, tuple(map(put, fields(fresh_ts), fields(ts))))
                return merged_state, merged_ts

            return reset

        with_reset = reset_all
        for few in sorted({n for n in (self.num_envs // 8, self.num_envs // 64) if n >= 1} if self.partial_reset
                          else set(), reverse=True):  # nested: try the smallest batch first
            with_reset = functools.partial(
                lambda _, few, otherwise: jax.lax.cond(jnp.sum(done) <= few, reset_few(few), otherwise, None),
                few=few, otherwise=with_reset)
        new_env_state, new_ts = jax.lax.cond(jnp.any(done), with_reset, lambda _: (env_state, ts), None)
        return AutoResetState(new_env_state, running), self._decorate(new_ts, ts, finished)

    @staticmethod
    def _decorate(ts: TimeStep, last: TimeStep, finished: EpisodeStats) -> TimeStep:
        info = dict(ts.info)
        info["final_obs"] = last.obs
        info["final_state"] = last.state
        info["final_avail_actions"] = last.avail_actions
        info["episode_return"] = finished.ret
        info["episode_length"] = finished.length
        return eqx.tree_at(lambda t: t.info, ts, info)


class AgentIDs(Env):
    """Appends a one-hot agent id to every agent's observation (`agent_id: true` in an env spec)."""

    env: Env
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, env: Env):
        self.env = env
        self.info = dataclasses.replace(env.info, obs_dim=env.info.obs_dim + env.info.num_agents)

    def _with_ids(self, ts: TimeStep) -> TimeStep:
        ids = agent_ids(self.info.num_agents)
        return eqx.tree_at(lambda t: t.obs, ts, jnp.concatenate([ts.obs, ids], axis=-1))

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        state, ts = self.env.reset(key)
        return state, self._with_ids(ts)

    def step(self, key: PRNGKeyArray, state: Any, actions: Actions) -> tuple[Any, TimeStep]:
        state, ts = self.env.step(key, state, actions)
        return state, self._with_ids(ts)


class CheckedState(eqx.Module):
    env_state: Any
    avail_actions: Bool[Array, "N A"]


class CheckActions(Env):
    """Raises at run time when an action is not allowed by the last `avail_actions`
    (discrete), or is not finite (continuous). For debugging and tests: it costs a check
    per step. Under `jit` the error surfaces as an `EquinoxRuntimeError`."""

    env: Env
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, env: Env):
        self.env, self.info = env, env.info

    def reset(self, key: PRNGKeyArray) -> tuple[CheckedState, TimeStep]:
        state, ts = self.env.reset(key)
        return CheckedState(state, ts.avail_actions), ts

    def step(self, key: PRNGKeyArray, state: CheckedState, actions: Actions) -> tuple[CheckedState, TimeStep]:
        if self.info.discrete:
            n = self.info.num_agents
            legal = state.avail_actions[jnp.arange(n), actions.astype(jnp.int32)]
            bad = jnp.any(~legal | (actions < 0) | (actions >= self.info.num_actions))
            actions = eqx.error_if(actions, bad, "illegal action: an agent chose an action its avail_actions forbid")
        else:
            actions = eqx.error_if(actions, ~jnp.all(jnp.isfinite(actions)), "non-finite continuous action")
        env_state, ts = self.env.step(key, state.env_state, actions)
        return CheckedState(env_state, ts.avail_actions), ts
