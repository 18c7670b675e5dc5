"""AgentMixer's Individual-Global-Consistency (IGC; Li, Zhao, Wu & Pajarinen, AAAI 2024).

Only a summary of the paper is available to us and it prints no formula for IGC
(it states the mechanism: "the modes of the joint policy and of the individual
policies are equivalent"; continuous: joint mean = individual means; discrete:
Gumbel-softmax). The construction below is the authors' code as recorded in
REFERENCE_FACTS.md, which is followed wherever the summary is silent:

* discrete: the Policy Modifier emits one head `h` per agent and action, turned
  into Gumbel-like noise g = -log(-log(c sigmoid(h))), 0 < c <= 1; the joint policy
  of agent i is Categorical((l_i + g_i) / tau), with tau annealed from 1.0 to 0.05;
* continuous: the joint policy is Normal(individual means, std from the mixer).

Caveat (theory/THEOREMS.md, claim 9): for a *fixed* head the joint mode can differ
from the individual mode; IGC holds in the sampling sense (heads i.i.d. with
sigmoid(h) ~ U(0, 1)), per agent. The tabular reference is `theory/agentmixer.py`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.primitives.factorization import gaussian_log_prob, independent_sample, mask_logits


def gumbel_from_head(head: Float[Array, "*b"], c: float) -> Float[Array, "*b"]:
    """g = -log(-log u), u = c sigmoid(h): AgentMixer's discrete IGC noise (REFERENCE_FACTS).

    Computed as -log(softplus(-h) - log c), since -log sigmoid(h) = softplus(-h), so
    that no probability is formed. The inner term is floored at the dtype's smallest
    normal number: with c = 1 and h above ~87 (float32) g would otherwise be +inf.
    """
    if not 0.0 < c <= 1.0:
        raise ValueError(f"c must lie in (0, 1] (got {c})")
    neg_log_u = -jax.nn.log_sigmoid(head) - math.log(c)
    return -jnp.log(jnp.maximum(neg_log_u, jnp.finfo(neg_log_u.dtype).tiny))


def igc_joint_logits(
    individual_logits: Float[Array, "*b A"],
    head: Float[Array, "*b A"],
    c: float,
    tau: Float[Array, ""] | float,
) -> Float[Array, "*b A"]:
    """Joint-policy logits of discrete IGC: (l + g(h)) / tau (REFERENCE_FACTS; the summary's
    "Gumbel-softmax" mechanism). `individual_logits` are the decentralized policy's logits."""
    return (individual_logits + gumbel_from_head(head, c)) / tau


def igc_sample(
    key: PRNGKeyArray,
    individual_logits: Float[Array, "N A"],
    head: Float[Array, "N A"],
    avail: Bool[Array, "N A"],
    c: float,
    tau: Float[Array, ""] | float,
    greedy: bool = False,
) -> tuple[Int[Array, " N"], Float[Array, " N"]]:
    """Sample the joint action of discrete IGC: every agent draws from
    Categorical(mask((l_i + g(h_i)) / tau)), or takes its mode when `greedy`.

    Unavailable actions get the finite logit `NEG` after the temperature is applied,
    so they have probability 0 for any tau. The agents are independent given the
    heads; correlation comes only from the mixer that produced `head`. Returns the
    actions and each agent's log-probability under the joint policy (PPO's joint
    ratio is the product over agents, REFERENCE_FACTS).
    """
    logits = mask_logits(igc_joint_logits(individual_logits, head, c, tau), avail)
    return independent_sample(key, logits, greedy)


def gaussian_igc(
    mean: Float[Array, "*b D"], log_std_from_mixer: Float[Array, "*b D"]
) -> tuple[Float[Array, "*b D"], Float[Array, "*b D"]]:
    """Continuous IGC (REFERENCE_FACTS): the joint policy is Normal(mean, diag(std)^2) with
    the individual means and the mixer's std. Returns `(mean, std)`; the joint mean and
    mode are the individual means by construction. A diagonal covariance, as in the
    authors' code; the tabular reference also allows a full Cholesky factor."""
    return mean, jnp.exp(log_std_from_mixer)


def gaussian_igc_sample(
    key: PRNGKeyArray,
    mean: Float[Array, "N D"],
    log_std_from_mixer: Float[Array, "N D"],
    greedy: bool = False,
) -> tuple[Float[Array, "N D"], Float[Array, " N"]]:
    """Sample the continuous IGC joint action (REFERENCE_FACTS): a ~ Normal(individual means,
    diag(std from the mixer)^2), every agent and dimension with its own standard normal draw; the
    mode (`greedy`) is the individual means. Returns the actions and each agent's log-probability
    under the joint policy (summed over its action dimensions)."""
    mu, std = gaussian_igc(mean, log_std_from_mixer)
    actions = mu if greedy else mu + std * jax.random.normal(key, mu.shape)
    return actions, gaussian_log_prob(mu, log_std_from_mixer, actions)
