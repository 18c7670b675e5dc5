"""The rollout and evaluation loops, written once for every algorithm."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Carry, LearnerState, Mode, Trajectory
from marlspec.envs.base import Env, TimeStep
from marlspec.envs.wrappers import AutoReset, AutoResetState


class ActorState(eqx.Module):
    """Where the environments are between two rollouts."""

    env_state: AutoResetState
    timestep: TimeStep
    carry: Carry
    first: Bool[Array, " E"]


def reset_where(first: Bool[Array, " E"], carry: Carry, initial: Carry) -> Carry:
    """Put each environment's carry back to the episode-start value where `first`."""

    def pick(c: Array, c0: Array) -> Array:
        return jnp.where(first.reshape(first.shape + (1,) * (c.ndim - 1)), c0[None], c)

    return jax.tree.map(pick, carry, initial)


def initial_carries(algorithm: Algorithm, *batch: int) -> Carry:
    """The algorithm's episode-start carry, broadcast to the leading shape `batch`."""
    return jax.tree.map(lambda c: jnp.broadcast_to(c, (*batch, *c.shape)), algorithm.initial_carry())


def start(env: AutoReset, algorithm: Algorithm, key: PRNGKeyArray) -> ActorState:
    env_state, ts = env.reset(key)
    return ActorState(env_state, ts, initial_carries(algorithm, env.num_envs), jnp.ones((env.num_envs,), bool))


def trajectory(seen: TimeStep, actions: Array, extras: dict[str, Array], after: TimeStep, first: Bool[Array, "T E"],
               init_carry: Carry) -> Trajectory:
    """The `Trajectory` of a rollout from its stacked steps: `seen` (the timesteps acted on),
    the `actions` and `extras`, `after` (the timesteps they led to, auto-reset, with the real
    final observations in their `info`) and the `first` flags (also `host_rollout`'s)."""
    return Trajectory(
        obs=seen.obs, state=seen.state, avail_actions=seen.avail_actions, agent_mask=seen.agent_mask,
        actions=actions, reward=after.reward, terminated=after.terminated, truncated=after.truncated,
        next_obs=after.info["final_obs"], next_state=after.info["final_state"],
        next_avail_actions=after.info["final_avail_actions"], first=first, extras=extras, init_carry=init_carry,
    )


def episode_stats(after: TimeStep) -> dict[str, Array]:
    """The completed-episode statistics of a rollout's stacked timesteps, with the `done` mask
    that says where they are valid (also `host_rollout`'s)."""
    episodes = {"done": after.done, "episode_return": after.info["episode_return"],
                "episode_length": after.info["episode_length"]}
    if "won" in after.info:
        episodes["won"] = after.info["won"]
    return episodes


def act_step(
    algorithm: Algorithm, learner: LearnerState, ts: TimeStep, carry: Carry, first: Bool[Array, " E"],
    key: PRNGKeyArray, initial: Carry, mode: Mode,
) -> tuple[Array, Carry, dict[str, Array], PRNGKeyArray]:
    """One rollout step of every environment's policy, the environment step aside: the carry
    put back to `initial` where an episode starts, then `act(mode)`. Returns the actions, the
    carry, the extras and the key of the environment step. `rollout` and `host_rollout` both
    step with it, so their keys and carries agree."""
    k_act, k_env = jax.random.split(key)
    carry = reset_where(first, carry, initial)
    act = jax.vmap(algorithm.act, in_axes=(None, 0, 0, 0, None))
    actions, carry, extras = act(learner, ts, carry, jax.random.split(k_act, first.shape[0]), mode)
    return actions, carry, extras, k_env


def evaluation_step(
    algorithm: Algorithm, learner: LearnerState, ts: TimeStep, carry: Carry, key: PRNGKeyArray,
    episodes: int, mode: Mode, greedy: bool,
) -> tuple[Array, Carry, PRNGKeyArray]:
    """One evaluation step of every episode's policy (`act(mode, greedy)`, no carry reset: an
    episode plays once). Returns the actions, the carry and the key of the environment step;
    `evaluate` and `host_evaluate` both step with it."""
    k_act, k_env = jax.random.split(key)
    act = jax.vmap(algorithm.act, in_axes=(None, 0, 0, 0, None, None))
    actions, carry, _ = act(learner, ts, carry, jax.random.split(k_act, episodes), mode, greedy)
    return actions, carry, k_env


def rollout(
    env: AutoReset, algorithm: Algorithm, learner: LearnerState, actors: ActorState,
    key: PRNGKeyArray, length: int, mode: Mode = "behaviour",
) -> tuple[ActorState, Trajectory, dict[str, Array]]:
    """Step `env.num_envs` environments `length` times with `algorithm.act(mode)`.

    Returns the new actor state, the trajectory, and the completed-episode
    statistics (`episode_return`, `episode_length` and `won` where the environment
    reports it), each paired with the `done` mask that says where they are valid.
    """
    initial = algorithm.initial_carry()

    def step(a: ActorState, k: PRNGKeyArray) -> tuple[ActorState, tuple[Any, ...]]:
        actions, carry, extras, k_env = act_step(algorithm, learner, a.timestep, a.carry, a.first, k, initial, mode)
        env_state, ts = env.step(k_env, a.env_state, actions)
        out = (a.timestep, actions, extras, ts, a.first)
        return ActorState(env_state, ts, carry, ts.done), out

    final, (seen, actions, extras, after, first) = jax.lax.scan(step, actors, jax.random.split(key, length))
    return final, trajectory(seen, actions, extras, after, first, actors.carry), episode_stats(after)


def episode_means(episodes: dict[str, Array]) -> dict[str, Array]:
    """Means of the completed-episode statistics over the episodes that ended."""
    done = episodes["done"].astype(jnp.float32)
    count = done.sum()
    out = {"episodes": count}
    for name, value in episodes.items():
        if name != "done":
            out[name] = jnp.where(count > 0, (value.astype(jnp.float32) * done).sum() / jnp.maximum(count, 1.0), jnp.nan)
    return out


def evaluate(
    env: Env, algorithm: Algorithm, learner: LearnerState, key: PRNGKeyArray,
    episodes: int, mode: Mode, greedy: bool,
) -> dict[str, Float[Array, " episodes"]]:
    """Play `episodes` full episodes in parallel with `act(mode)`; per-episode return,
    length and (where the environment reports it) win flag."""
    k_reset, k_run = jax.random.split(key)
    state, ts = jax.vmap(env.reset)(jax.random.split(k_reset, episodes))
    carry = initial_carries(algorithm, episodes)

    def step(c: tuple[Any, ...], k: PRNGKeyArray) -> tuple[tuple[Any, ...], None]:
        state, ts, carry, alive, ret, length, won = c
        actions, carry, k_env = evaluation_step(algorithm, learner, ts, carry, k, episodes, mode, greedy)
        state, ts = jax.vmap(env.step)(jax.random.split(k_env, episodes), state, actions)
        ret = ret + jnp.where(alive, ts.reward, 0.0)
        length = length + alive.astype(jnp.int32)
        if "won" in ts.info:
            won = jnp.where(alive & ts.done, ts.info["won"].astype(jnp.float32), won)
        alive = alive & ~ts.done
        return (state, ts, carry, alive, ret, length, won), None

    zeros = jnp.zeros((episodes,), jnp.float32)
    init = (state, ts, carry, jnp.ones((episodes,), bool), zeros, jnp.zeros((episodes,), jnp.int32), zeros)
    (_, ts, _, _, ret, length, won), _ = jax.lax.scan(step, init, jax.random.split(k_run, env.info.max_steps))
    out = {"return": ret, "length": length.astype(jnp.float32)}
    if "won" in ts.info:
        out["won"] = won
    return out
