"""Value-factorisation classics (claim 11) and the IGO limitation of FOP (claim 13).

Tolerances: IGM / monotonicity checks at 1e-12 (the mixers are evaluated in
float64 on small numbers); soft values at 1e-9; the best product policy is
computed by grid search plus exact coordinate ascent and cross-checked
against mean-field fixed points to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from theory import classics as C
from theory import magpo as M
from theory import tabular as T

pytestmark = pytest.mark.theory


@st.composite
def utilities(draw: st.DrawFn, max_agents: int = 4) -> list[np.ndarray]:
    """Per-agent utilities Q_i[A_i] with small integer values (shrink to zeros)."""
    n = draw(st.integers(2, max_agents))
    out = []
    for _ in range(n):
        a = draw(st.integers(2, 4))
        out.append(np.asarray(draw(st.lists(st.integers(-8, 8), min_size=a, max_size=a)), float) / 4)
    return out


@st.composite
def mixers(draw: st.DrawFn, n: int) -> dict:
    """QMIX mixing parameters (before the abs of the hypernetwork)."""
    h = draw(st.integers(1, 4))

    def ints(size: int) -> np.ndarray:
        return np.asarray(draw(st.lists(st.integers(-4, 4), min_size=size, max_size=size)), float) / 2

    return dict(
        w1=ints(n * h).reshape(n, h),
        b1=ints(h),
        w2=ints(h),
        b2=float(draw(st.integers(-4, 4))),
        activation=draw(st.sampled_from(["elu", "relu", "tanh", "identity"])),
    )


# ---------------------------------------------------------------------------
# Claim 11: IGM for VDN and QMIX, monotonicity, the non-monotonic game
# ---------------------------------------------------------------------------


@given(utilities())
def test_vdn_satisfies_igm(us: list[np.ndarray]) -> None:
    """VDN: the per-agent greedy joint action maximises Q_tot = sum_i Q_i."""
    q_tot = C.vdn(us)
    assert q_tot[C.greedy_joint(us)] >= q_tot.max() - 1e-12


@given(utilities(), st.data())
def test_qmix_satisfies_igm_and_is_monotone(us: list[np.ndarray], data: st.DataObject) -> None:
    """QMIX with non-negative mixing weights and a monotone activation:
    (a) the per-agent greedy joint action maximises Q_tot (IGM);
    (b) raising any single utility Q_i(a_i) never lowers Q_tot anywhere."""
    mix = data.draw(mixers(len(us)))
    q_tot = C.qmix(us, **mix)
    note(f"utilities={us}\nmixer={mix}\nQ_tot=\n{q_tot}")
    assert q_tot[C.greedy_joint(us)] >= q_tot.max() - 1e-12
    i = data.draw(st.integers(0, len(us) - 1))
    k = data.draw(st.integers(0, len(us[i]) - 1))
    bump = data.draw(st.integers(1, 8)) / 4
    raised = [u.copy() for u in us]
    raised[i][k] += bump
    assert np.all(C.qmix(raised, **mix) >= q_tot - 1e-12)


@given(utilities(max_agents=2), st.data())
def test_no_monotone_mixer_represents_the_non_monotonic_game(us: list[np.ndarray], data: st.DataObject) -> None:
    """No monotone mixer reproduces the ordering the non-monotonic game needs:
    r(0,0) > r(1,0) and r(0,1) < r(1,1) ask agent 0's utility to be both above
    and below; a monotone Q_tot can never show that strict sign pattern."""
    us = [np.resize(u, 3) for u in us]
    mix = data.draw(mixers(2))
    q = C.qmix(us, **mix)
    assert not (q[0, 0] > q[1, 0] and q[0, 1] < q[1, 1])
    q = C.vdn(us)
    assert not (q[0, 0] > q[1, 0] and q[0, 1] < q[1, 1])


def test_vdn_fit_of_the_non_monotonic_game_misses_the_optimum() -> None:
    """The uniform least-squares VDN fit of [[8,-12,-12],[-12,0,0],[-12,0,0]] is
    the additive (row mean + column mean - grand mean) table; its greedy joint
    action lies in {1,2}x{1,2} (payoff 0), not the optimum (0,0) (payoff 8)."""
    us = C.vdn_least_squares(C.NON_MONOTONIC)
    fit = C.vdn(us)
    expected = np.array([[-56, -44, -44], [-44, -32, -32], [-44, -32, -32]]) / 9
    assert np.allclose(fit, expected, atol=1e-12)
    greedy = C.greedy_joint(us)
    assert greedy[0] in (1, 2) and greedy[1] in (1, 2)
    assert C.NON_MONOTONIC[greedy] == 0.0 and C.NON_MONOTONIC.max() == 8.0
    assert fit[0, 0] < fit[greedy]


@given(st.data())
def test_vdn_fit_is_the_additive_anova_fit(data: st.DataObject) -> None:
    """For any 2-agent payoff, the uniform VDN least-squares fit equals
    row mean + column mean - grand mean, so its greedy action is the pair of
    best row mean and best column mean (1e-9)."""
    a1, a2 = data.draw(st.integers(2, 4)), data.draw(st.integers(2, 4))
    r = np.asarray(data.draw(st.lists(st.integers(-12, 12), min_size=a1 * a2, max_size=a1 * a2)), float)
    r = r.reshape(a1, a2)
    fit = C.vdn(C.vdn_least_squares(r))
    anova = r.mean(1, keepdims=True) + r.mean(0, keepdims=True) - r.mean()
    assert np.allclose(fit, anova, atol=1e-9)


def test_qmix_mutation_negative_weights_break_igm() -> None:
    """Mutation: without the abs on the mixing weights, IGM fails."""
    us = [np.array([1.0, 0.0]), np.array([1.0, 0.0])]
    mix = dict(w1=np.array([[-1.0], [1.0]]), b1=np.zeros(1), w2=np.ones(1), b2=0.0, activation="identity")
    bad = C.qmix(us, **mix, monotone=False)
    assert bad[C.greedy_joint(us)] < bad.max() - 1e-12
    good = C.qmix(us, **mix)
    assert good[C.greedy_joint(us)] >= good.max() - 1e-12


def test_qmix_mutation_non_monotone_activation_breaks_igm() -> None:
    """Mutation: a non-monotone activation (sin) also breaks IGM."""
    us = [np.array([2.0, 0.0]), np.array([2.0, 0.0])]
    mix = dict(w1=np.ones((2, 1)), b1=np.zeros(1), w2=np.ones(1), b2=0.0, activation="sin")
    q = C.qmix(us, **mix)
    assert q[C.greedy_joint(us)] < q.max() - 1e-12


# ---------------------------------------------------------------------------
# Claim 13: IGO (FOP) — best product vs best joint under the soft objective
# ---------------------------------------------------------------------------

ALPHAS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)


def _log_boltzmann(r: np.ndarray, alpha: float) -> np.ndarray:
    x = r / alpha
    return x - T.logsumexp(x, axis=(0, 1), keepdims=True)


@given(st.integers(-100, 0), st.sampled_from(ALPHAS), st.data())
def test_igo_best_product_is_worse_than_best_joint(k: int, alpha: float, data: st.DataObject) -> None:
    """Penalty game [[k,0,10],[0,2,0],[10,0,k]], k in [-100, 0], soft objective
    J(pi) = E[r] + alpha H(pi):
    (a) the Boltzmann joint policy attains J* = alpha logsumexp(r/alpha);
    (b) the best product policy is strictly worse, gap = alpha min KL(pi||B) > 0;
    (c) no product (random draw, or mean-field fixed point from the uniform
        start) beats the computed best product by more than 1e-9."""
    r = C.penalty_game(float(k))
    j_star = C.soft_optimal_value(r, alpha)
    boltz = C.soft_optimal_joint(r, alpha)
    assert C.soft_value(r, boltz, alpha) == pytest.approx(j_star, abs=1e-9 * max(1.0, abs(j_star)))
    margs, j_prod = C.best_product_soft(r, alpha)
    prod = np.outer(*margs)
    # KL(prod || B) with log B = r/alpha - logsumexp(r/alpha): finite even where B underflows to 0
    live = prod > 0
    kl = float(np.sum(prod[live] * (np.log(prod[live]) - _log_boltzmann(r, alpha)[live])))
    note(f"k={k} alpha={alpha} J*={j_star} J_prod={j_prod} margs={margs}")
    gap = j_star - j_prod
    assert gap > 0
    assert gap == pytest.approx(alpha * kl, abs=1e-8 * max(1.0, abs(j_star)))
    logits = [np.asarray(data.draw(st.lists(st.integers(-6, 6), min_size=3, max_size=3)), float) for _ in range(2)]
    rand = np.outer(T.softmax(logits[0]), T.softmax(logits[1]))
    assert C.soft_value(r, rand, alpha) <= j_prod + 1e-9
    mf = M.mean_field_projection(
        boltz[None], [np.full((1, 3), 1 / 3)] * 2, sweeps=500, tol=1e-14, log_target=_log_boltzmann(r, alpha)[None]
    )
    assert C.soft_value(r, np.outer(mf[0][0], mf[1][0]), alpha) <= j_prod + 1e-9


@given(st.data())
def test_igo_gibbs_identity(data: st.DataObject) -> None:
    """For any joint policy pi: J(pi) = J* - alpha KL(pi || Boltzmann) (1e-9),
    so the product/joint gap is exactly alpha times the I-projection divergence.
    An algebra check (Gibbs' identity), not a theorem check (THEOREMS.md, claim 13)."""
    k = data.draw(st.integers(-100, 0))
    alpha = data.draw(st.sampled_from((0.5, 1.0, 2.0, 10.0)))
    r = C.penalty_game(float(k))
    logits = np.asarray(data.draw(st.lists(st.integers(-6, 6), min_size=9, max_size=9)), float).reshape(3, 3)
    pi = T.softmax(logits, axis=(0, 1))
    boltz = C.soft_optimal_joint(r, alpha)
    lhs = C.soft_value(r, pi, alpha)
    rhs = C.soft_optimal_value(r, alpha) - alpha * float(T.joint_kl(pi[None], boltz[None])[0])
    assert lhs == pytest.approx(rhs, abs=1e-9 * max(1.0, abs(lhs)))


@pytest.mark.parametrize("k", [-100.0, -10.0, 0.0])
def test_igo_gap_is_alpha_log2_for_small_alpha(k: float) -> None:
    """As alpha -> 0 the best product is (near-)deterministic on one optimum while
    the joint optimum splits between both, so gap / alpha -> log 2 (1e-6)."""
    r = C.penalty_game(k)
    for alpha in (0.01, 0.05, 0.1):
        gap = C.soft_optimal_value(r, alpha) - C.best_product_soft(r, alpha)[1]
        assert gap / alpha == pytest.approx(math.log(2), abs=1e-6)
