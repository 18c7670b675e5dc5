"""Guided policy optimization objectives (MAGPO, paper 001, section 4.2).

A centralized *guider* mu (an autoregressive joint policy) collects the data and is
kept within a ratio delta of the decentralized *learners* pi, which imitate it.
Every function is elementwise over any batch shape (one entry per agent-step;
callers reduce with a mask) and returns a quantity to *minimise*.

Notation per agent-step (agent i_j at time t): `log_guider` = log mu_phi(a | s, a^{i_1:j-1}),
`log_learner` = log pi_theta(a | o), `log_behaviour` = log mu_phi_old(a | ...), the
guider at collection time (the guider collects the data, so the stored behaviour
log-prob is the guider's).

Gradient flow: the guider objective treats the learner as fixed and the learner
objective treats the guider as fixed (`stop_gradient` inside), so the two losses can
be summed and differentiated once with respect to both parameter sets.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlspec.primitives.objectives import ppo_clip

KLDirection = Literal["forward", "reverse"]


def _log_delta(delta: float) -> float:
    if not delta > 1.0:
        raise ValueError(f"delta must be > 1 (got {delta}); use float('inf') for no constraint")
    return math.log(delta)


def categorical_kl(p_logits: Float[Array, "*b A"], q_logits: Float[Array, "*b A"]) -> Float[Array, "*b"]:
    """KL(p || q) = sum_a p(a) (log p(a) - log q(a)) between two (masked) categoricals.

    Actions masked out of both (finite `NEG` logits) carry probability 0 and contribute 0.
    """
    log_p = jax.nn.log_softmax(p_logits, axis=-1)
    log_q = jax.nn.log_softmax(q_logits, axis=-1)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def double_clip_ratio(
    log_guider: Float[Array, "*b"],
    log_learner: Float[Array, "*b"],
    log_behaviour: Float[Array, "*b"],
    delta: float,
) -> Float[Array, "*b"]:
    """The inner part of MAGPO eq. 10: clip(mu/pi, 1/delta, delta) * pi / mu_old.

    Computed in log space, as the reference implementation does (REFERENCE_FACTS):
    exp(clip(log mu - log pi, -log delta, log delta) + log pi - log mu_old). The
    learner is held fixed (no gradient). `delta = inf` gives the plain ratio mu / mu_old.
    """
    log_d = _log_delta(delta)
    log_learner = jax.lax.stop_gradient(log_learner)
    return jnp.exp(jnp.clip(log_guider - log_learner, -log_d, log_d) + log_learner - log_behaviour)


def guider_kl_mask(
    log_guider: Float[Array, "*b"], log_learner: Float[Array, "*b"], delta: float
) -> Float[Array, "*b"]:
    """m(delta) of MAGPO eq. 9: 1 where mu(a)/pi(a) lies outside (1/delta, delta), else 0.

    Boolean-valued (returned as 0/1 floats) and without gradient. `delta = inf`: all 0.
    """
    log_d = _log_delta(delta)
    gap = jax.lax.stop_gradient(log_guider - log_learner)
    return (jnp.abs(gap) >= log_d).astype(log_guider.dtype)


def guider_surrogate(
    log_guider: Float[Array, "*b"],
    log_learner: Float[Array, "*b"],
    log_behaviour: Float[Array, "*b"],
    advantages: Float[Array, "*b"],
    clip_eps: float,
    delta: float,
) -> Float[Array, "*b"]:
    """The policy term of MAGPO eq. 9 with the double clip of eq. 10, negated:

        -min(r A, clip(clip(mu/pi, 1/delta, delta) pi/mu_old, 1-eps, 1+eps) A),   r = mu/mu_old.

    The inner clip stops the gradient once the advantage would push the guider more than
    a factor delta away from the learner, provided the outer clip is not already at its
    floor/ceiling: that holds whenever the behaviour guider mu_old lay inside the closed
    delta box around pi. If mu_old/pi > delta, PPO's min can select r A and the gradient
    keeps pushing (counterexample and test: theory/THEOREMS.md, "Primitive cross-checks").
    `delta = inf` recovers PPO's clip (CTDS's teacher).
    """
    ratio = jnp.exp(log_guider - log_behaviour)
    clipped = jnp.clip(double_clip_ratio(log_guider, log_learner, log_behaviour, delta), 1.0 - clip_eps, 1.0 + clip_eps)
    return -jnp.minimum(ratio * advantages, clipped * advantages)


def guider_objective(
    guider_logits: Float[Array, "*b A"],
    learner_logits: Float[Array, "*b A"],
    log_guider: Float[Array, "*b"],
    log_learner: Float[Array, "*b"],
    log_behaviour: Float[Array, "*b"],
    advantages: Float[Array, "*b"],
    clip_eps: float,
    delta: float,
) -> tuple[Float[Array, "*b"], Float[Array, "*b"], Float[Array, "*b"]]:
    """The guider loss of MAGPO eq. 9, per agent-step, before averaging over T n:

        guider_surrogate(...) + m(delta) KL(mu(. | s, a^{i_1:j-1}) || stopgrad pi(. | o)).

    The KL direction is the paper's and the reference implementation's (REFERENCE_FACTS).
    Returns `(loss, surrogate, masked_kl)`; `loss = surrogate + masked_kl`.
    """
    surrogate = guider_surrogate(log_guider, log_learner, log_behaviour, advantages, clip_eps, delta)
    mask = guider_kl_mask(log_guider, log_learner, delta)
    masked_kl = mask * categorical_kl(guider_logits, jax.lax.stop_gradient(learner_logits))
    return surrogate + masked_kl, surrogate, masked_kl


def learner_objective(
    learner_logits: Float[Array, "*b A"],
    guider_logits: Float[Array, "*b A"],
    log_learner: Float[Array, "*b"],
    log_behaviour: Float[Array, "*b"],
    advantages: Float[Array, "*b"],
    clip_eps: float,
    rl_coef: float,
    kl_direction: KLDirection = "forward",
) -> tuple[Float[Array, "*b"], Float[Array, "*b"], Float[Array, "*b"]]:
    """The learner loss of MAGPO eqs. 11-12, per agent-step, before averaging over T n:

        KL(stopgrad mu || pi) + lambda * (-min(r A, clip(r, 1-eps, 1+eps) A)),   r = pi / mu_old   (eq. 12).

    The ratio is taken against the behaviour policy (the guider that collected the data).
    `kl_direction="forward"` is KL(mu || pi), what the reference implementation minimises
    (REFERENCE_FACTS; its minimiser over product policies is the product of mu's marginals);
    `"reverse"` is eq. 11 as printed, KL(pi || mu). `rl_coef = 0` is CTDS's pure distillation.
    Returns `(loss, kl, rl_term)` with `loss = kl + rl_coef * rl_term`.
    """
    guider_logits = jax.lax.stop_gradient(guider_logits)
    if kl_direction == "forward":
        kl = categorical_kl(guider_logits, learner_logits)
    else:
        kl = categorical_kl(learner_logits, guider_logits)
    rl_term = ppo_clip(log_learner, jax.lax.stop_gradient(log_behaviour), advantages, clip_eps)
    return kl + rl_coef * rl_term, kl, rl_term
