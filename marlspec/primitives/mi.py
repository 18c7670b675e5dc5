"""MIPI's constrained individual policy improvement by Blahut-Arimoto (Wang, Ye & Lu,
NeurIPS 2023; paper 002, section 4.3, eqs. 10-13 and Theorem 2).

For one agent and one value of its own features s^+, the team-related part s* of the
state takes K values with (imagined) probabilities rho(s* | s^+). The improvement
maximises the MI-regularised objective (eqs. 10-11)

    F(pi) = sum_k rho_k sum_u pi(u|k) [Q(k, u) - alpha log(pi(u|k) / pibar(u))],
    pibar = sum_k rho_k pi(.|k),

i.e. E[Q] - alpha I(U; S* | s^+), by alternating eq. 12 (the marginal) and eq. 13
(the Boltzmann policy around it). F never decreases along the alternation. The paper
runs 1 iteration in its matrix game and 4 in SMAC (REFERENCE_FACTS / its appendix).
`Q` is whatever per-agent utility the caller regularises; theory/THEOREMS.md (claim 7)
shows that with a mixer weight w_i(s) != 1 the utility should be w_i Q_i.

Every function works on one s^+ (callers `vmap`). `avail` marks the available actions;
unavailable ones get probability 0 in every policy and marginal. The tabular reference
is `theory/mipi.py::blahut_arimoto`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from marlspec.primitives.factorization import NEG


def _safe_log(p: Float[Array, "*b"], avail: Bool[Array, "*b"]) -> Float[Array, "*b"]:
    """log p where p > 0 and the action is available, `NEG` elsewhere (finite, no NaN gradient)."""
    live = avail & (p > 0)
    return jnp.where(live, jnp.log(jnp.where(live, p, 1.0)), NEG)


def _all_available(x: Float[Array, "*b A"]) -> Bool[Array, " A"]:
    return jnp.ones(x.shape[-1:], dtype=bool)


def ba_marginal(policy: Float[Array, "K A"], rho: Float[Array, " K"]) -> Float[Array, " A"]:
    """MIPI eq. 12: pibar(u) = sum_k rho_k pi(u | k), the marginal over the team context."""
    return rho @ policy


def ba_policy(
    q: Float[Array, "K A"],
    log_marginal: Float[Array, " A"],
    alpha: Float[Array, ""] | float,
    avail: Bool[Array, " A"] | None = None,
) -> Float[Array, "K A"]:
    """MIPI eq. 13: pi(u | k) = pibar(u) exp(Q(k, u)/alpha) / Z_k, as normalised log-probs.

    Unavailable actions get log-prob about `NEG` (probability 0)."""
    avail = _all_available(q) if avail is None else avail
    logits = jnp.where(avail[None, :], log_marginal[None, :] + q / alpha, NEG)
    return jax.nn.log_softmax(logits, axis=-1)


def ba_objective(
    q: Float[Array, "K A"],
    rho: Float[Array, " K"],
    policy: Float[Array, "K A"],
    alpha: Float[Array, ""] | float,
    avail: Bool[Array, " A"] | None = None,
) -> Float[Array, ""]:
    """The MI-regularised objective of MIPI eq. 10 under constraint 11 (module docstring):
    E_rho E_pi[Q - alpha log(pi / pibar)] with pibar = rho @ pi. Terms with pi = 0 are 0."""
    avail = _all_available(q) if avail is None else avail
    avail_ka = jnp.broadcast_to(avail[None, :], policy.shape)
    log_ratio = _safe_log(policy, avail_ka) - _safe_log(ba_marginal(policy, rho), avail)[None, :]
    terms = jnp.where(avail_ka & (policy > 0), policy * (q - alpha * log_ratio), 0.0)
    return rho @ jnp.sum(terms, axis=-1)


def ba_iterate(
    q: Float[Array, "K A"],
    rho: Float[Array, " K"],
    alpha: Float[Array, ""] | float,
    pi0: Float[Array, "K A"],
    num_iters: int,
    avail: Bool[Array, " A"] | None = None,
) -> tuple[Float[Array, "M K A"], Float[Array, "M A"], Float[Array, " M"]]:
    """`num_iters` Blahut-Arimoto steps of MIPI Theorem 2 from the policy `pi0` (probabilities):

        pibar^m = rho @ pi^m  (eq. 12),   pi^{m+1}(u|k) ∝ pibar^m(u) exp(Q(k, u)/alpha)  (eq. 13).

    Returns the history `(policies, marginals, objectives)`: `policies[m] = pi^{m+1}`,
    `marginals[m] = pibar^m` and `objectives[m] = F(pi^{m+1})` for m = 0..num_iters-1
    (F(pi^0) is `ba_objective(q, rho, pi0, alpha)`). `num_iters` must be static.
    """
    avail = _all_available(q) if avail is None else avail

    def step(pi: Array, _: None) -> tuple[Array, tuple[Array, Array, Array]]:
        marginal = ba_marginal(pi, rho)
        new_pi = jnp.exp(ba_policy(q, _safe_log(marginal, avail), alpha, avail))
        return new_pi, (new_pi, marginal, ba_objective(q, rho, new_pi, alpha, avail))

    _, history = jax.lax.scan(step, pi0, None, length=num_iters)
    return history


# ----------------------------------------------------------------------------------------
# The deep-RL losses of MIPI's practical framework (section 4.4). Each acts on one agent
# at one step (callers vmap); `logits` are already masked (`factorization.mask_logits`),
# so unavailable actions carry probability 0.


def mi_log_ratio(
    logits: Float[Array, " A"], marginal_logits: Float[Array, " A"], action: Array,
) -> Float[Array, ""]:
    """log pi_i(u|s) - log pibar_i(u|s^+) at `action`: the per-agent term of the MI-augmented
    reward (eqs. 3 and 16). Summed over agents and scaled by alpha it is subtracted from the
    bootstrapped joint value in the soft TD target of eq. 16."""
    return jax.nn.log_softmax(logits)[action] - jax.nn.log_softmax(marginal_logits)[action]


def mi_actor_loss(
    logits: Float[Array, " A"], marginal_logits: Float[Array, " A"], q: Float[Array, " A"],
    alpha: Float[Array, ""] | float,
) -> Float[Array, ""]:
    """MIPI eq. 18: E_{u ~ pi}[alpha (log pi(u|s) - log pibar(u|s^+)) - Q_i(s, u)], exactly over
    the actions. The marginal and the utility are held fixed, so this is
    alpha KL(pi || pibar exp(Q/alpha) / Z) - alpha log Z: its minimiser is eq. 13's
    Blahut-Arimoto step pi ∝ pibar exp(Q/alpha) (tests/theory/test_primitives_vs_tabular.py).
    With pibar uniform it is the entropy-regularised (SAC) actor loss up to a constant."""
    logp = jax.nn.log_softmax(logits)
    probs = jnp.exp(logp)
    prior = jax.lax.stop_gradient(jax.nn.log_softmax(marginal_logits))
    live = probs > 0
    terms = jnp.where(live, probs * (alpha * (logp - prior) - jax.lax.stop_gradient(q)), 0.0)
    return jnp.sum(terms)


def marginal_nll(
    imagined_probs: Float[Array, " A"], marginal_logits: Float[Array, " A"], avail: Bool[Array, " A"],
) -> Float[Array, ""]:
    """MIPI eq. 17 for one imagined composition s*: -E_{u ~ pi(u|s^+, s*)} log pibar(u|s^+), the
    maximum-likelihood loss of the marginal policy, taken exactly over the actions instead of
    with one sampled u (same expectation, less variance). The imagined policy is held fixed.
    Averaged over s* ~ rho-hat its minimiser is eq. 12's marginal sum_s* rho-hat pi(.|s^+, s*)."""
    logm = jax.nn.log_softmax(jnp.where(avail, marginal_logits, NEG))
    target = jax.lax.stop_gradient(imagined_probs)
    return -jnp.sum(jnp.where(avail & (target > 0), target * logm, 0.0))
