"""MAGPO (paper 001): Theorem 4.1, Lemma 1, Corollary 4.2 and the section-3 example.

Claims 1, 2, 3 and 12 of ``theory/THEOREMS.md``. Tolerances: identities at
1e-9 (absolute); inequalities ``x >= y`` are checked as ``x >= y - 1e-9``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, event, given, note
from hypothesis import strategies as st

from theory import brute as B
from theory import magpo as M
from theory import strategies as tst
from theory import tabular as T

pytestmark = pytest.mark.theory

TOL = 1e-9


def _case_text(game: T.Game, **items: object) -> str:
    return T.format_counterexample(game, **items)


@st.composite
def learner_cases(draw: st.DrawFn, **game_kwargs: int) -> tuple[T.Game, list[np.ndarray], float]:
    game = draw(tst.games(**game_kwargs))
    margs = draw(tst.product_marginals(game))
    eta = draw(tst.etas())
    return game, margs, eta


def _check_improvement(game: T.Game, margs: list[np.ndarray], eta: float, step: M.MagpoStep) -> None:
    """Assert Theorem 4.1 for one step, including the per-state inequality (22)."""
    pi_k = T.product_policy(margs)
    v_k, q_k = T.evaluate(game, pi_k)
    v_next = T.value(game, step.learner)
    note(
        _case_text(
            game,
            eta=eta,
            pi_k=pi_k,
            guider_hat=step.guider_hat,
            pi_next=step.learner,
            kl_before=step.kl_before,
            kl_after=step.kl_after,
        )
    )
    # eq. 20: the learner update did not increase KL(pi || mu_hat) in any state
    assert np.all(step.kl_after <= step.kl_before + TOL)
    # eq. 22: eta (E_{pi'} Q - E_pi Q) >= KL(pi' || pi) per state
    gain = np.sum((step.learner - pi_k) * q_k, axis=game.action_axes)
    kl = T.joint_kl(step.learner, pi_k)
    assert np.all(eta * gain >= kl - 1e-8 * (1 + np.abs(eta * q_k).max()))
    # eq. 4 / 16
    assert v_next >= float(game.rho @ v_k) - TOL


# ---------------------------------------------------------------------------
# Claim 1: Theorem 4.1 (monotonic improvement)
# ---------------------------------------------------------------------------


@given(learner_cases())
def test_thm41_monotonic_improvement(case: tuple[T.Game, list[np.ndarray], float]) -> None:
    """Exact MAGPO (eq. 18 guider, KL(pi||mu_hat) projection by converged
    coordinate descent, backtracking): V_rho never decreases, over 3 iterations."""
    game, margs, eta = case
    values, steps = M.magpo_run(game, margs, eta, 3, method="mean_field")
    prev = margs
    for step in steps:
        _check_improvement(game, prev, eta, step)
        prev = step.learner_marginals
    assert all(b >= a - TOL for a, b in zip(values, values[1:], strict=False))


@given(learner_cases(), st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0]))
def test_thm41_partial_coordinate_descent(case: tuple[T.Game, list[np.ndarray], float], sweeps: float) -> None:
    """Approximate learner: a fraction of a coordinate-descent sweep (each agent
    step exactly minimises the KL in its own marginal) still improves V_rho."""
    game, margs, eta = case
    step = M.magpo_step(game, margs, eta, method="mean_field", sweeps=sweeps)
    _check_improvement(game, margs, eta, step)


@given(learner_cases(), st.sampled_from([0.5, 2.0, 10.0, 50.0]), st.integers(1, 3))
def test_thm41_gradient_steps_with_kl_line_search(
    case: tuple[T.Game, list[np.ndarray], float], lr: float, steps: int
) -> None:
    """Approximate learner: a few simultaneous gradient steps on the logits, each
    step halved per state until KL(pi||mu_hat) does not increase, improve V_rho."""
    game, margs, eta = case
    step = M.magpo_step(game, margs, eta, method="gradient", lr=lr, steps=steps, line_search=True)
    _check_improvement(game, margs, eta, step)


@given(
    learner_cases(max_agents=3),
    st.sampled_from(
        [
            dict(method="parallel", sweeps=1),
            dict(method="parallel", sweeps=3),
            dict(method="gradient", lr=5.0, steps=1),
            dict(method="gradient", lr=1.0, steps=3),
            dict(method="m_projection"),
        ]
    ),
)
def test_thm41_kl_decrease_is_what_matters(case: tuple[T.Game, list[np.ndarray], float], cfg: dict) -> None:
    """For any learner update (even unguaranteed ones): if KL(pi||mu_hat) did not
    increase in any state, V_rho did not decrease (the proof's actual premise).

    Examples where the step raised the KL are rejected (``assume``), so every counted
    example asserts; Hypothesis's statistics report how many were rejected."""
    game, margs, eta = case
    step = M.magpo_step(game, margs, eta, **cfg)
    kl_ok = bool(np.all(step.kl_after <= step.kl_before + 1e-12))
    assume(kl_ok)
    event(f"learner: {cfg['method']}")
    v_k = T.value(game, T.product_policy(margs))
    v_next = T.value(game, step.learner)
    note(_case_text(game, eta=eta, cfg=cfg, pi_k=T.product_policy(margs), pi_next=step.learner))
    assert v_next >= v_k - TOL


# Smallest counterexamples found by Hypothesis (see THEOREMS.md, claim 1).
ANTI_COORDINATION = np.array([[0.0, 0.75], [0.75, -0.25]])


def test_thm41_fails_for_simultaneous_mean_field_updates() -> None:
    """Finding: updating all agents at once (Jacobi mean-field step against the
    old learner) can increase the KL and lower V_rho: both agents move to action
    0 together in an anti-coordination game."""
    game = T.matrix_game(ANTI_COORDINATION)
    margs = [np.full((1, 2), 0.5), np.full((1, 2), 0.5)]
    step = M.magpo_step(game, margs, 4.75, method="parallel", sweeps=1)
    v0, v1 = T.value(game, T.product_policy(margs)), T.value(game, step.learner)
    assert step.kl_after[0] > step.kl_before[0] + TOL
    assert v1 < v0 - TOL, _case_text(game, pi_k=T.product_policy(margs), pi_next=step.learner)
    # the guaranteed update on the same example does improve
    good = M.magpo_step(game, margs, 4.75, method="mean_field")
    assert T.value(game, good.learner) > v0


def test_thm41_fails_for_forward_kl_projection() -> None:
    """Finding: projecting mu_hat by the *forward* KL (product of its marginals,
    the direction of the released learner loss and of CTDS) can lower V_rho."""
    game = T.matrix_game(np.array([[0.0, 0.25], [0.0, 0.25], [1.0, 0.0]]))
    margs = [T.softmax(np.array([[3.0, 3.0, 2.25]]) * 1.0), T.softmax(np.array([[0.0, 2.25]]))]
    step = M.magpo_step(game, margs, 2.0, method="m_projection")
    v0, v1 = T.value(game, T.product_policy(margs)), T.value(game, step.learner)
    assert v1 < v0 - TOL, _case_text(
        game, pi_k=T.product_policy(margs), guider_hat=step.guider_hat, pi_next=step.learner
    )
    assert T.value(game, M.magpo_step(game, margs, 2.0).learner) >= v0


def test_thm41_fails_for_large_gradient_step() -> None:
    """Finding: one plain gradient step with a large learning rate (lr = 5) can
    overshoot, increase the KL and lower V_rho."""
    game = T.matrix_game(np.array([[0.0, 0.0, -0.5], [0.0, -0.75, 0.0]]))
    margs = [np.full((1, 2), 0.5), T.softmax(np.array([[0.0, 1.5, 1.5]]))]
    step = M.magpo_step(game, margs, 5.25, method="gradient", lr=5.0, steps=1)
    v0, v1 = T.value(game, T.product_policy(margs)), T.value(game, step.learner)
    assert step.kl_after[0] > step.kl_before[0] + TOL
    assert v1 < v0 - TOL, _case_text(game, pi_k=T.product_policy(margs), pi_next=step.learner)
    safe = M.magpo_step(game, margs, 5.25, method="gradient", lr=5.0, steps=1, line_search=True)
    assert T.value(game, safe.learner) >= v0 - TOL


def _detour_game() -> T.Game:
    """State 0: agent 0 takes a safe 0.7 (action 1) or moves to state 1 (action 0).
    State 1: a 2x2 coordination game. State 2: absorbing, reward 0. gamma = 0.9."""
    r = np.zeros((3, 2, 2))
    p = np.zeros((3, 2, 2, 3))
    r[0, 1, :] = 0.7
    p[0, 0, :, 1] = 1.0
    p[0, 1, :, 2] = 1.0
    r[1] = np.eye(2)
    p[1, :, :, 2] = 1.0
    p[2, :, :, 2] = 1.0
    return T.Game(reward=r, transition=p, gamma=0.9, rho=np.array([1.0, 0.0, 0.0]))


def test_thm41_without_backtracking_detour_example() -> None:
    """Pinned example of the no-backtracking mutant (``tests/theory/mutants.py``): without
    backtracking the guider improves against its own
    (joint, coordinated) Q and drags the product learner into the coordination
    state, where the learner itself only earns 0.5; V_rho then decreases."""
    game = _detour_game()
    margs = [np.full((3, 2), 0.5), np.full((3, 2), 0.5)]
    good, _ = M.magpo_run(game, margs, 4.0, 4, method="mean_field", backtrack=True)
    bad, steps = M.magpo_run(game, margs, 4.0, 4, method="mean_field", backtrack=False)
    assert all(b >= a - TOL for a, b in zip(good, good[1:], strict=False))
    drops = [b - a for a, b in zip(bad, bad[1:], strict=False)]
    assert min(drops) < -TOL, _case_text(game, pi_1=steps[0].learner, pi_2=steps[1].learner)


# ---------------------------------------------------------------------------
# Claim 2: Lemma 1 (multi-agent advantage decomposition)
# ---------------------------------------------------------------------------


def _game_and_policy(draw: st.DrawFn) -> tuple[T.Game, np.ndarray]:
    """A game (at most 48 reward entries, for the brute-force references) and a product, chain-rule
    or arbitrary joint policy."""
    game = draw(tst.games(max_cells=48))
    kind = draw(st.sampled_from(["product", "chain", "joint"]))
    strat = {"product": tst.product_policies, "chain": tst.chain_policies, "joint": tst.joint_policies}
    return game, draw(strat[kind](game))


@st.composite
def lemma_cases(draw: st.DrawFn) -> tuple[T.Game, np.ndarray, list[int], list[int], str]:
    game, pi = _game_and_policy(draw)
    perm = draw(st.permutations(range(game.n_agents)))
    k = draw(st.integers(0, game.n_agents - 1))
    m = draw(st.integers(1, game.n_agents - k))
    others = draw(st.sampled_from(["marginal", "conditional"]))
    return game, pi, list(perm[:k]), list(perm[k : k + m]), others


def _telescoped(game: T.Game, pi: np.ndarray, js: list[int], is_: list[int], others: str) -> np.ndarray:
    """sum_m A^{i_m}(s, a^{j}, a^{i_{1:m-1}}, a^{i_m}) as an array over (a^j, a^i)."""
    s, h = game.n_states, len(is_)
    total = np.zeros((s,) + tuple(game.n_actions[a] for a in js + is_))
    for m in range(h):
        term = T.multi_agent_advantage(game, pi, js + is_[:m], [is_[m]], others=others)
        total = total + term.reshape(term.shape + (1,) * (h - m - 1))
    return total


@given(lemma_cases())
def test_lemma1_advantage_decomposition(case: tuple) -> None:
    """A^{i_{1:h}}(s, a^j, a^i) = sum_m A^{i_m}(s, a^j, a^{i_{1:m-1}}, a^{i_m}) for any policy
    (product, chain or joint), any disjoint ordered j and i, both readings of eq. 7 (eqs. 5-7).

    The sum telescopes whatever the subset values are, so each side is also checked against its
    definition, Q^{j, i_{1:m}} - Q^{j, i_{1:m-1}}, with every subset value Q^{...} (eq. 7) computed
    by enumerating the other agents' actions (``theory.brute``, written without ``theory.tabular``)."""
    game, pi, js, is_, others = case
    note(_case_text(game, pi=pi, agents_j=js, agents_i=is_, others=others))
    lhs = T.multi_agent_advantage(game, pi, js, is_, others=others)
    assert np.allclose(lhs, B.subset_advantage(game, pi, js, is_, others), atol=TOL, rtol=0)
    for m in range(len(is_)):
        term = T.multi_agent_advantage(game, pi, js + is_[:m], [is_[m]], others=others)
        want = B.subset_advantage(game, pi, js + is_[:m], [is_[m]], others)
        assert np.allclose(term, want, atol=TOL, rtol=0), f"A^{{i_{m + 1}}} differs from its definition"
    assert np.allclose(lhs, _telescoped(game, pi, js, is_, others), atol=TOL, rtol=0)


@st.composite
def subset_cases(draw: st.DrawFn) -> tuple[T.Game, np.ndarray, list[int], str]:
    """A game, a policy and a proper, non-empty, ordered subset of the agents (stratified: every
    example has one)."""
    game, pi = _game_and_policy(draw)
    perm = draw(st.permutations(range(game.n_agents)))
    k = draw(st.integers(1, game.n_agents - 1))
    others = draw(st.sampled_from(["marginal", "conditional"]))
    return game, pi, list(perm[:k]), others


@given(subset_cases())
def test_lemma1_subset_q_matches_brute_force(case: tuple) -> None:
    """Eq. 7 for a proper subset: Q^{i_{1:m}}(s, a^{i_{1:m}}) equals the expectation of Q^pi over the
    other agents' actions, enumerated one joint action at a time (``theory.brute.subset_q``: under
    pi^{-i}(. | s) for the marginal reading, under pi(. | s, a^i) for the conditional one), 1e-9."""
    game, pi, agents, others = case
    note(_case_text(game, pi=pi, agents=agents, others=others))
    got = T.marginal_q(game, pi, agents, others=others)
    assert np.allclose(got, B.subset_q(game, pi, agents, others), atol=TOL, rtol=0)


@given(lemma_cases())
def test_lemma1_full_decomposition_equals_joint_advantage(case: tuple) -> None:
    """The endpoints: with j empty and i = all agents (reversed order) the sum is the joint advantage
    Q - V (from ``T.advantage``, and from the brute-force Q and V)."""
    game, pi, _, _, others = case
    order = list(range(game.n_agents))[::-1]
    rhs = _telescoped(game, pi, [], order, others)
    lhs = np.transpose(T.advantage(game, pi), [0] + [i + 1 for i in order])
    assert np.allclose(lhs, rhs, atol=TOL, rtol=0)
    v, q = B.q_values(game, pi)
    for idx in np.ndindex(*rhs.shape):
        a = [0] * game.n_agents
        for agent, x in zip(order, idx[1:], strict=True):
            a[agent] = x
        assert abs(rhs[idx] - (q[(idx[0], *a)] - v[idx[0]])) <= TOL


# ---------------------------------------------------------------------------
# Claim 3: Corollary 4.2 / eq. 25–26 (the guider factorises)
# ---------------------------------------------------------------------------


def test_cor42_eq26_conditionals_do_not_multiply_to_eq18() -> None:
    """Finding (smallest counterexample found by Hypothesis): the last step of
    eq. 25 splits the joint normaliser z(s) into per-prefix normalisers
    z(s, a^{i_{1:j-1}}), which is not valid. On the 2x2 game [[0, 0], [0, 1/4]]
    with a uniform learner and eta = 1/4 the product of the eq. 26 factors is
    not the eq. 18 guider (agent 0's true guider marginal is
    pi(a) E[exp(eta A)] / z, not pi(a) exp(eta E[A]) / z).

    Both sides are recomputed here in closed form from r, without ``theory``:
    eq. 18 is softmax(eta r) (uniform learner, gamma = 0, Q = r); eq. 26 is
    softmax_a0(eta rbar(a0)) * softmax_a1(eta (r(a0, a1) - rbar(a0))) with
    rbar(a0) = mean_a1 r(a0, a1). The gap printed in THEOREMS.md is checked
    there (``test_theorems_md.py``)."""
    r, eta = np.array([[0.0, 0.0], [0.0, 0.25]]), 0.25
    game = T.matrix_game(r)
    pi = T.uniform_policy(game)
    eq26 = T.chain_policy(M.guider_conditionals(game, pi, eta))[0]
    eq18 = M.guider_update(game, pi, eta)[0]
    want18 = np.exp(eta * r) / np.exp(eta * r).sum()
    rbar = r.mean(axis=1)
    first = np.exp(eta * rbar) / np.exp(eta * rbar).sum()
    second = np.exp(eta * (r - rbar[:, None]))
    second = second / second.sum(axis=1, keepdims=True)
    want26 = first[:, None] * second
    assert np.allclose(eq18, want18, atol=1e-15) and np.allclose(eq26, want26, atol=1e-15)
    gap = float(np.max(np.abs(want26 - want18)))
    assert gap > TOL, _case_text(game, pi=pi, eq26=eq26, eq18=eq18)
    # the exact first conditional is the soft (log-mean-exp) one
    adv = T.advantage(game, pi)[0]
    exact_first = T.softmax(np.log(0.5) + np.log(np.mean(np.exp(eta * adv), axis=1)))
    assert np.allclose(exact_first, T.marginals(eq18[None])[0][0], atol=1e-12)


@given(learner_cases(), st.data())
def test_cor42_eq26_last_factor_is_exact(case: tuple, data: st.DataObject) -> None:
    """What does hold: for any order, the *last* agent's eq. 26 factor is the exact
    conditional of the eq. 18 guider, and all eq. 26 factors are normalised."""
    game, margs, eta = case
    order = list(data.draw(st.permutations(range(game.n_agents))))
    pi = T.product_policy(margs)
    conds = M.guider_conditionals(game, pi, eta, order)
    exact = T.conditionals(M.guider_update(game, pi, eta), order)
    note(_case_text(game, eta=eta, order=order, pi=pi))
    assert np.allclose(conds[-1], exact[-1], atol=TOL, rtol=0)
    for c in conds:
        assert np.allclose(c.sum(-1), 1.0, atol=1e-12)


@given(learner_cases(), st.data())
def test_cor42_eq26_is_exact_to_second_order_in_eta(case: tuple, data: st.DataObject) -> None:
    """And eq. 25 holds to first order: at eta = 0.01 the sup-norm gap between
    prod eq. 26 and eq. 18 shrinks at least 1/0.3-fold when eta halves (gap =
    O(eta^2); the ratio is 1/4 in general and 1/8 when the eta^2 term
    vanishes), or is below 1e-12 (e.g. additive Q)."""
    game, margs, _ = case
    order = list(data.draw(st.permutations(range(game.n_agents))))
    pi = T.product_policy(margs)

    def gap(eta: float) -> float:
        eq26 = T.chain_policy(M.guider_conditionals(game, pi, eta, order))
        eq18 = np.transpose(M.guider_update(game, pi, eta), [0] + [o + 1 for o in order])
        return float(np.max(np.abs(eq26 - eq18)))

    g1, g2 = gap(0.01), gap(0.005)
    note(_case_text(game, order=order, pi=pi, gap_eta_001=g1, gap_eta_0005=g2))
    if g1 > 1e-12:
        assert g2 / g1 <= 0.3
    else:
        assert g2 <= 1e-12


@given(st.data())
def test_cor42_eq26_is_exact_for_additive_payoffs(data: st.DataObject) -> None:
    """eq. 25–26 are exact when Q^pi is additive over agents (one-shot games with
    r(a) = sum_i u_i(a_i)): then the guider is itself a product."""
    n = data.draw(st.integers(2, 4))
    acts = [data.draw(st.integers(2, 4)) for _ in range(n)]
    utils = [np.asarray(data.draw(st.lists(st.integers(-4, 4), min_size=a, max_size=a)), float) / 4 for a in acts]
    payoff = np.zeros(acts)
    for i, u in enumerate(utils):
        payoff = payoff + u.reshape([-1 if j == i else 1 for j in range(n)])
    game = T.matrix_game(payoff)
    pi = data.draw(tst.product_policies(game))
    eta = data.draw(tst.etas())
    eq26 = T.chain_policy(M.guider_conditionals(game, pi, eta))
    assert np.allclose(eq26, M.guider_update(game, pi, eta), atol=TOL, rtol=0)


@given(learner_cases(max_agents=3), st.data())
def test_cor42_sequential_update_improves(case: tuple, data: st.DataObject) -> None:
    """The sequential per-agent update of eq. 8/28 never lowers V_rho.
    (It is not the KL(pi||mu_hat) minimiser, see the next test; the improvement
    follows from Lemma 1 and the performance-difference lemma.)"""
    game, margs, eta = case
    order = list(data.draw(st.permutations(range(game.n_agents))))
    pi = T.product_policy(margs)
    new = T.product_policy(M.sequential_update(game, pi, eta, order))
    note(_case_text(game, eta=eta, order=order, pi=pi, pi_next=new))
    assert T.value(game, new) >= T.value(game, pi) - TOL


def test_cor42_sequential_update_is_not_the_kl_projection() -> None:
    """Finding: eq. 28's sequential argmax differs from argmin_pi KL(pi||mu_hat)
    (the first agent copies mu_hat's marginal, later agents average the
    advantage over the *new* earlier agents), so "equivalent" holds only in the
    sense that both improve V_rho."""
    game = T.matrix_game(ANTI_COORDINATION)
    margs = [T.softmax(np.array([[0.3, 0.0]])), np.full((1, 2), 0.5)]
    pi = T.product_policy(margs)
    seq = M.sequential_update(game, pi, 4.0)
    guider = M.guider_update(game, pi, 4.0)
    proj = M.mean_field_projection(guider, margs, sweeps=200, tol=1e-14)
    # the projection minimises KL(. || mu_hat) over product policies; eq. 28's update has a larger KL
    kl_seq = float(T.joint_kl(T.product_policy(seq), guider)[0])
    kl_proj = float(T.joint_kl(T.product_policy(proj), guider)[0])
    assert kl_seq > kl_proj + TOL
    v = T.value(game, pi)
    assert T.value(game, T.product_policy(seq)) >= v and T.value(game, T.product_policy(proj)) >= v


# ---------------------------------------------------------------------------
# Claim 12: section 3 example (sum game, CTDS vs the delta-constrained guider)
# ---------------------------------------------------------------------------

SUM_GAME = M.sum_game(3, 8, 10)


@given(st.integers(1, 19))
def test_sum_game_ctds_student_succeeds_half_the_time(k: int) -> None:
    """The teacher (agent 0 plays 3 w.p. p, else 4; agent 1 plays 3; agent 2
    completes the sum) always succeeds; its forward-KL student (product of its
    marginals) succeeds with probability p^2 + (1-p)^2, exactly 1/2 at p = 1/2."""
    p = k / 20
    teacher = M.sum_game_teacher(SUM_GAME, p)
    student = T.m_projection(teacher)
    assert T.value(SUM_GAME, teacher) == pytest.approx(1.0, abs=1e-12)
    assert T.value(SUM_GAME, student) == pytest.approx(p**2 + (1 - p) ** 2, abs=1e-12)
    assert T.value(SUM_GAME, student) >= 0.5 - 1e-12


def test_sum_game_paper_numbers() -> None:
    teacher = M.sum_game_teacher(SUM_GAME, 0.5)
    student = T.m_projection(teacher)
    assert T.value(SUM_GAME, student) == pytest.approx(0.5, abs=1e-12)
    # the teacher lies outside every delta-box around its own student: agent 2's
    # conditional puts 0 on an action the student plays with probability 1/2
    conds = T.conditionals(teacher)
    student_2 = T.marginals(student)[2][0]
    assert student_2[3] == 0.5 and student_2[4] == 0.5
    assert conds[2][0, 3, 3, 3] == 0.0 and conds[2][0, 3, 3, 4] == 1.0


def test_sum_game_reverse_kl_students_do_not_lose_value() -> None:
    """Finding: the *reverse*-KL projection (MAGPO's eq. 19 direction) of the same
    teacher loses nothing: a product with finite KL(pi||teacher) must put its
    support inside {(3,3,4), (4,3,3)}, so it is one of the two deterministic
    solutions, each at KL = log 2 with value 1."""
    teacher = M.sum_game_teacher(SUM_GAME, 0.5)
    support = {tuple(int(x) for x in a) for a in np.argwhere(teacher[0] > 0)}
    finite = []
    for s0 in ({3}, {4}, {3, 4}):
        for s2 in ({3}, {4}, {3, 4}):
            box = {(a, 3, c) for a in s0 for c in s2}
            if box <= support:
                finite.append(box)
    assert finite == [{(3, 3, 4)}, {(4, 3, 3)}]
    for ((a0, a1, a2),) in (tuple(b) for b in finite):
        pi = np.zeros(SUM_GAME.joint_shape)
        pi[0, a0, a1, a2] = 1.0
        assert T.joint_kl(pi, teacher)[0] == pytest.approx(math.log(2), abs=1e-12)
        assert T.value(SUM_GAME, pi) == 1.0


@st.composite
def sum_game_cases(draw: st.DrawFn) -> tuple[T.Game, list[np.ndarray], float, float]:
    n_values = draw(st.integers(3, 5))
    target = draw(st.integers(2, 3 * (n_values - 1) - 1))
    game = M.sum_game(3, n_values, target)
    margs = draw(tst.product_marginals(game))
    eta = draw(tst.etas())
    delta = draw(st.sampled_from([1.05, 1.2, 1.5, 2.0, 3.0]))
    return game, margs, eta, delta


@given(sum_game_cases())
def test_sum_game_delta_guider_keeps_value(case: tuple) -> None:
    """delta-constrained guider around a product learner pi on sum games
    (3 agents, 3–5 values, any reachable target):
    (a) its conditionals stay within [1/delta, delta] of pi's marginals;
    (b) distilling it into the product of its marginals loses at most
        (delta^3 - delta^-3)/2 (a bound that vanishes as delta -> 1; CTDS's
        unconstrained teacher loses 1/2);
    (c) the MAGPO learner step (KL(pi'||mu) coordinate descent) from pi does
        not lose value: V(pi') >= V(pi)."""
    game, margs, eta, delta = case
    pi = T.product_policy(margs)
    conds = M.delta_guider(game, pi, eta, delta)
    mu = T.chain_policy(conds)
    note(_case_text(game, eta=eta, delta=delta, pi=pi, mu=mu))
    for j, c in enumerate(conds):
        ratio = c / margs[j].reshape((1,) + (1,) * j + (-1,))
        assert ratio.min() >= 1 / delta - 1e-9 and ratio.max() <= delta + 1e-9
    loss = T.value(game, mu) - T.value(game, T.m_projection(mu))
    assert loss <= 0.5 * (delta**3 - delta**-3) + TOL
    new = M.mean_field_projection(mu, margs, sweeps=50, tol=1e-13)
    assert T.value(game, T.product_policy(new)) >= T.value(game, pi) - TOL


def test_delta_guider_step_can_lower_value_on_other_games():
    """FINDING (THEOREMS.md, claim 12): outside sum games, the delta-constrained guider step
    followed by the reverse-KL learner projection CAN lower V_rho. Hypothesis found this
    one-state, two-agent game (gamma = 0) in CI on 2026-11-29, at delta = 1.05, eta = 0.25,
    both learners at (0.3208213, 0.6791787): V goes from 0.3074843 to 0.3074423. The
    property "(c) holds on arbitrary games" was ours (tested, not proved), not a claim of
    the paper; the sum-game property above still holds."""
    game = T.Game(reward=np.array([[[-0.25, 0.5], [0.5, 0.25]]]), transition=np.ones((1, 2, 2, 1)),
                  gamma=0.0, rho=np.array([1.0]))
    margs = [np.array([[0.3208213, 0.6791787]])] * 2
    pi = T.product_policy(margs)
    mu = T.chain_policy(M.delta_guider(game, pi, 0.25, 1.05))
    new = T.product_policy(M.mean_field_projection(mu, margs, sweeps=50, tol=1e-13))
    assert T.value(game, new) - T.value(game, pi) < -TOL


@given(learner_cases(max_agents=3, max_states=2))
def test_delta_guider_without_constraint_is_eq18(case: tuple) -> None:
    """delta = inf recovers the closed-form guider of eq. 18 (1e-9)."""
    game, margs, eta = case
    pi = T.product_policy(margs)
    mu = T.chain_policy(M.delta_guider(game, pi, eta, math.inf))
    assert np.allclose(mu, M.guider_update(game, pi, eta), atol=TOL, rtol=0)


def test_sum_game_unconstrained_forward_kl_example() -> None:
    """Pinned example: with the delta-constraint loosened (delta = 10, effectively free),
    distilling the guider with the forward KL (CTDS's student) loses value against the
    learner; with delta = 1.05 it does not."""
    game = T.matrix_game(np.array([[0.0, 0.0, 0.0], [0.0, 0.25, 0.0], [0.75, 0.0, 0.0]]))
    margs = [T.softmax(np.array([[0.0, 2.25, 0.0]])), T.softmax(np.array([[0.75, 3.0, 0.0]]))]
    pi = T.product_policy(margs)
    mu = T.chain_policy(M.delta_guider(game, pi, 6.25, 10.0))
    assert T.value(game, T.m_projection(mu)) < T.value(game, pi) - TOL
    mu_tight = T.chain_policy(M.delta_guider(game, pi, 6.25, 1.05))
    assert T.value(game, T.m_projection(mu_tight)) >= T.value(game, pi) - TOL
