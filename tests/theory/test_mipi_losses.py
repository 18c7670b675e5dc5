"""MIPI's deep-RL losses (`marlspec.primitives.mi`: eqs. 16, 17 and 18) against the exact
tabular reference `theory/mipi.py`, on small random inputs.

- Eq. 18 (`mi_actor_loss`) is, for any policy pi, alpha KL(pi || pi*) above its value at
  pi* = the Blahut-Arimoto policy step of eq. 13 computed by `mipi.blahut_arimoto`; so its
  minimiser is that step, and its gradient vanishes there.
- Eq. 17 (`marginal_nll`), averaged over the contexts with weights rho, is KL(pibar* || m)
  above its value at the marginal of eq. 12 (`mipi.blahut_arimoto`'s marginal).
- Eq. 16's regulariser (`mi_log_ratio`), averaged over a product policy, is `mipi.mi_cost`,
  and the bootstrapped soft value E_u[Q(u) - alpha sum_i log(pi_i / pibar_i)] is the value
  `mipi.mi_evaluate` solves for (one state, gamma = 0).

Every check has a mutation that must fail it (sign of the marginal term, a missing alpha,
the marginal fitted in the wrong direction, the log ratio inverted)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from marlspec.primitives import mi
from theory import mipi
from theory._b_strategies import ba_instances, int_table
from theory.tabular import Game, softmax

pytestmark = [
    pytest.mark.theory,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

ATOL = 2e-5


def kl(p: np.ndarray, q: np.ndarray) -> float:
    live = p > 0
    return float(np.sum(p[live] * (np.log(p[live]) - np.log(q[live]))))


# --------------------------------------------------------------------------- eq. 18

@jax.jit
def _actor(logits, marginal_logits, q, alpha):
    return mi.mi_actor_loss(logits, marginal_logits, q, alpha)


@jax.jit
def _actor_grad(logits, marginal_logits, q, alpha):
    return jax.grad(mi.mi_actor_loss)(logits, marginal_logits, q, alpha)


def _actor_wrong_sign(logits, marginal_logits, q, alpha):
    """Mutation: the marginal enters eq. 18 with the wrong sign (an MI *bonus*)."""
    return _actor(logits, -marginal_logits, q, alpha)


def _actor_no_alpha_on_marginal(logits, marginal_logits, q, alpha):
    """Mutation: log pibar not scaled by alpha."""
    return _actor(logits, marginal_logits / alpha, q, alpha)


def check_actor(q, rho, alpha, pi0, probe, actor=_actor) -> str | None:
    """For every context k: actor(pi) - actor(pi*_k) = alpha KL(pi || pi*_k), with pi*_k eq. 13's
    step from theory's Blahut-Arimoto (pibar = rho @ pi0), for pi = probe and pi = pi0[k]."""
    ref = mipi.blahut_arimoto(q, rho, alpha, pi0, 1)
    marginal, target = ref.marginals[0], ref.policies[1]
    for k in range(q.shape[0]):
        at_target = float(actor(jnp.log(jnp.asarray(target[k], jnp.float32)), jnp.log(jnp.asarray(marginal, jnp.float32)),
                                jnp.asarray(q[k], jnp.float32), alpha))
        for pi in (probe, pi0[k]):
            got = float(actor(jnp.log(jnp.asarray(pi, jnp.float32)), jnp.log(jnp.asarray(marginal, jnp.float32)),
                              jnp.asarray(q[k], jnp.float32), alpha)) - at_target
            want = alpha * kl(pi, target[k])
            if abs(got - want) > ATOL + 1e-4 * abs(want):
                return f"context {k}: loss gap {got:.6f}, alpha KL {want:.6f}"
    return None


@st.composite
def actor_cases(draw):
    q, rho, alpha, pi0 = draw(ba_instances())
    probe = softmax(draw(int_table((q.shape[1],), scale=0.75)), axis=-1)
    return q, rho, alpha, pi0, probe


@given(actor_cases())
def test_eq18_actor_loss_is_alpha_kl_to_the_blahut_arimoto_step(case):
    q, rho, alpha, pi0, probe = case
    note(f"Q={q} rho={rho} alpha={alpha} pi0={pi0} probe={probe}")
    msg = check_actor(q, rho, alpha, pi0, probe)
    assert msg is None, msg


def test_eq18_gradient_vanishes_at_the_blahut_arimoto_step():
    q, rho, pi0 = np.array([[1.0, 0.0, -0.5], [0.0, 0.75, 0.25]]), np.array([0.3, 0.7]), np.full((2, 3), 1 / 3)
    ref = mipi.blahut_arimoto(q, rho, 0.5, pi0, 1)
    for k in range(2):
        g = _actor_grad(jnp.log(jnp.asarray(ref.policies[1][k], jnp.float32)),
                        jnp.log(jnp.asarray(ref.marginals[0], jnp.float32)), jnp.asarray(q[k], jnp.float32), 0.5)
        assert float(jnp.max(jnp.abs(g))) < 1e-5


def test_eq18_mutations_are_caught():
    q, rho, pi0 = np.array([[1.0, 0.0], [0.0, 0.25]]), np.array([0.5, 0.5]), np.array([[0.2, 0.8], [0.6, 0.4]])
    probe = np.array([0.5, 0.5])
    assert check_actor(q, rho, 0.5, pi0, probe) is None
    assert check_actor(q, rho, 0.5, pi0, probe, actor=_actor_wrong_sign) is not None
    assert check_actor(q, rho, 0.5, pi0, probe, actor=_actor_no_alpha_on_marginal) is not None


# --------------------------------------------------------------------------- eq. 17

@jax.jit
def _nll(probs, marginal_logits, avail):
    return mi.marginal_nll(probs, marginal_logits, avail)


def _nll_reversed(probs, marginal_logits, avail):
    """Mutation: the roles swapped (the policy's likelihood under the marginal's samples)."""
    return _nll(jax.nn.softmax(marginal_logits), jnp.log(probs), avail)


def check_marginal(q, rho, alpha, pi0, probe, nll=_nll) -> str | None:
    """sum_k rho_k nll(pi_k, m) - (the same at m = eq. 12's marginal) = KL(pibar* || m)."""
    pibar = mipi.blahut_arimoto(q, rho, alpha, pi0, 1).marginals[0]
    avail = jnp.ones(q.shape[1], bool)

    def expected(m: np.ndarray) -> float:
        logits = jnp.log(jnp.asarray(m, jnp.float32))
        return sum(float(rho[k]) * float(nll(jnp.asarray(pi0[k], jnp.float32), logits, avail)) for k in range(len(rho)))

    got, want = expected(probe) - expected(pibar), kl(pibar, probe)
    if abs(got - want) > ATOL + 1e-4 * abs(want):
        return f"nll gap {got:.6f}, KL(pibar* || m) {want:.6f}"
    return None


@given(actor_cases())
def test_eq17_marginal_loss_is_minimised_by_the_eq12_marginal(case):
    q, rho, alpha, pi0, probe = case
    note(f"rho={rho} pi0={pi0} probe={probe}")
    msg = check_marginal(q, rho, alpha, pi0, probe)
    assert msg is None, msg


def test_eq17_mutation_is_caught():
    q, rho, pi0 = np.zeros((2, 2)), np.array([0.5, 0.5]), np.array([[0.2, 0.8], [0.6, 0.4]])
    probe = np.array([0.9, 0.1])
    assert check_marginal(q, rho, 1.0, pi0, probe) is None
    assert check_marginal(q, rho, 1.0, pi0, probe, nll=_nll_reversed) is not None


def test_marginal_nll_ignores_unavailable_actions():
    probs = jnp.asarray([0.5, 0.5, 0.0])
    avail = jnp.asarray([True, True, False])
    a = mi.marginal_nll(probs, jnp.asarray([0.0, 1.0, 5.0]), avail)
    b = mi.marginal_nll(probs, jnp.asarray([0.0, 1.0, -7.0]), avail)
    assert abs(float(a) - float(b)) < 1e-6


# --------------------------------------------------------------------------- eq. 16

@jax.jit
def _ratio(logits, marginal_logits, action):
    return mi.mi_log_ratio(logits, marginal_logits, action)


def _ratio_inverted(logits, marginal_logits, action):
    """Mutation: log(pibar / pi) instead of log(pi / pibar)."""
    return -_ratio(logits, marginal_logits, action)


@st.composite
def two_agent_cases(draw):
    a = draw(st.integers(2, 3))
    reward = draw(int_table((a, a)))
    pis = [softmax(draw(int_table((a,), scale=0.75)), axis=-1) for _ in range(2)]
    priors = [softmax(draw(int_table((a,), scale=0.75)), axis=-1) for _ in range(2)]
    alpha = draw(st.sampled_from([0.25, 0.5, 1.0, 2.0]))
    return reward, pis, priors, alpha


def check_target(reward, pis, priors, alpha, ratio=_ratio) -> str | None:
    """E_{u ~ pi}[sum_i log-ratio_i] = mipi.mi_cost, and E_u[Q(u) - alpha sum_i log-ratio_i] (the
    bootstrap of eq. 16) = the MI-regularised value of mipi.mi_evaluate (one state, gamma 0)."""
    a = reward.shape[0]
    logits = [jnp.log(jnp.asarray(p, jnp.float32)) for p in pis]
    marginals = [jnp.log(jnp.asarray(p, jnp.float32)) for p in priors]
    cost, soft = 0.0, 0.0
    for u in itertools.product(range(a), repeat=2):
        prob = float(pis[0][u[0]] * pis[1][u[1]])
        reg = sum(float(ratio(logits[i], marginals[i], u[i])) for i in range(2))
        cost += prob * reg
        soft += prob * (float(reward[u]) - alpha * reg)
    plus = [np.zeros(1, int), np.zeros(1, int)]
    want_cost = float(mipi.mi_cost([p[None] for p in pis], plus, [p[None] for p in priors])[0])
    game = Game(reward=reward[None], transition=np.ones((1, a, a, 1)), gamma=0.0, rho=np.ones(1))
    want_v = float(mipi.mi_evaluate(game, [p[None] for p in pis], plus, [p[None] for p in priors], alpha)[0][0])
    if abs(cost - want_cost) > ATOL * (1 + abs(want_cost)):
        return f"E[log ratio] {cost:.6f}, mi_cost {want_cost:.6f}"
    if abs(soft - want_v) > ATOL * (1 + abs(want_v)):
        return f"bootstrap {soft:.6f}, mi_evaluate V {want_v:.6f}"
    return None


@given(two_agent_cases())
def test_eq16_regulariser_gives_the_mi_regularised_value(case):
    reward, pis, priors, alpha = case
    note(f"r={reward} pis={pis} priors={priors} alpha={alpha}")
    msg = check_target(reward, pis, priors, alpha)
    assert msg is None, msg


def test_eq16_mutation_is_caught():
    reward = np.array([[1.0, 0.0], [0.0, 0.5]])
    pis = [np.array([0.7, 0.3]), np.array([0.4, 0.6])]
    priors = [np.array([0.5, 0.5]), np.array([0.2, 0.8])]
    assert check_target(reward, pis, priors, 0.5) is None
    assert check_target(reward, pis, priors, 0.5, ratio=_ratio_inverted) is not None
