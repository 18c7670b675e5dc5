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

from marlspec.primitives.factorization import independent_sample, mask_logits


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


def igc_scale(individual_log_std: Float[Array, "*b D"], head: Float[Array, "*b D"]) -> Float[Array, "*b D"]:
    """Continuous IGC's spread: the joint policy's log-std is the individual policy's log-std
    plus log(2 sigmoid(h)), so the modifier's head scales each agent's spread by a factor in
    (0, 2) and a zero head leaves it unchanged. The joint mean stays the individual mean.

    The authors' code (REFERENCE_FACTS) sets the joint std to 0.5 sigmoid(h) outright; we keep
    the individual std in the product so that it is trained through the joint policy and can
    be used for stochastic decentralized execution."""
    return individual_log_std + math.log(2.0) + jax.nn.log_sigmoid(head)


def _whitened(diag_std: Float[Array, " n"], factor: Float[Array, "n r"]) -> tuple[Array, Array]:
    """W = D^{-1/2} V and the Cholesky factor L of I + W^T W (the r x r capacitance matrix)."""
    w = factor / diag_std[:, None]
    capacitance = jnp.eye(factor.shape[1], dtype=factor.dtype) + w.T @ w
    return w, jnp.linalg.cholesky(capacitance)


def lowrank_gaussian_log_prob(
    x: Float[Array, " n"], mean: Float[Array, " n"], diag_std: Float[Array, " n"], factor: Float[Array, "n r"]
) -> Float[Array, ""]:
    """log N(x; mean, diag(diag_std)^2 + V V^T), the correlated form of continuous IGC over the
    concatenated actions of all agents. By the Woodbury identity and the matrix determinant
    lemma, with W = D^{-1/2} V and C = I + W^T W = L L^T (r x r):

        (x - m)^T S^-1 (x - m) = |z|^2 - |L^-1 W^T z|^2,  z = D^{-1/2}(x - m),
        log det S = 2 sum log diag L + 2 sum log diag_std.
    """
    w, chol = _whitened(diag_std, factor)
    z = (x - mean) / diag_std
    y = jax.scipy.linalg.solve_triangular(chol, w.T @ z, lower=True)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol))) + 2.0 * jnp.sum(jnp.log(diag_std))
    return -0.5 * (z @ z - y @ y + log_det + x.shape[0] * math.log(2.0 * math.pi))


def lowrank_gaussian_entropy(diag_std: Float[Array, " n"], factor: Float[Array, "n r"]) -> Float[Array, ""]:
    """Entropy of N(., diag(diag_std)^2 + V V^T): (n (1 + log 2 pi) + log det S) / 2."""
    _, chol = _whitened(diag_std, factor)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol))) + 2.0 * jnp.sum(jnp.log(diag_std))
    return 0.5 * (diag_std.shape[0] * (1.0 + math.log(2.0 * math.pi)) + log_det)


def lowrank_gaussian_sample(
    key: PRNGKeyArray, mean: Float[Array, " n"], diag_std: Float[Array, " n"], factor: Float[Array, "n r"]
) -> Float[Array, " n"]:
    """x = mean + diag_std * e1 + V e2 with e1 ~ N(0, I_n), e2 ~ N(0, I_r): a draw from
    N(mean, diag(diag_std)^2 + V V^T). Its mean is `mean`, the individual means under IGC."""
    k1, k2 = jax.random.split(key)
    e1 = jax.random.normal(k1, mean.shape, mean.dtype)
    e2 = jax.random.normal(k2, factor.shape[1:], mean.dtype)
    return mean + diag_std * e1 + factor @ e2
