"""Value mixers: how per-agent utilities Q_i combine into the joint value Q_tot.

Each mixer is a pure formula over ONE joint step (callers `vmap` over time and
batch). Mixers with learned parts receive those parts as arguments: the
hypernetwork outputs (`marlspec.nn.mixing.Hypernet`) or attention weights
(`marlspec.nn.mixing.AttentionWeights`), so that the formula and its guarantees
(monotonicity, linearity, non-negative weights) are testable on their own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from marlspec.primitives.factorization import NEG


def vdn(qs: Float[Array, " N"]) -> Float[Array, ""]:
    """VDN (Sunehag et al. 2018): the additive decomposition Q_tot = sum_i Q_i."""
    return jnp.sum(qs)


def qmix(
    qs: Float[Array, " N"],
    w1: Float[Array, "N E"],
    b1: Float[Array, " E"],
    w2: Float[Array, " E"],
    b2: Float[Array, ""],
) -> Float[Array, ""]:
    """QMIX (Rashid et al. 2018, section 4.3): a two-layer mixing network whose
    weights come from a hypernetwork of the state,

        Q_tot = ELU(Q |W1(s)| + b1(s)) . |W2(s)| + b2(s).

    The absolute values make the weights non-negative, so dQ_tot/dQ_i >= 0 for every
    agent (QMIX's monotonicity constraint, their eq. 5) whatever the hypernetwork says.
    """
    hidden = jax.nn.elu(qs @ jnp.abs(w1) + b1)
    return hidden @ jnp.abs(w2) + b2


def linear_hypernet_coefficients(
    w1: Float[Array, "N E"], b1: Float[Array, " E"], w2: Float[Array, " E"], b2: Float[Array, ""]
) -> tuple[Float[Array, " N"], Float[Array, ""]]:
    """The per-agent weights k_i(s) >= 0 and the bias b(s) that the linear hypernetwork
    mixer reduces to: k = |W1| |W2|, b = b1 . |W2| + b2."""
    k = jnp.abs(w1) @ jnp.abs(w2)
    return k, b1 @ jnp.abs(w2) + b2


def linear_hypernet(
    qs: Float[Array, " N"],
    w1: Float[Array, "N E"],
    b1: Float[Array, " E"],
    w2: Float[Array, " E"],
    b2: Float[Array, ""],
) -> Float[Array, ""]:
    """MACPF's mixer (Wang et al. 2023, eqs. 14-15 and appendix E): QMIX's
    hypernetwork with non-negative weights and NO non-linearity between the layers,

        Q_tot = (Q |W1(s)| + b1(s)) . |W2(s)| + b2(s) = sum_i k_i(s) Q_i + b(s),  k_i >= 0.

    The weights depend on the state only, so the dependency among agents enters only
    through the conditional utilities Q_i(a_i | s, a_<i) (appendix E explains why a
    non-linear or action-dependent mixer would distort it). MIPI uses the same form.
    """
    return (qs @ jnp.abs(w1) + b1) @ jnp.abs(w2) + b2


def soft_value(q_all: Float[Array, "N A"], avail: Bool[Array, "N A"], alpha: Float[Array, ""] | float) -> Float[Array, " N"]:
    """Per-agent soft state value V_i = alpha log sum_a exp(Q_i(a) / alpha) over the
    available actions (MACPF eq. 4, read with the log that makes eq. 3 normalised;
    FOP's V_i)."""
    return alpha * jax.nn.logsumexp(jnp.where(avail, q_all / alpha, NEG), axis=-1)


def fop_igo(
    qs: Float[Array, " N"],
    q_all: Float[Array, "N A"],
    avail: Bool[Array, "N A"],
    weights: Float[Array, " N"],
    v_state: Float[Array, ""],
    alpha: Float[Array, ""] | float,
) -> Float[Array, ""]:
    """FOP's IGO mixer (Zhang et al. 2021; quoted as MACPF eq. 2):

        Q_tot = sum_i w_i(s) [Q_i(a_i) - V_i] + V(s),   V_i = alpha logsumexp(Q_i / alpha),

    with w_i(s) = alpha / alpha_i >= 0 produced by an attention network. `qs` holds
    Q_i at the taken actions and `q_all` the full utilities that define V_i.

    V_i uses the single temperature `alpha`, as FOP's code does (REFERENCE_FACTS). The
    paper's eq. 2 defines V_i = alpha_i logsumexp(Q_i / alpha_i) with each agent's own
    temperature. The two agree when every alpha_i = alpha. Otherwise, with
    w_i = alpha / alpha_i, eq. 2 exceeds this mixer by the action-independent amount
    sum_i w_i (alpha logsumexp(Q_i/alpha) - alpha_i logsumexp(Q_i/alpha_i)), which a
    learned V(s) can absorb (tests/theory/test_primitives_vs_tabular.py).
    """
    return jnp.sum(weights * (qs - soft_value(q_all, avail, alpha))) + v_state


def conditional_soft_mix(
    qs: Float[Array, " N"],
    q_all: Float[Array, "N A"],
    avail: Bool[Array, "N A"],
    k: Float[Array, " N"],
    b: Float[Array, ""],
    alpha: Float[Array, ""] | float,
    present: Float[Array, " N"] | None = None,
) -> Float[Array, ""]:
    """MACPF's eq. 6 on the linear hypernetwork mixer's weights:

        Q_jt = sum_i (alpha / alpha_i) [Q_i(a_i | s, a_<i) - V_i(s, a_<i)] + V_jt(s),
        V_i  = alpha_i log sum_{a_i} exp(Q_i(. | s, a_<i) / alpha_i),

    with alpha / alpha_i = k_i(s) >= 0 (the weights of `linear_hypernet_coefficients`, as FOP's
    eq. 2 reads its mixing weights) and V_jt(s) = b(s). Written with u_i = k_i Q_i, each term is
    u_i(a_i) - alpha log sum exp(u_i / alpha) = alpha log softmax(u_i / alpha)[a_i], so

        Q_jt = alpha sum_i log pi_i(a_i | s, a_<i) + V_jt(s),   pi_i = softmax(k_i Q_i / alpha).

    Without V_i(s, a_<i), which depends on the earlier agents' actions and so cannot be absorbed
    by b(s), the split of Q_jt between agents is not determined (any function of a_<i can move
    between Q_{i-1} and Q_i); with it, the split is eq. 6's and a perfect fit makes the product of
    the pi_i the Boltzmann distribution of Q_jt at temperature alpha (the joint of Theorem 1).
    `qs` holds Q_i at the taken actions and `q_all` every action's (row i conditioned on a_<i).
    For independent utilities V_i depends on s alone, and the form spans the same functions as
    `linear_hypernet`. Agents with `present` 0 contribute nothing."""
    terms = k * qs - soft_value(k[:, None] * q_all, avail, alpha)
    return jnp.sum(terms if present is None else terms * present) + b


def attention_linear(
    qs: Float[Array, " M"], weights: Float[Array, " M"], bias: Float[Array, ""],
) -> Float[Array, ""]:
    """MIPI's mixer (eqs. 14-15), with REFIL's attention weights (`nn.entity.EntityMixer`):

        Q_jt = sum_i w_i(s) Q_i + b(s),   w_i(s) >= 0,

    the linear, non-negative decomposition that keeps IGM (the paper's eq. 6 form). The weights
    come from attention over the state's entity rows, so nothing is sized to the team; absent
    agents carry w_i = 0. REFIL's imagined objective mixes 2N utilities at once: the
    within-group and the interaction utility of every agent, each with its own weight."""
    return jnp.sum(jnp.abs(weights) * qs) + bias
