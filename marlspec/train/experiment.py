"""`Experiment`: the pure, compiled form of a spec. `train_chunk` is one jittable
block of updates; `train` is the whole run without the host (used by tests).

`AnyExperiment` is the one interface the runner trains through; `Experiment` and the
host-stepped `marlspec.train.host.HostExperiment` both implement it."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key, PRNGKeyArray, UInt32

from marlspec.algorithms.base import Algorithm, LearnerState, Mode
from marlspec.envs.base import Env
from marlspec.envs.wrappers import AutoReset
from marlspec.train.rollout import ActorState, episode_means, evaluate, rollout, start
from marlspec.train.sharding import DataParallel

SeedKeys = UInt32[Array, "S 2"] | Key[Array, " S"]
"""One PRNG key per seed."""

CompileAhead = Callable[..., tuple[Callable[[Any], Any], float]]
"""The runner's `compile_ahead(fn, tree, donate=True, sharding=None) -> (call, seconds)`:
compile `fn(tree)` now, return the compiled call and the seconds compiling took."""

ChunkCall = Callable[[Any, int], tuple[Any, dict[str, Array]]]
"""`call(state, size) -> (state, metrics)`: `size` updates for every seed, metrics [seeds, updates]."""


@runtime_checkable
class AnyExperiment(Protocol):
    """What the runner needs from a compiled experiment, whether its environments are JAX
    (`Experiment`, jitted end to end) or step on the host (`HostExperiment`). States and
    results carry a leading seed axis."""

    algorithm: Algorithm
    devices: int
    """Devices the environment batch is sharded over; 1 = no sharding."""

    @property
    def steps_per_update(self) -> int: ...

    @property
    def resumable(self) -> bool:
        """Whether a checkpoint holds the whole state, so that a run can continue from it."""
        ...

    def init_batch(self, keys: SeedKeys) -> Any:
        """The runner state of every seed, seed `s` from `keys[s]`."""
        ...

    def evaluator(self, mode: Mode) -> Callable[[Any, SeedKeys], dict[str, Any]]:
        """`evaluate(learners, keys)`: per-seed, per-episode results (`return`, `length`, maybe `won`)
        of the `mode` policy. The runner asks once per mode and keeps what it gets."""
        ...

    def chunk_program(self, state: Any, per_chunk: int, padded: bool, sharding: DataParallel | None,
                      compile_ahead: CompileAhead) -> tuple[ChunkCall, float]:
        """The training-chunk program for states like `state` (chunks of `per_chunk` updates; with
        `padded`, a last chunk is shorter and runs in the same program) and its compile seconds."""
        ...


def over_seeds(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn(state, *rest)` mapped over the leading seed axis of `state` (`rest` is shared).

    With one seed it is `fn` on the state without that axis, the axis put back on the outputs:
    the same program, but a `vmap` even of size 1 batches every `lax.cond` predicate that
    depends on the state, and JAX then evaluates both branches of every such `cond` (the
    auto-reset's, the off-policy learner's wait-for-the-replay) and runs matrix products as
    batched ones (issue 21: one seed trained about 2x slower vmapped than not)."""

    def call(state: Any, *rest: Any) -> Any:
        arrays = jax.tree.leaves(eqx.filter(state, eqx.is_array))
        if arrays and all(a.shape[:1] == (1,) for a in arrays):
            squeeze = lambda x: x[0] if eqx.is_array(x) else x
            expand = lambda x: x[None] if eqx.is_array(x) else x
            return jax.tree.map(expand, fn(jax.tree.map(squeeze, state), *rest))
        return eqx.filter_vmap(fn, in_axes=(eqx.if_array(0), *(None for _ in rest)))(state, *rest)

    return call

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
            # `self.update` is wrapped: cond hashes its branches, and an environment that holds arrays
            # (a matrix game's payoffs) makes the experiment unhashable
            return jax.lax.cond(i < active, lambda s: self.update(s), lambda s: (s, skipped), s)

        return jax.lax.scan(step, rs, jnp.arange(num_updates))

    def evaluate(self, learner: LearnerState, key: PRNGKeyArray, mode: Mode) -> dict[str, Array]:
        return evaluate(self.env, self.algorithm, learner, key, self.eval_episodes, mode, self.greedy)

    def train(self, key: PRNGKeyArray, num_updates: int) -> tuple[RunnerState, dict[str, Array]]:
        """A whole run as one pure function of the key (no host in the loop)."""
        return self.train_chunk(self.init(key), num_updates)

    # ------------------------------------------------ the runner's interface (`AnyExperiment`)

    @property
    def resumable(self) -> bool:
        """Every array of the state (environments included) is in the checkpoint."""
        return True

    def init_batch(self, keys: SeedKeys) -> RunnerState:
        return eqx.filter_jit(eqx.filter_vmap(self.init))(keys)

    def evaluator(self, mode: Mode) -> Callable[[LearnerState, SeedKeys], dict[str, Array]]:
        return eqx.filter_jit(eqx.filter_vmap(lambda learner, key: self.evaluate(learner, key, mode)))

    def chunk_program(self, state: RunnerState, per_chunk: int, padded: bool, sharding: DataParallel | None,
                      compile_ahead: CompileAhead) -> tuple[ChunkCall, float]:
        """`train_chunk` over the seeds, compiled ahead by `compile_ahead`."""
        if not padded:
            chunk = functools.partial(self.train_chunk, num_updates=per_chunk)
            # Sharded (data-parallel) runs keep the seed vmap: unvmapped, a two-process run failed (TreePathError).
            fn = eqx.filter_vmap(chunk) if sharding is not None else over_seeds(chunk)
            call, seconds = compile_ahead(fn, state, sharding=sharding)
            return (lambda rs, size: call(rs)), seconds
        body = lambda rs, size: self.train_chunk(rs, per_chunk, size)
        seeds = over_seeds(body) if sharding is None else eqx.filter_vmap(body, in_axes=(eqx.if_array(0), None))
        padded_chunk = lambda t: seeds(*t)
        with warnings.catch_warnings():  # the update count is donated with the state, but a scalar cannot be reused
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            call, seconds = compile_ahead(padded_chunk, (state, jnp.asarray(per_chunk, jnp.int32)), sharding=sharding)

        def run_padded(rs: RunnerState, size: int) -> tuple[RunnerState, dict[str, Array]]:
            rs, metrics = call((rs, jnp.asarray(size, jnp.int32)))
            return rs, jax.tree.map(lambda m: m[:, :size], metrics)

        return run_padded, seconds
