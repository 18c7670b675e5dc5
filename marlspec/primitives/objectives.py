"""Policy and value objectives, elementwise over any batch shape (callers reduce,
usually with a mask). Each returns a quantity to *minimise*."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float


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
