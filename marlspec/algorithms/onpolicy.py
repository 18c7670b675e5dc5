"""Pieces shared by the on-policy algorithms (PPO/MAPPO, HAPPO, MAT, MAGPO/CTDS, AgentMixer):
their configuration (`PPOConfig`), replaying a network over a rollout, per-agent GAE, the clipped
Adam optimiser, the `epochs x minibatches` loop over whole environment sequences, and the one PPO
step (`ppo_policy_terms` for the loss, `gradient_epochs` for the optimisation)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.envs.base import agent_ids
from marlspec.nn import Net
from marlspec.primitives import objectives as obj
from marlspec.primitives.returns import gae

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """The PPO family's hyper-parameters, filled by `marlspec.compile` from the spec, which holds
    every default (`marlspec.spec.algorithms.PPOFamilySpec`): nothing here has one."""

    gamma: float
    gae_lambda: float
    clip_eps: float
    value_clip_eps: float | None
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    epochs: int
    num_minibatches: int
    normalize_advantages: bool
    centralized_critic: bool
    agent_id: bool
    lr: float
    anneal_lr: bool
    num_updates: int


def agent_inputs(x: Float[Array, "N d"], with_id: bool) -> Float[Array, "N d2"]:
    """Append a one-hot agent id to each agent's row when `with_id`."""
    if not with_id:
        return x
    return jnp.concatenate([x, agent_ids(x.shape[0])], axis=-1)


def unroll_streams(
    net: Net, h0: Float[Array, "E N H"], xs: Float[Array, "T E N d"], first: Bool[Array, "T E"],
    stacked: bool = False,
) -> tuple[Float[Array, "T E N H"], Float[Array, "T E N o"]]:
    """Replay `net` over a rollout, one (environment, agent) stream at a time, resetting the
    hidden state where an episode starts. Returns the hidden states after each step and the outputs.
    `stacked`: `net` holds one network per agent (a leading agent axis on every array leaf).

    A feed-forward net (no hidden state) has nothing to carry from one step to the next, so it
    is applied to all `T x E x N` inputs at once: the same outputs as the time scan, computed
    as one batched matrix product per layer instead of `T` small ones in a loop."""
    if net.torso.hidden_dim == 0:
        t, e, n = xs.shape[:3]
        none, h = jnp.zeros((), bool), jnp.zeros((0,), xs.dtype)
        if stacked:  # agent axis 2 of the inputs meets the leading agent axis of the parameters
            per_agent = lambda nt, x: jax.vmap(lambda row: nt(h, row, none)[1])(x)
            flat = jnp.moveaxis(xs, 2, 0).reshape(n, t * e, xs.shape[-1])
            out = eqx.filter_vmap(per_agent)(net, flat)
            out = jnp.moveaxis(out.reshape(n, t, e, -1), 0, 2)
        else:
            out = jax.vmap(lambda row: net(h, row, none)[1])(xs.reshape(t * e * n, xs.shape[-1]))
            out = out.reshape(t, e, n, -1)
        return jnp.zeros((t, e, n, 0), xs.dtype), out
    if stacked:
        over_agents = eqx.filter_vmap(lambda n, h, x, f: n.unroll(h, x, f), in_axes=(0, 0, 1, None), out_axes=1)
        per_env = lambda h, x, f: over_agents(net, h, x, f)
    else:
        per_env = jax.vmap(lambda h, x, f: net.unroll(h, x, f), in_axes=(0, 1, None), out_axes=1)
    return jax.vmap(per_env, in_axes=(0, 1, 1), out_axes=1)(h0, xs, first)


def apply_agents(
    net: Net, h: Float[Array, "N H"], xs: Float[Array, "N d"], reset: Bool[Array, " N"], stacked: bool = False
) -> tuple[Float[Array, "N H"], Float[Array, "N o"]]:
    """One step of every agent's network: shared parameters, or one network per agent (`stacked`)."""
    if stacked:
        return eqx.filter_vmap(lambda n, h1, x, r: n(h1, x, r))(net, h, xs, reset)
    return jax.vmap(net)(h, xs, reset)


def critic_values(
    critic: Net, h0: Float[Array, "E N H"], xs: Float[Array, "T E N d"], next_xs: Float[Array, "T E N d"],
    first: Bool[Array, "T E"],
) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"]]:
    """V(s_t) by replaying a (possibly recurrent) critic over a rollout, and V(s'_t) from the
    next (final, where the episode ended) inputs, one step on from each hidden state."""
    hs, v = unroll_streams(critic, h0, xs, first)
    no_reset = jnp.zeros((), bool)
    step = lambda h, x: critic(h, x, no_reset)[1]
    v_next = jax.vmap(jax.vmap(jax.vmap(step)))(hs, next_xs)
    return v[..., 0], v_next[..., 0]


def agent_advantages(
    reward: Float[Array, "T E"],
    values: Float[Array, "T E N"],
    next_values: Float[Array, "T E N"],
    terminated: Bool[Array, "T E"],
    truncated: Bool[Array, "T E"],
    gamma: float,
    lam: float,
) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"]]:
    """GAE (`primitives.returns.gae`) for every (environment, agent) stream of a shared-reward
    rollout. Returns `(advantages, value_targets)`."""
    shape = values.shape
    per_agent = lambda x: jnp.broadcast_to(x[..., None], shape)
    stream = lambda r, v, vn, te, tr: gae(r, v, vn, te, tr, gamma, lam)
    over = jax.vmap(jax.vmap(stream, in_axes=1, out_axes=1), in_axes=1, out_axes=1)
    return over(per_agent(reward), values, next_values, per_agent(terminated), per_agent(truncated))


def adam(
    lr: float, max_grad_norm: float, anneal_steps: int | None = None, flat: bool = False
) -> optax.GradientTransformation:
    """Global-norm gradient clipping then Adam (eps 1e-5); the learning rate decays linearly
    to 0 over `anneal_steps` optimiser steps when given. `flat` runs the optimiser on one
    concatenated parameter vector (`optax.flatten`): the same arithmetic, but a much smaller
    compiled program for networks with many parameter arrays (transformers)."""
    rate = optax.linear_schedule(lr, 0.0, anneal_steps) if anneal_steps else lr
    transform = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(rate, eps=1e-5))
    return optax.flatten(transform) if flat else transform


@runtime_checkable  # ppo_adam's hint is checked by beartype in tests
class PPOSchedule(Protocol):
    """The fields of a PPO-family config that its optimiser needs (read-only, so frozen
    dataclass configs satisfy it)."""

    @property
    def lr(self) -> float: ...
    @property
    def max_grad_norm(self) -> float: ...
    @property
    def anneal_lr(self) -> bool: ...
    @property
    def num_updates(self) -> int: ...
    @property
    def epochs(self) -> int: ...
    @property
    def num_minibatches(self) -> int: ...


def ppo_adam(c: PPOSchedule, flat: bool = False) -> optax.GradientTransformation:
    """`adam` for a PPO-family config: with `anneal_lr`, the rate decays to 0 over all the
    optimiser steps of the run (updates x epochs x minibatches)."""
    return adam(c.lr, c.max_grad_norm, c.num_updates * c.epochs * c.num_minibatches if c.anneal_lr else None, flat)


def minibatch_epochs(
    step: Callable[[C, Int[Array, " mb"], PRNGKeyArray], tuple[C, dict[str, Array]]],
    carry: C,
    key: PRNGKeyArray,
    num_envs: int,
    epochs: int,
    num_minibatches: int,
) -> tuple[C, dict[str, Array]]:
    """`epochs` passes over a rollout of `num_envs` environment sequences, each pass split
    into `num_minibatches` random minibatches of whole sequences (so recurrent networks can
    be replayed). `step(carry, env_indices, epoch_key)` does one gradient step; `epoch_key`
    is shared by the minibatches of one epoch (e.g. for a per-epoch agent order).
    Returns the final carry and the per-step statistics, stacked `[epochs, num_minibatches]`."""
    size = num_envs // num_minibatches

    def epoch(c: C, k: PRNGKeyArray) -> tuple[C, dict[str, Array]]:
        k_epoch = jax.random.fold_in(k, 1)
        order = jax.random.permutation(k, num_envs)[: size * num_minibatches].reshape(num_minibatches, size)
        return jax.lax.scan(lambda c2, idx: step(c2, idx, k_epoch), c, order)

    return jax.lax.scan(epoch, carry, jax.random.split(key, epochs))


def take_envs(tree: Any, idx: Int[Array, " mb"], axis: int = 1) -> Any:
    """Select environments `idx` along `axis` of every array leaf (axis 1 for `[T, E, ...]`)."""
    return jax.tree.map(lambda x: jnp.take(x, idx, axis=axis), tree)


def ppo_policy_terms(
    log_prob: Float[Array, "*b"], old_log_prob: Float[Array, "*b"], advantages: Float[Array, "*b"],
    entropy: Float[Array, "*b"], mask: Float[Array, "*b"], clip_eps: float, normalize_advantages: bool,
    surrogate: Callable[[Float[Array, "*b"]], Float[Array, "*b"]] | None = None,
) -> dict[str, Float[Array, ""]]:
    """The policy part of one PPO minibatch loss, written once for the PPO family: the clipped
    surrogate (`objectives.ppo_clip`) on advantages normalised over the minibatch, the entropy,
    and the usual diagnostics (approximate KL, clip fraction), each a masked mean. The batch
    axes are whatever the caller's ratio is over: per agent-step (MAPPO) or per joint step.

    `surrogate` maps the (normalised) advantages to the per-step loss where it is not PPO's clip
    on `exp(log_prob - old_log_prob)`: HAPPO's M-weighted clip (`objectives.happo_clip`), MAGPO's
    double clip (`gpo.guider_surrogate`). The diagnostics are those of that same ratio."""
    a = obj.normalize(advantages, mask) if normalize_advantages else advantages
    per_step = surrogate(a) if surrogate is not None else obj.ppo_clip(log_prob, old_log_prob, a, clip_eps)
    log_ratio = log_prob - old_log_prob
    return {
        "policy_loss": obj.masked_mean(per_step, mask),
        "entropy": obj.masked_mean(entropy, mask),
        "approx_kl": obj.masked_mean((jnp.exp(log_ratio) - 1) - log_ratio, mask),
        "clip_fraction": obj.masked_mean((jnp.abs(jnp.exp(log_ratio) - 1) > clip_eps).astype(jnp.float32), mask),
    }


def gradient_epochs(
    loss_fn: Callable[[Any, Int[Array, " mb"], PRNGKeyArray], tuple[Array, dict[str, Array]]],
    params: Any, opt_state: optax.OptState, optimizer: optax.GradientTransformation | tuple[optax.GradientTransformation, ...],
    key: PRNGKeyArray, num_envs: int, epochs: int, num_minibatches: int,
) -> tuple[Any, optax.OptState, dict[str, Array]]:
    """`epochs x num_minibatches` gradient steps (`minibatch_epochs`) on
    `loss_fn(params, env_indices, epoch_key) -> (loss, stats)`. Returns the new parameters,
    the optimiser state and the mean of every statistic.

    `optimizer` is one optimiser for all of `params`, or a tuple of optimisers, one for each
    part of the tuples `params` and `opt_state` (MAGPO's guider and learner: one gradient of
    the summed loss, then a separate gradient clip and Adam state for each network)."""

    def apply(opt: optax.GradientTransformation, grads: Any, opt_state: optax.OptState, p: Any) -> tuple[Any, optax.OptState]:
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(p, eqx.is_inexact_array))
        return eqx.apply_updates(p, updates), opt_state

    def step(carry: tuple[Any, optax.OptState], idx: Array, k: PRNGKeyArray) -> tuple[tuple[Any, optax.OptState], dict[str, Array]]:
        p, opt = carry
        grads, stats = eqx.filter_grad(loss_fn, has_aux=True)(p, idx, k)
        if isinstance(optimizer, optax.GradientTransformation):  # itself a NamedTuple: test it first
            return apply(optimizer, grads, opt, p), stats
        parts = [apply(*part) for part in zip(optimizer, grads, opt, p, strict=True)]
        return (tuple(q for q, _ in parts), tuple(o for _, o in parts)), stats

    (params, opt_state), stats = minibatch_epochs(step, (params, opt_state), key, num_envs, epochs, num_minibatches)
    return params, opt_state, {k: v.mean() for k, v in stats.items()}
