"""Wrappers over the `Env` protocol."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlspec.envs.base import Env, EnvInfo, TimeStep

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
    finished one in `info["final_obs"]` / `info["final_state"]`, so that truncated
    episodes can bootstrap from it. `info["episode_return"]` and
    `info["episode_length"]` hold the finished episode's totals where `done` is true.

    The reset is computed for the whole batch only when some environment in it is
    done (`lax.cond` on `any(done)`), instead of on every step as JaxMARL's `step`
    does. Under an outer `vmap` (over seeds) the condition becomes batched and JAX
    evaluates both branches, so that saving applies to single-seed programs.
    """

    env: Env
    num_envs: int = eqx.field(static=True)

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

        def with_reset(_: None) -> tuple[Any, TimeStep]:
            fresh_state, fresh_ts = jax.vmap(self.env.reset)(jax.random.split(reset_key, self.num_envs))
            pick = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)
            merged_state = jax.tree.map(pick, fresh_state, env_state)
            merged_ts = eqx.tree_at(
                lambda t: (t.obs, t.state, t.avail_actions, t.agent_mask),
                ts,
                (
                    pick(fresh_ts.obs, ts.obs),
                    pick(fresh_ts.state, ts.state),
                    pick(fresh_ts.avail_actions, ts.avail_actions),
                    pick(fresh_ts.agent_mask, ts.agent_mask),
                ),
            )
            return merged_state, merged_ts

        new_env_state, new_ts = jax.lax.cond(jnp.any(done), with_reset, lambda _: (env_state, ts), None)
        return AutoResetState(new_env_state, running), self._decorate(new_ts, ts, finished)

    @staticmethod
    def _decorate(ts: TimeStep, last: TimeStep, finished: EpisodeStats) -> TimeStep:
        info = dict(ts.info)
        info["final_obs"] = last.obs
        info["final_state"] = last.state
        info["episode_return"] = finished.ret
        info["episode_length"] = finished.length
        return eqx.tree_at(lambda t: t.info, ts, info)
