"""Joint-policy factorizations over agents.

`independent`: the joint policy is the product of per-agent marginals,
pi(a | s) = prod_i pi_i(a_i | o_i). Later factorizations (conditional, autoregressive)
live beside it and share the masked-categorical helpers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

NEG = -1e9
"""Logit given to unavailable actions (finite, so that gradients stay finite)."""


def mask_logits(logits: Float[Array, "*b A"], avail: Bool[Array, "*b A"]) -> Float[Array, "*b A"]:
    """Unavailable actions get probability 0."""
    return jnp.where(avail, logits, NEG)


def log_prob(logits: Float[Array, "*b A"], actions: Int[Array, "*b"]) -> Float[Array, "*b"]:
    """log pi(a) of a (masked) categorical."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(logits: Float[Array, "*b A"]) -> Float[Array, "*b"]:
    """Entropy of a (masked) categorical."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def independent_sample(
    key: PRNGKeyArray, logits: Float[Array, "N A"], greedy: bool = False
) -> tuple[Int[Array, " N"], Float[Array, " N"]]:
    """Sample every agent's action from its own marginal (or take each mode when
    `greedy`). Returns the actions and their per-agent log-probabilities."""
    if greedy:
        actions = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    else:
        actions = jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    return actions, log_prob(logits, actions)
