"""Training with environments that run on the host (PettingZoo and other non-JAX envs).

The environment steps in a Python loop; everything else stays compiled: one jitted
call per step computes every seed's and environment's actions, and one jitted call per
update runs `algorithm.update` for every seed. `host_rollout` produces exactly the
`Trajectory` that `marlspec.train.rollout.rollout` produces (same key splits, same
fields), so algorithms cannot tell the two apart; `tests/test_host_rollout.py` checks
this step for step on a JAX environment driven through the host interface.

`HostExperiment` offers the runner the interface `Experiment` offers
(`marlspec.train.experiment.AnyExperiment`), batched over seeds: `init_batch`, `evaluator`
(over `evaluate_batch`) and `chunk_program` (over `run_chunk`, nothing to compile). Its
environments' state lives on the host and cannot be saved, so it is not `resumable`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Carry, LearnerState, Mode, Trajectory
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.envs.host import BatchActions, HostAutoReset, HostEnv
from marlspec.train.experiment import FINITE_METRIC, CompileAhead, SeedKeys, learner_finite
from marlspec.train.rollout import (
    act_step,
    episode_means,
    episode_stats,
    evaluation_step,
    initial_carries,
    trajectory,
)
from marlspec.train.sharding import DataParallel


@runtime_checkable
class HostBatch(Protocol):
    """What the host loop needs from a batch of environments (`HostAutoReset`, `JaxOnHost`)."""

    info: EnvInfo
    num_envs: int

    def reset(self, key: PRNGKeyArray) -> TimeStep: ...

    def step(self, key: PRNGKeyArray, actions: BatchActions) -> TimeStep: ...


class HostActors(eqx.Module):
    """Where each seed's environments are between rollouts (the environments themselves
    live on the host, in `envs`). Arrays carry a leading seed axis."""

    timestep: TimeStep
    carry: Carry
    first: Bool[Array, "S E"]
    envs: tuple[Any, ...] = eqx.field(static=True)


def _stack(items: list[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *items)


def host_start(batches: Sequence[HostBatch], algorithm: Algorithm, keys: SeedKeys) -> HostActors:
    """Reset every seed's batch (seed s with `keys[s]`), like `rollout.start`."""
    ts = _stack([b.reset(k) for b, k in zip(batches, keys, strict=True)])
    e = batches[0].num_envs
    return HostActors(ts, initial_carries(algorithm, len(batches), e), jnp.ones((len(batches), e), bool), tuple(batches))


def _act_program(algorithm: Algorithm, mode: Mode) -> Callable[..., Any]:
    """One jitted step of every seed's policy: the `rollout` step without the env."""
    initial = algorithm.initial_carry()

    def one_seed(learner: LearnerState, ts: TimeStep, carry: Carry, first: Array, key: PRNGKeyArray) -> Any:
        return act_step(algorithm, learner, ts, carry, first, key, initial, mode)

    return eqx.filter_jit(eqx.filter_vmap(one_seed))


def host_rollout(
    algorithm: Algorithm, learner: LearnerState, actors: HostActors, keys: SeedKeys, length: int,
    mode: Mode = "behaviour", act_program: Callable[..., Any] | None = None,
) -> tuple[HostActors, Trajectory, dict[str, Array]]:
    """`rollout` for host environments, for every seed at once (leading axis S in
    `learner`, `actors` and `keys`). Returns what `rollout` returns, with the seed axis."""
    batches = actors.envs
    step_act = act_program or _act_program(algorithm, mode)
    step_keys = jax.vmap(lambda k: jax.random.split(k, length))(keys)
    ts, carry, first = actors.timestep, actors.carry, actors.first
    records = []
    for t in range(length):
        actions, carry, extras, k_env = step_act(learner, ts, carry, first, step_keys[:, t])
        after = _stack([b.step(k, a) for b, k, a in zip(batches, k_env, actions, strict=True)])
        records.append((ts, actions, extras, after, first))
        ts, first = after, after.done
    seen, actions, extras, after, firsts = jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *records)
    traj = jax.vmap(trajectory)(seen, actions, extras, after, firsts, actors.carry)
    return HostActors(ts, carry, first, batches), traj, episode_stats(after)


def host_evaluate(
    algorithm: Algorithm, learner: LearnerState, batches: Sequence[HostBatch], keys: SeedKeys,
    mode: Mode, greedy: bool, max_steps: int,
) -> dict[str, np.ndarray]:
    """`rollout.evaluate` for host environments (batches without auto-reset, one per
    seed, `episodes` environments each): per-seed, per-episode return, length, win."""
    episodes = batches[0].num_envs

    @eqx.filter_jit
    def policy(learner: LearnerState, ts: TimeStep, carry: Carry, key: SeedKeys) -> Any:
        def one_seed(lrn: LearnerState, t: TimeStep, c: Carry, k: PRNGKeyArray) -> Any:
            return evaluation_step(algorithm, lrn, t, c, k, episodes, mode, greedy)

        return eqx.filter_vmap(one_seed)(learner, ts, carry, key)

    split = jax.vmap(jax.random.split)(keys)
    k_reset, k_run = split[:, 0], split[:, 1]
    ts = _stack([b.reset(k) for b, k in zip(batches, k_reset, strict=True)])
    carry = initial_carries(algorithm, len(batches), episodes)
    step_keys = jax.vmap(lambda k: jax.random.split(k, max_steps))(k_run)
    shape = (len(batches), episodes)
    alive, ret, length, won = np.ones(shape, bool), np.zeros(shape, np.float32), np.zeros(shape, np.int32), np.zeros(shape, np.float32)
    has_won = "won" in ts.info
    for t in range(max_steps):
        if not alive.any():
            break
        actions, carry, k_env = policy(learner, ts, carry, step_keys[:, t])
        ts = _stack([b.step(k, a) for b, k, a in zip(batches, k_env, actions, strict=True)])
        reward, done = np.asarray(ts.reward), np.asarray(ts.done)
        ret += np.where(alive, reward, 0.0)
        length += alive
        if has_won:
            won = np.where(alive & done, np.asarray(ts.info["won"], np.float32), won)
        alive &= ~done
    out = {"return": ret, "length": length.astype(np.float32)}
    if has_won:
        out["won"] = won
    return out


class HostRunnerState(eqx.Module):
    learner: LearnerState
    actors: HostActors
    key: SeedKeys
    updates: Int[Array, " S"]


class HostExperiment:
    """The host-environment counterpart of `Experiment`, batched over seeds (`AnyExperiment`)."""

    devices = 1
    """No data-parallel sharding: the environments step on the host."""
    resumable = False
    """The environments' state (Python objects on the host) is not in the checkpoint."""

    def __init__(self, make_env: Callable[[], HostEnv], algorithm: Algorithm, num_envs: int,
                 rollout_length: int, eval_episodes: int, greedy: bool):
        self.make_env, self.algorithm = make_env, algorithm
        self.num_envs, self.rollout_length = num_envs, rollout_length
        self.eval_episodes, self.greedy = eval_episodes, greedy
        self._probe = make_env()
        self.info: EnvInfo = self._probe.info
        self._act = _act_program(algorithm, "behaviour")
        self._update = eqx.filter_jit(eqx.filter_vmap(algorithm.update))
        self._finite = eqx.filter_jit(eqx.filter_vmap(learner_finite))
        self._eval_batches: dict[int, list[HostAutoReset]] = {}

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.rollout_length

    def init_batch(self, keys: SeedKeys) -> HostRunnerState:
        split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
        learner = eqx.filter_jit(eqx.filter_vmap(self.algorithm.init))(split[:, 0])
        batches = [HostAutoReset(self.make_env, self.num_envs) for _ in range(keys.shape[0])]
        actors = host_start(batches, self.algorithm, split[:, 1])
        return HostRunnerState(learner, actors, split[:, 2], jnp.zeros((keys.shape[0],), jnp.int32))

    def run_chunk(self, rs: HostRunnerState, num_updates: int) -> tuple[HostRunnerState, dict[str, Array]]:
        """`num_updates` rollouts and updates; metrics stacked as [seeds, updates]."""
        history = []
        for _ in range(num_updates):
            split = jax.vmap(lambda k: jax.random.split(k, 3))(rs.key)
            actors, traj, episodes = host_rollout(self.algorithm, rs.learner, rs.actors, split[:, 1],
                                                  self.rollout_length, act_program=self._act)
            learner, metrics = self._update(rs.learner, traj, split[:, 2])
            metrics = {**metrics, **{f"train_{k}": v for k, v in jax.vmap(episode_means)(episodes).items()},
                       FINITE_METRIC: self._finite(learner)}
            history.append(metrics)
            rs = HostRunnerState(learner, actors, split[:, 0], rs.updates + 1)
        return rs, jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *history)

    def chunk_program(self, state: HostRunnerState, per_chunk: int, padded: bool, sharding: DataParallel | None,
                      compile_ahead: CompileAhead) -> tuple[Callable[[HostRunnerState, int], Any], float]:
        """`run_chunk` as the runner's chunk program: a Python loop, nothing to compile."""
        return (lambda rs, size: self.run_chunk(rs, num_updates=size)), 0.0

    def evaluator(self, mode: Mode) -> Callable[[LearnerState, SeedKeys], dict[str, np.ndarray]]:
        return functools.partial(self.evaluate_batch, mode=mode)

    def evaluate_batch(self, learners: LearnerState, keys: SeedKeys, mode: Mode) -> dict[str, np.ndarray]:
        seeds = keys.shape[0]
        if seeds not in self._eval_batches:
            self._eval_batches[seeds] = [HostAutoReset(self.make_env, self.eval_episodes, auto_reset=False)
                                         for _ in range(seeds)]
        return host_evaluate(self.algorithm, learners, self._eval_batches[seeds], keys, mode, self.greedy,
                             self.info.max_steps)
