"""Joint-policy factorizations over agents.

`independent`: the joint policy is the product of per-agent marginals,
pi(a | s) = prod_i pi_i(a_i | o_i). Later factorizations (conditional, autoregressive)
live beside it and share the masked-categorical helpers.
"""

from __future__ import annotations

from collections.abc import Callable

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


def gaussian_log_prob(
    mean: Float[Array, "*b D"], log_std: Float[Array, "*b D"], actions: Float[Array, "*b D"]
) -> Float[Array, "*b"]:
    """log N(a; mean, diag(exp(log_std))^2), summed over action dimensions."""
    z = (actions - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def gaussian_entropy(log_std: Float[Array, "*b D"]) -> Float[Array, "*b"]:
    """Entropy of a diagonal Gaussian, summed over action dimensions."""
    return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)


def gaussian_sample(
    key: PRNGKeyArray, mean: Float[Array, "N D"], log_std: Float[Array, "N D"], greedy: bool = False
) -> tuple[Float[Array, "N D"], Float[Array, " N"]]:
    """Independent per-agent Gaussian actions (the mean when `greedy`) and their log-probs."""
    actions = mean if greedy else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return actions, gaussian_log_prob(mean, log_std, actions)


def autoregressive_sample(
    key: PRNGKeyArray,
    conditional_logits: Callable[[Int[Array, " N"]], Float[Array, "N A"]],
    order: Int[Array, " N"],
    greedy: bool = False,
) -> tuple[Int[Array, " N"], Float[Array, " N"]]:
    """Sample a joint action from an autoregressive policy, agent by agent in `order`:

        mu(a | s) = prod_j mu^{i_j}(a^{i_j} | s, a^{i_1:j-1})     (MAGPO section 4.1; MAT, Wen et al. 2022).

    `conditional_logits(actions)` gives every agent's (masked) logits when the joint action
    is `actions`, and must be causal: agent `order[j]`'s row may depend only on the actions
    of `order[:j]` (entries of later agents are placeholders). It is called once per agent.
    Returns the actions and each agent's conditional log-probability.
    """
    n = order.shape[0]
    keys = jax.random.split(key, n)

    def body(j: Array, carry: tuple[Array, Array]) -> tuple[Array, Array]:
        actions, logp = carry
        agent = order[j]
        logits = conditional_logits(actions)[agent]
        if greedy:
            a = jnp.argmax(logits).astype(jnp.int32)
        else:
            a = jax.random.categorical(keys[j], logits).astype(jnp.int32)
        here = jnp.arange(n) == agent  # a select, cheaper than a scatter under vmap on CPU
        return jnp.where(here, a, actions), jnp.where(here, jax.nn.log_softmax(logits)[a], logp)

    init = (jnp.zeros((n,), jnp.int32), jnp.zeros((n,), jnp.float32))
    return jax.lax.fori_loop(0, n, body, init)


# ------------------------------------------------------------------ exploration


def epsilon_soft(logits: Float[Array, "*b A"], avail: Bool[Array, "*b A"], epsilon: Float[Array, ""] | float) -> Float[Array, "*b A"]:
    """Logits of the epsilon-soft policy (1 - eps) pi + eps U(available actions), the
    exploration of FOP/MACPF's reference code (REFERENCE_FACTS)."""
    probs = jax.nn.softmax(mask_logits(logits, avail), axis=-1)
    uniform = avail / jnp.maximum(avail.sum(axis=-1, keepdims=True), 1)
    return mask_logits(jnp.log((1.0 - epsilon) * probs + epsilon * uniform + 1e-20), avail)


def epsilon_greedy(
    key: PRNGKeyArray, q: Float[Array, "N A"], avail: Bool[Array, "N A"], epsilon: Float[Array, ""] | float
) -> Int[Array, " N"]:
    """Each agent takes its greedy available action, or with probability eps a uniformly
    random available one (the exploration of VDN/QMIX)."""
    k_explore, k_random = jax.random.split(key)
    greedy = jnp.argmax(mask_logits(q, avail), axis=-1)
    random = jax.random.categorical(k_random, mask_logits(jnp.zeros_like(q), avail), axis=-1)
    explore = jax.random.uniform(k_explore, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)


# ------------------------------------------------------------------ conditional


def action_encodings(actions: Int[Array, " N"], num_actions: int) -> Float[Array, "N NA"]:
    """Every agent j encoded as [one_hot(j, N), one_hot(a_j, A)]: the input of MACPF's
    dependency corrections (REFERENCE_FACTS, from the authors' code)."""
    n = actions.shape[0]
    return jnp.concatenate([jnp.eye(n, dtype=jnp.float32), jax.nn.one_hot(actions, num_actions)], axis=-1)


def dependency_summary(embeddings: Float[Array, "N E"]) -> Float[Array, "N E"]:
    """Row i is (1/N) sum_{j<i} embeddings_j: what agent i knows of the agents before it.
    Agent 0 gets zeros. Rows never read agents j >= i, which is what makes the chain
    rule of MACPF eq. 5 hold (REFERENCE_FACTS: summed over j < i, divided by N)."""
    n = embeddings.shape[0]
    earlier = jnp.tril(jnp.ones((n, n), embeddings.dtype), k=-1)
    return (earlier @ embeddings) / n


def conditional_logits(
    independent_logits: Float[Array, "*b A"], correction: Float[Array, "*b A"], avail: Bool[Array, "*b A"]
) -> Float[Array, "*b A"]:
    """MACPF eq. 10 (with its footnote 1): the logits of the dependent policy
    pi_i^dep(a_i | s, a_<i) are the independent logits plus the dependency correction
    b_i^dep(a_i | s, a_<i). The independent part is held fixed (stop-gradient) so that
    losses of the dependent policy only train the correction (section 3.3)."""
    return mask_logits(jax.lax.stop_gradient(independent_logits) + correction, avail)


def conditional_sample(
    key: PRNGKeyArray,
    dependent_logits: Callable[[Int[Array, " N"]], Float[Array, "N A"]],
    num_agents: int,
    greedy: bool = False,
) -> tuple[Int[Array, " N"], Float[Array, "N A"]]:
    """Sample a joint action from the chain rule pi_jt(a|s) = prod_i pi_i(a_i | s, a_<i)
    (MACPF eqs. 5 and 11): agent 0 first, then each agent i given the actions already
    drawn for the agents before it (or each conditional mode when `greedy`).

    `dependent_logits(actions)` returns every agent's (masked) logits given a joint
    action; row i must read only `actions[:i]` (see `dependency_summary`). Returns the
    actions and the logits of every agent's conditional given the drawn a_<i. This is
    `autoregressive_sample` in the fixed order 0..N-1, plus one pass for the logits:
    N + 1 passes in all, the sequential decision process of the paper's appendix F.
    """
    actions, _ = autoregressive_sample(key, dependent_logits, jnp.arange(num_agents), greedy)
    return actions, dependent_logits(actions)
