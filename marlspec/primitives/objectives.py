"""Policy and value objectives, elementwise over any batch shape (callers reduce,
usually with a mask). Each returns a quantity to *minimise*."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from marlspec.primitives.returns import td_lambda


def ppo_clip(
    log_prob: Float[Array, "*b"],
    old_log_prob: Float[Array, "*b"],
    advantages: Float[Array, "*b"],
    clip_eps: float,
) -> Float[Array, "*b"]:
    """PPO clipped surrogate (Schulman et al. 2017, eq. 7), negated:
    -min(rho A, clip(rho, 1-eps, 1+eps) A), rho = exp(log_prob - old_log_prob)."""
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -jnp.minimum(ratio * advantages, clipped * advantages)


def value_loss(
    values: Float[Array, "*b"],
    old_values: Float[Array, "*b"],
    targets: Float[Array, "*b"],
    clip_eps: float | None,
) -> Float[Array, "*b"]:
    """Squared value error, with the PPO2/MAPPO clipped variant when `clip_eps` is set
    (Yu et al. 2022, section 3): max((V - G)^2, (V_old + clip(V - V_old, ±eps) - G)^2) / 2."""
    error = 0.5 * (values - targets) ** 2
    if clip_eps is None:
        return error
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return jnp.maximum(error, 0.5 * (clipped - targets) ** 2)


def normalize(x: Float[Array, "*b"], mask: Float[Array, "*b"], eps: float = 1e-8) -> Float[Array, "*b"]:
    """Standardise `x` over the entries where `mask` is 1."""
    count = jnp.maximum(mask.sum(), 1.0)
    mean = (x * mask).sum() / count
    var = (((x - mean) ** 2) * mask).sum() / count
    return (x - mean) / jnp.sqrt(var + eps)


def masked_mean(x: Float[Array, "*b"], mask: Float[Array, "*b"]) -> Float[Array, ""]:
    return (x * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def happo_clip(
    log_prob: Float[Array, "*b"],
    old_log_prob: Float[Array, "*b"],
    advantages: Float[Array, "*b"],
    factor: Float[Array, "*b"],
    clip_eps: float,
) -> Float[Array, "*b"]:
    """HAPPO's clipped objective for the agent i_m updated m-th in a random order (Kuba et
    al. 2022, HAPPO; it rests on the multi-agent advantage decomposition, MAGPO eq. 5), negated:

        -min(r M A, clip(r, 1-eps, 1+eps) M A),   r = pi_new^{i_m} / pi_old^{i_m},

    where `factor` M = prod_{k<m} pi_new^{i_k}(a^{i_k}) / pi_old^{i_k}(a^{i_k}) is the
    compound ratio of the agents already updated this iteration (held fixed)."""
    ratio = jnp.exp(log_prob - old_log_prob)
    weighted = jax.lax.stop_gradient(factor) * advantages
    return -jnp.minimum(ratio * weighted, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * weighted)


def soft_actor_loss(
    logits: Float[Array, "*b A"], q: Float[Array, "*b A"], alpha: Float[Array, ""] | float
) -> Float[Array, "*b"]:
    """Soft policy improvement for a discrete policy (MACPF eqs. 18-19; FOP; discrete
    SAC): sum_a pi(a) (alpha log pi(a) - Q(a)), the KL from pi to the Boltzmann
    distribution of Q / alpha up to a constant. `logits` must already be masked;
    unavailable actions then carry pi(a) = 0. The critic `q` is held fixed."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    probs = jnp.exp(logp)
    return jnp.sum(probs * (alpha * logp - jax.lax.stop_gradient(q)), axis=-1)


def soft_td_target(
    rewards: Float[Array, " T"],
    next_q: Float[Array, " T"],
    next_log_pi: Float[Array, " T"],
    terminated: Bool[Array, " T"],
    truncated: Bool[Array, " T"],
    gamma: float,
    lam: float,
    alpha: Float[Array, ""] | float,
) -> Float[Array, " T"]:
    """Soft TD(lambda) target of the joint critic (MACPF eqs. 16-17, FOP): TD(lambda)
    returns (`returns.td_lambda`) whose bootstrap values are the soft values

        V(s'_t) = Q_tot_target(s'_t, a'_t) - alpha log pi_jt(a'_t | s'_t),   a'_t ~ pi_jt(.|s'_t),

    so lambda = 0 gives the paper's one-step target r + gamma (Q_hat - alpha log pi).
    (The reference code instead subtracts alpha times the agents' MEAN log pi once,
    after the lambda-return; we keep the paper's joint log pi inside the recursion.)
    The result is a regression target: it carries no gradient."""
    soft = next_q - alpha * next_log_pi
    return jax.lax.stop_gradient(td_lambda(rewards, soft, terminated, truncated, gamma, lam))
