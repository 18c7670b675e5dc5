"""Return estimators over one unbatched stream of experience (callers `vmap`).

Conventions for a stream of length T, step t:
- `rewards[t]` is received after acting at t;
- `values[t]` estimates the state at t; `next_values[t]` estimates the state
  reached after step t (the *final* observation when the episode ended there);
- `terminated[t]`: the episode truly ended after step t (no bootstrap);
- `truncated[t]`: it was cut by a time limit (bootstrap from `next_values[t]`).
Either flag stops the recursion from flowing across the episode boundary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


def gae(
    rewards: Float[Array, " T"],
    values: Float[Array, " T"],
    next_values: Float[Array, " T"],
    terminated: Bool[Array, " T"],
    truncated: Bool[Array, " T"],
    gamma: float,
    lam: float,
) -> tuple[Float[Array, " T"], Float[Array, " T"]]:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16).

    delta_t = r_t + gamma (1 - term_t) V(s'_t) - V(s_t)
    A_t     = delta_t + gamma lam (1 - done_t) A_{t+1}
    Returns `(advantages, value_targets)` with `value_targets = advantages + values`.
    """
    continues = 1.0 - terminated.astype(values.dtype)
    boundary = 1.0 - jnp.logical_or(terminated, truncated).astype(values.dtype)
    deltas = rewards + gamma * continues * next_values - values

    def backward(carry: Array, inp: tuple[Array, Array]) -> tuple[Array, Array]:
        delta, keep = inp
        adv = delta + gamma * lam * keep * carry
        return adv, adv

    _, adv = jax.lax.scan(backward, jnp.zeros((), values.dtype), (deltas, boundary), reverse=True)
    return adv, adv + values


def td_lambda(
    rewards: Float[Array, " T"],
    next_values: Float[Array, " T"],
    terminated: Bool[Array, " T"],
    truncated: Bool[Array, " T"],
    gamma: float,
    lam: float,
) -> Float[Array, " T"]:
    """TD(lambda) returns (Sutton & Barto 2018, eq. 12.18, recursive form).

    G_t = r_t + gamma (1 - term_t) [ (1 - lam_t) V(s'_t) + lam_t G_{t+1} ],
    with lam_t = 0 at episode boundaries and at the end of the stream, so the
    recursion bootstraps from V(s'_t) there. `next_values` may be soft values
    (MACPF/FOP subtract alpha log pi before calling this).
    """
    continues = 1.0 - terminated.astype(next_values.dtype)
    inside = 1.0 - jnp.logical_or(terminated, truncated).astype(next_values.dtype)
    last = jnp.zeros_like(inside).at[-1].set(1.0)
    lam_t = lam * inside * (1.0 - last)

    def backward(carry: Array, inp: tuple[Array, ...]) -> tuple[Array, Array]:
        r, cont, v_next, lt = inp
        g = r + gamma * cont * ((1.0 - lt) * v_next + lt * carry)
        return g, g

    _, returns = jax.lax.scan(
        backward, jnp.zeros((), next_values.dtype), (rewards, continues, next_values, lam_t), reverse=True
    )
    return returns


def discounted_return(
    rewards: Float[Array, " T"],
    terminated: Bool[Array, " T"],
    truncated: Bool[Array, " T"],
    gamma: float,
) -> Float[Array, " T"]:
    """The observed discounted return-to-go G_t = sum_k gamma^k r_{t+k}, summed up to the end
    of the episode (or of the stream) without bootstrapping: TD(lambda = 1) with zero values.
    A value estimate of the behaviour policy is unbiased against it only for terminated
    episodes; the off-policy diagnostics set it beside Q_tot and its TD targets."""
    return td_lambda(rewards, jnp.zeros_like(rewards), terminated, truncated, gamma, 1.0)


def n_step(
    rewards: Float[Array, " T"],
    next_values: Float[Array, " T"],
    terminated: Bool[Array, " T"],
    truncated: Bool[Array, " T"],
    gamma: float,
    n: int,
) -> Float[Array, " T"]:
    """n-step returns: sum_{k<n} gamma^k r_{t+k} + gamma^n V(s'_{t+n-1}), cut at episode
    boundaries and at the end of the stream (where it bootstraps from the last `next_values`)."""
    T = rewards.shape[0]
    continues = 1.0 - terminated.astype(rewards.dtype)
    inside = 1.0 - jnp.logical_or(terminated, truncated).astype(rewards.dtype)

    def one(t: Array) -> Array:
        def body(k: Array, acc: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
            total, discount, alive = acc
            i = jnp.minimum(t + k, T - 1)
            valid = alive * (t + k < T)
            total = total + valid * discount * rewards[i]
            last = jnp.logical_or(k == n - 1, jnp.logical_or(inside[i] == 0, t + k == T - 1))
            total = total + valid * last * discount * gamma * continues[i] * next_values[i]
            return total, discount * gamma, alive * (1.0 - last.astype(rewards.dtype))

        return jax.lax.fori_loop(0, n, body, (jnp.zeros(()), jnp.ones(()), jnp.ones(())))[0]

    return jax.vmap(one)(jnp.arange(T))
