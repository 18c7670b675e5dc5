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
    """
    return jnp.sum(weights * (qs - soft_value(q_all, avail, alpha))) + v_state
