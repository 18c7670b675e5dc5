"""`Experiment`: the pure, compiled form of a spec. `train_chunk` is one jittable
block of updates; `train` is the whole run without the host (used by tests)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, LearnerState, Mode
from marlspec.envs.base import Env
from marlspec.envs.wrappers import AutoReset
from marlspec.train.rollout import ActorState, episode_means, evaluate, rollout, start

FINITE_METRIC = "learner_finite"
"""Metric set by every update: 1.0 when every float in the learner state (parameters,
optimiser states, targets, statistics; not a replay buffer) is finite, else 0.0. The runner
reads it, with every `*_loss` metric, to stop a run that diverges (`marlspec.train.guard`)."""


def learner_finite(learner: LearnerState) -> Float[Array, ""]:
    """1.0 if every inexact array of `learner` outside its replay buffer is finite, else 0.0:
    one fused reduction, cheap next to an update."""
    if getattr(learner, "replay", None) is not None:
        learner = eqx.tree_at(lambda t: t.replay, learner, None)
    leaves = jax.tree.leaves(eqx.filter(learner, eqx.is_inexact_array))
    ok = jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves])) if leaves else jnp.asarray(True)
    return ok.astype(jnp.float32)


class RunnerState(eqx.Module):
    learner: LearnerState
    actors: ActorState
    key: PRNGKeyArray
    updates: Int[Array, ""]


class Experiment(eqx.Module):
    env: Env
    algorithm: Algorithm
    num_envs: int = eqx.field(static=True)
    rollout_length: int = eqx.field(static=True)
    eval_episodes: int = eqx.field(static=True)
    greedy: bool = eqx.field(static=True)
    devices: int = eqx.field(static=True, default=1)
    """Devices the environment batch is sharded over (`marlspec.train.sharding`); 1 = no sharding."""
    check_finite: bool = eqx.field(static=True, default=True)
    """Report `learner_finite` after every update (the divergence guard; off only to measure its cost)."""

    @property
    def train_env(self) -> AutoReset:
        return AutoReset(self.env, self.num_envs)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.rollout_length

    def init(self, key: PRNGKeyArray) -> RunnerState:
        k_learner, k_env, k_run = jax.random.split(key, 3)
        learner = self.algorithm.init(k_learner)
        actors = start(self.train_env, self.algorithm, k_env)
        return RunnerState(learner, actors, k_run, jnp.zeros((), jnp.int32))

    def update(self, rs: RunnerState) -> tuple[RunnerState, dict[str, Array]]:
        """One rollout followed by one `algorithm.update`."""
        key, k_roll, k_update = jax.random.split(rs.key, 3)
        actors, traj, episodes = rollout(self.train_env, self.algorithm, rs.learner, rs.actors, k_roll, self.rollout_length)
        learner, metrics = self.algorithm.update(rs.learner, traj, k_update)
        metrics = {**metrics, **{f"train_{k}": v for k, v in episode_means(episodes).items()}}
        if self.check_finite:
            metrics[FINITE_METRIC] = learner_finite(learner)
        return RunnerState(learner, actors, key, rs.updates + 1), metrics

    def train_chunk(
        self, rs: RunnerState, num_updates: int, active: Int[Array, ""] | None = None
    ) -> tuple[RunnerState, dict[str, Array]]:
        """`num_updates` updates as one `lax.scan`; metrics are stacked per update.

        With `active` (a traced count), only the first `active` updates run and the others
        leave the state as it is (their metrics are zeros): one compiled program then also
        serves a last chunk shorter than the others, instead of a second compilation."""
        if active is None:
            return jax.lax.scan(lambda s, _: self.update(s), rs, None, length=num_updates)
        skipped = jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), jax.eval_shape(self.update, rs)[1])

        def step(s: RunnerState, i: Int[Array, ""]) -> tuple[RunnerState, dict[str, Array]]:
            # A lambda, not the bound method: lax.cond hashes its branches, and a bound method of
            # this module hashes its fields, which fails on an environment holding arrays
            # (team_matrix's payoffs, smax_teams' team-size ranges).
            return jax.lax.cond(i < active, lambda s: self.update(s), lambda s: (s, skipped), s)

        return jax.lax.scan(step, rs, jnp.arange(num_updates))

    def evaluate(self, learner: LearnerState, key: PRNGKeyArray, mode: Mode) -> dict[str, Array]:
        return evaluate(self.env, self.algorithm, learner, key, self.eval_episodes, mode, self.greedy)

    def train(self, key: PRNGKeyArray, num_updates: int) -> tuple[RunnerState, dict[str, Array]]:
        """A whole run as one pure function of the key (no host in the loop)."""
        return self.train_chunk(self.init(key), num_updates)
