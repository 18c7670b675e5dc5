"""Property tests for MACPF (paper 003): Theorem 1, Theorem 2, eq. 6 and FOP's eq. 2.

Every check returns a readable failure message (or ``None``), so that the
mutation tests can assert that the same check catches a perturbed algorithm.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory._b_strategies import (
    TEMPERATURES,
    dependent_policies,
    int_table,
    one_shot_games,
    small_games,
    temperatures,
)
from theory.macpf import (
    additive_residual,
    conditional_policies_from_qs,
    conditional_soft_policy_iteration,
    conditional_soft_qs,
    eq4_as_printed,
    eq6_rhs,
    fop_eq2_rhs,
    independent_counterpart,
    ivt_product_for_target,
    soft_q_iteration,
    soft_value_of_boltzmann,
)
from theory.tabular import (
    Game,
    boltzmann,
    chain_policy,
    evaluate,
    format_counterexample,
    is_product,
    log_policy,
    marginals,
    matrix_game,
    product_policy,
    soft_evaluate,
    softmax,
)

pytestmark = [
    pytest.mark.theory,
    # beartype samples container items with `random` inside strategies; harmless here
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

#: Small games keep each example to a few milliseconds.
SMALL_GAMES = small_games(max_agents=3, max_actions=3, max_states=3, max_cells=54)


# ---------------------------------------------------------------------------
# Claim 4: MACPF Theorem 1 (conditional factorised soft policy iteration)
# ---------------------------------------------------------------------------


def check_theorem1(game: Game, init: np.ndarray, alpha: float, alphas: list[float], **kw) -> str | None:
    """Run CFSPI and check Lemma A.2 (monotone soft Q) and Theorem 1 (soft optimum).

    Tolerances: monotonicity ``-1e-9`` elementwise (soft Q and soft V);
    convergence ``1e-8`` in sup norm against soft Q-iteration for ``Q``, ``V``
    and the policy (in a one-step game ``Q^pi = r`` for every policy, so ``V``
    and the policy carry the information); the improvement step must equal the
    joint Boltzmann policy ``exp((Q_old - V)/alpha)`` to ``1e-10``.
    """
    res = conditional_soft_policy_iteration(game, init, alpha, alphas, n_iter=80, **kw)
    v_star, q_star = soft_q_iteration(game, alpha)
    for k in range(1, len(res.qs)):
        target = boltzmann(res.qs[k - 1], alpha, axis=game.action_axes)
        if np.max(np.abs(res.joints[k] - target)) > 1e-10:
            return "improved joint != exp((Q_old - V_jt)/alpha)\n" + format_counterexample(
                game, alpha=alpha, alphas=alphas, iteration=k, improved=res.joints[k], boltzmann=target
            )
        drop = float(min(np.min(res.qs[k] - res.qs[k - 1]), np.min(res.vs[k] - res.vs[k - 1])))
        if drop < -1e-9:
            return f"soft Q decreased by {-drop:.3g} at iteration {k} (Lemma A.2)\n" + format_counterexample(
                game,
                alpha=alpha,
                alphas=alphas,
                old=res.joints[k - 1],
                new=res.joints[k],
                soft_v_old=res.vs[k - 1],
                soft_v_new=res.vs[k],
            )
    pi_star = boltzmann(q_star, alpha, axis=game.action_axes)
    err = float(
        max(
            np.max(np.abs(res.qs[-1] - q_star)),
            np.max(np.abs(res.vs[-1] - v_star)),
            np.max(np.abs(res.joints[-1] - pi_star)),
        )
    )
    if err > 1e-8:
        return f"CFSPI ended {err:.3g} away from the soft-optimal Q* (Theorem 1)\n" + format_counterexample(
            game,
            alpha=alpha,
            alphas=alphas,
            final=res.joints[-1],
            soft_optimal=boltzmann(q_star, alpha, axis=game.action_axes),
            soft_v_final=res.vs[-1],
            soft_v_star=v_star,
        )
    return None


def individual_temperatures(data, n: int, alpha: float) -> list[float]:
    """``alpha_i`` for ``n`` agents, at least one of them different from ``alpha`` (stratified).

    With the conditional soft Qs of eq. 6 the ``alpha_i`` cancel in the improved policy
    (``Q_i = (alpha_i/alpha) W_i``), so a sweep over them exercises only the ``alpha/alpha_i``
    weighting itself: a wrong weight, or later agents soft-marginalised at ``alpha_i``, changes
    the policy exactly when some ``alpha_i != alpha``. Every example therefore has one.
    """
    alphas = [data.draw(temperatures()) for _ in range(n)]
    k = data.draw(st.integers(0, n - 1))
    alphas[k] = data.draw(st.sampled_from([t for t in TEMPERATURES if t != alpha]))
    return alphas


@settings(deadline=None)
@given(data=st.data(), game=SMALL_GAMES, alpha=temperatures())
def test_theorem1_cfspi_improves_monotonically_and_reaches_soft_optimum(data, game, alpha):
    """MACPF Theorem 1 / Lemma A.2 on random games, initial chain policies and ``alpha_i``
    (at least one ``alpha_i != alpha`` per example, see ``individual_temperatures``)."""
    alphas = individual_temperatures(data, game.n_agents, alpha)
    init = data.draw(dependent_policies(game))
    msg = check_theorem1(game, init, alpha, alphas)
    assert msg is None, msg


@settings(deadline=None)
@given(data=st.data(), game=SMALL_GAMES, alpha=temperatures())
def test_theorem1_soft_optimum_dominates_other_policies(data, game, alpha):
    """The limit of Theorem 1 satisfies ``Q^{pi*} >= Q^{pi}`` for any other (dependent) policy."""
    _, q_star = soft_q_iteration(game, alpha)
    other = data.draw(dependent_policies(game))
    _, q_other = soft_evaluate(game, other, alpha)
    gap = float(np.min(q_star - q_other))
    assert gap >= -1e-9, format_counterexample(game, alpha=alpha, other=other, gap=gap)


def test_theorem1_mutation_wrong_temperature_is_caught():
    """Mutation: drop the ``alpha_i/alpha`` weight of eq. 6 (``scale=False``) with ``alpha_i != alpha``."""
    game = matrix_game(np.array([[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]]))  # climbing game
    init = product_policy([np.full((1, 3), 1 / 3)] * 2)
    assert check_theorem1(game, init, 1.0, [0.5, 2.0]) is None
    msg = check_theorem1(game, init, 1.0, [0.5, 2.0], scale=False)
    assert msg is not None and "exp((Q_old - V_jt)/alpha)" in msg
    # the mutated iteration also misses the soft optimum, not just the exact improvement step
    res = conditional_soft_policy_iteration(game, init, 1.0, [0.5, 2.0], n_iter=80, scale=False)
    v_star, _ = soft_q_iteration(game, 1.0)
    assert float(v_star[0] - res.vs[-1][0]) > 1e-8  # the convergence tolerance of check_theorem1


def test_theorem1_expected_conditional_q_is_not_the_papers_sense():
    """Plain-average conditional Qs (``marginalise="expected"``) break Theorem 1; the check catches it.

    The conditional soft Q of an earlier agent must soft-marginalise the later
    agents (log-sum-exp, i.e. include their entropy), which is what eq. 6 forces.
    Averaging ``Q_jt`` over the later agents' old policies instead neither
    improves monotonically nor reaches ``Q*``.
    """
    reward = np.array([[[1.0, 0.0], [0.0, 0.5]], [[0.0, 1.0], [0.25, 0.0]]])
    trans = np.zeros((2, 2, 2, 2))
    trans[:, 0, 0, 0] = trans[:, 1, 1, 0] = 1.0
    trans[:, 0, 1, 1] = trans[:, 1, 0, 1] = 1.0
    game = Game(reward=reward, transition=trans, gamma=0.9, rho=np.array([0.5, 0.5]))
    init = product_policy([np.full((2, 2), 0.5)] * 2)
    assert check_theorem1(game, init, 0.5, [0.5, 0.5]) is None
    assert check_theorem1(game, init, 0.5, [0.5, 0.5], marginalise="expected") is not None


# ---------------------------------------------------------------------------
# Claim 5: MACPF Theorem 2 (an independent policy with the dependent value)
# ---------------------------------------------------------------------------


@settings(deadline=None)
@given(data=st.data(), game=one_shot_games(max_agents=3, max_actions=4))
def test_theorem2a_matrix_game_ivt_construction(data, game):
    """Theorem 2 on matrix games with the proof's construction (``ivt_product_for_target``).

    For a dependent joint policy, ``V = E_dep[r]`` lies between ``r(a_min)`` and
    ``r(a_max)``; walking agent by agent from ``a_min`` to ``a_max`` through
    product policies hits ``V`` exactly. Checked: the result is a product and
    its expected payoff equals ``V`` to ``1e-12``.
    """
    dep = data.draw(dependent_policies(game))
    v_dep = float(evaluate(game, dep)[0][0])
    margs, rec = ivt_product_for_target(game.reward[0], v_dep)
    ind = product_policy([m[None] for m in margs])
    v_ind = float(evaluate(game, ind)[0][0])
    assert is_product(ind, atol=1e-14)
    assert abs(v_ind - v_dep) <= 1e-12, f"V_ind = {v_ind} != V_dep = {v_dep}\n" + format_counterexample(
        game, dependent=dep, independent=ind, v_dep=v_dep, v_ind=v_ind, construction=rec
    )


def check_theorem2(game: Game, dep: np.ndarray, ind: np.ndarray) -> str | None:
    """Theorem 2's conclusion: ``ind`` is a product and ``V^ind(s) = V^dep(s)`` for every state (1e-9)."""
    if not is_product(ind, atol=1e-12):
        return "constructed policy is not a product"
    v_dep, _ = evaluate(game, dep)
    v_ind, _ = evaluate(game, ind)
    err = float(np.max(np.abs(v_dep - v_ind)))
    if err > 1e-9:
        return f"V^ind != V^dep (max diff {err:.3g})\n" + format_counterexample(
            game, dependent=dep, independent=ind, v_dep=v_dep, v_ind=v_ind
        )
    return None


@settings(deadline=None)
@given(data=st.data(), game=small_games(max_agents=3, max_actions=3, max_states=4, max_cells=64))
def test_theorem2b_multistate_as_written(data, game):
    """Theorem 2 as written (plain values, every state), with the proof's per-state construction.

    The proof picks, per state, a product policy with ``E_ind[Q^dep(s, .)] = V^dep(s)``
    and concludes ``V^ind = V^dep``. The step is valid: ``V^dep`` is then a fixed
    point of ``ind``'s Bellman operator, which has a unique fixed point because
    ``gamma < 1``. Hypothesis searches for a violation.
    """
    dep = data.draw(dependent_policies(game))
    ind, _ = independent_counterpart(game, dep)
    msg = check_theorem2(game, dep, ind)
    assert msg is None, msg


def test_theorem2b_mutation_wrong_target_is_caught():
    """Mutation: match the dependent policy's *reward* instead of its ``Q`` per state.

    (The proof needs ``E_ind[Q^dep] = V^dep``; using ``E_ind[r] = E_dep[r]`` only
    matches the one-step reward.) The check catches it on a two-state game.
    """
    reward = np.array([[[3.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]])
    trans = np.zeros((2, 2, 2, 2))
    trans[0, ..., 1] = 1.0  # state 0 -> 1
    trans[1, 0, 0, 0] = 1.0  # state 1: (0,0) -> 0, otherwise stay
    trans[1, 0, 1, 1] = trans[1, 1, 0, 1] = trans[1, 1, 1, 1] = 1.0
    game = Game(reward=reward, transition=trans, gamma=0.9, rho=np.array([1.0, 0.0]))
    dep = chain_policy(
        [np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[[0.9, 0.1], [0.1, 0.9]], [[0.9, 0.1], [0.1, 0.9]]])]
    )
    ind_good, _ = independent_counterpart(game, dep)
    assert check_theorem2(game, dep, ind_good) is None
    margs = []
    for s in range(2):
        target = float(np.sum(dep[s] * game.reward[s]))
        m, _ = ivt_product_for_target(game.reward[s], target)
        margs.append(m)
    ind_bad = product_policy([np.stack([margs[s][i] for s in range(2)]) for i in range(2)])
    msg = check_theorem2(game, dep, ind_bad)
    assert msg is not None and "V^ind != V^dep" in msg


def _product_soft_values_2x2(payoff: np.ndarray, alpha: float, n: int = 401) -> np.ndarray:
    """``E[r] + alpha H`` for the product policies ``(x, 1-x) x (y, 1-y)`` on an ``n x n`` grid."""
    grid = np.linspace(1e-9, 1 - 1e-9, n)
    x, y = np.meshgrid(grid, grid, indexing="ij")
    pol = np.stack([x, 1 - x], -1)[..., :, None] * np.stack([y, 1 - y], -1)[..., None, :]
    return np.sum(pol * payoff, axis=(-2, -1)) - alpha * np.sum(pol * np.log(pol), axis=(-2, -1))


def test_theorem2_soft_reading_counterexample():
    """Finding: Theorem 2 fails for *soft* (maximum-entropy) values, the values MACPF optimises.

    Coordination game ``[[1, 0], [0, 1]]`` with ``alpha = 1``. The soft-optimal
    dependent policy of Theorem 1 is ``pi* ∝ exp(r)``; its soft value is
    ``log(2e + 2)``. For a product policy ``(x, y)`` the soft value
    ``f(x, y) = E[r] + H(x) + H(y)`` is concave (``d2f/dx2 <= -4``,
    ``d2f/dxdy = 2``), so its maximum is the stationary point ``x = y = 1/2``:
    ``0.5 + 2 log 2``. No independent policy reaches ``log(2e + 2)``; in
    general ``V*_soft - V^nu_soft = alpha KL(nu || pi*) > 0`` for every product
    ``nu`` when ``pi*`` is not a product.
    """
    payoff = np.array([[1.0, 0.0], [0.0, 1.0]])
    game = matrix_game(payoff)
    alpha = 1.0
    v_star, q_star = soft_q_iteration(game, alpha)
    pi_star = boltzmann(q_star, alpha, axis=game.action_axes)
    assert not is_product(pi_star)
    assert abs(float(v_star[0]) - np.log(2 * np.e + 2)) < 1e-12
    # f(x, y) = E[r] + alpha (H(x) + H(y)) has d2f/dx2 = -alpha/(x(1-x)) <= -4 alpha and
    # d2f/dxdy = r00 - r01 - r10 + r11 = 2, so it is concave when (4 alpha)^2 >= 2^2; its
    # gradient vanishes at (1/2, 1/2) by symmetry, which is therefore the global maximum.
    cross = payoff[0, 0] - payoff[0, 1] - payoff[1, 0] + payoff[1, 1]
    assert (4 * alpha) ** 2 >= cross**2
    best = 0.5 + 2 * alpha * np.log(2)
    assert np.max(_product_soft_values_2x2(payoff, alpha)) <= best + 1e-12
    shortfall = float(v_star[0]) - best  # = log(2e + 2) - 1/2 - 2 log 2 exactly (THEOREMS.md prints it)
    assert shortfall > 1e-9, format_counterexample(
        game,
        alpha=alpha,
        soft_optimal_dependent=pi_star,
        soft_v_dependent=float(v_star[0]),
        best_independent_soft_value=best,
    )


@settings(deadline=None)
@given(game=one_shot_games(max_agents=2, max_actions=2), alpha=temperatures())
def test_theorem2_soft_reading_fails_exactly_when_q_is_not_additive(game, alpha):
    """For the soft-optimal dependent policy, the soft reading of Theorem 2 holds iff ``pi*`` is a product.

    ``V*_soft - V^nu_soft = alpha KL(nu || pi*)`` for every policy ``nu`` of a
    matrix game (checked to 1e-10 for the product of ``pi*``'s marginals), so
    an independent counterpart with equal soft value exists iff ``pi*`` is a
    product, i.e. iff the payoff is additive.
    """
    v_star, q_star = soft_q_iteration(game, alpha)
    pi_star = boltzmann(q_star, alpha, axis=game.action_axes)
    nu = product_policy(marginals(pi_star))
    v_nu = float(soft_evaluate(game, nu, alpha)[0][0])
    kl = float(np.sum(nu * (log_policy(nu) - log_policy(pi_star))))
    assert abs((float(v_star[0]) - v_nu) - alpha * kl) < 1e-10
    additive = additive_residual(game.reward) < 1e-12
    assert is_product(pi_star, atol=1e-12) == additive
    assert (kl > 1e-12) == (not additive)


# ---------------------------------------------------------------------------
# Claim 6: eq. 6 (dependent) and FOP eq. 2 (independent) factorisations
# ---------------------------------------------------------------------------


def _random_alphas(data, n: int, alpha: float) -> list[float]:
    return individual_temperatures(data, n, alpha)


@settings(deadline=None)
@given(data=st.data(), n=st.integers(2, 3), alpha=temperatures())
def test_eq6_conditional_factorisation_holds_for_any_joint_q(data, n, alpha):
    """Eq. 6: for ANY ``Q_jt``, the Boltzmann joint factorises into conditional Boltzmann policies.

    An algebra check (THEOREMS.md, claim 6): it tests the code's telescoping sum, not a theorem.
    With the conditional soft Qs of ``conditional_soft_qs``: (i) each ``pi_i`` of
    eq. 3 is normalised, (ii) their chain product (eq. 5) is
    ``exp((Q_jt - V_jt)/alpha)``, (iii) eq. 6 reproduces ``Q_jt`` (1e-10).
    """
    acts = [data.draw(st.integers(2, 3)) for _ in range(n)]
    s = data.draw(st.integers(1, 2))
    q = data.draw(int_table((s, *acts), scale=0.5))
    alphas = _random_alphas(data, n, alpha)
    qs, vs = conditional_soft_qs(q, alpha, alphas)
    conds = conditional_policies_from_qs(qs, alphas)
    for c in conds:
        assert np.allclose(c.sum(-1), 1.0, atol=1e-12)
    axes = tuple(range(1, n + 1))
    assert np.max(np.abs(chain_policy(conds) - boltzmann(q, alpha, axis=axes))) < 1e-12
    v_jt = soft_value_of_boltzmann(q, alpha, n)
    rhs = eq6_rhs(qs, vs, v_jt, alpha, alphas)
    assert np.max(np.abs(rhs - q)) < 1e-10, f"eq. 6 residual {np.max(np.abs(rhs - q)):.3g}"


@settings(deadline=None)
@given(data=st.data(), n=st.integers(2, 3), alpha=temperatures())
def test_eq6_from_arbitrary_conditional_utilities(data, n, alpha):
    """Eq. 6 in the paper's direction: Boltzmann conditionals (eqs. 3-5) imply the ``Q_jt`` factorisation.

    An algebra check (the log of a product), not a theorem check.

    Arbitrary conditional utilities ``Q_i(s, a_<i, a_i)`` define ``pi_i`` (eq. 3);
    the joint ``pi_jt = prod pi_i`` (eq. 5) is read as ``exp((Q_jt - V_jt)/alpha)``
    for an arbitrary ``V_jt``; then eq. 6 holds exactly.
    """
    acts = [data.draw(st.integers(2, 3)) for _ in range(n)]
    s = data.draw(st.integers(1, 2))
    alphas = _random_alphas(data, n, alpha)
    qs = [data.draw(int_table((s, *acts[: i + 1]), scale=0.5)) for i in range(n)]
    vs = [alphas[i] * np.log(np.sum(np.exp(qs[i] / alphas[i]), axis=-1)) for i in range(n)]
    pi_jt = chain_policy(conditional_policies_from_qs(qs, alphas))
    v_jt = data.draw(int_table((s,), scale=0.5))
    q_jt = alpha * np.log(pi_jt) + v_jt.reshape((-1,) + (1,) * n)
    rhs = eq6_rhs(qs, vs, v_jt, alpha, alphas)
    assert np.max(np.abs(rhs - q_jt)) < 1e-10


@settings(deadline=None)
@given(data=st.data(), n=st.integers(2, 3), alpha=temperatures())
def test_fop_eq2_holds_for_additive_q(data, n, alpha):
    """FOP eq. 2 (MACPF eq. 2) covers exactly the additive ``Q_jt = c(s) + sum_i u_i(s, a_i)``.

    An algebra check (the exponential of a sum is a product), not a theorem check.

    Then the Boltzmann joint is the product of ``pi_i ∝ exp(Q_i/alpha_i)`` with
    ``Q_i = (alpha_i/alpha) u_i`` (IGO, eq. 1) and eq. 2 reproduces ``Q_jt`` (1e-10).
    """
    acts = [data.draw(st.integers(2, 3)) for _ in range(n)]
    s = data.draw(st.integers(1, 2))
    alphas = _random_alphas(data, n, alpha)
    us = [data.draw(int_table((s, a), scale=0.5)) for a in acts]
    c = data.draw(int_table((s,), scale=0.5))
    q_jt = c.reshape((-1,) + (1,) * n) + sum(
        u.reshape([s] + [a if j == i else 1 for j, a in enumerate(acts)]) for i, u in enumerate(us)
    )
    q_ind = [(alphas[i] / alpha) * us[i] for i in range(n)]
    pi_ind = product_policy([softmax(q_ind[i] / alphas[i]) for i in range(n)])
    axes = tuple(range(1, n + 1))
    assert np.max(np.abs(pi_ind - boltzmann(q_jt, alpha, axis=axes))) < 1e-12
    v_jt = soft_value_of_boltzmann(q_jt, alpha, n)
    assert np.max(np.abs(fop_eq2_rhs(q_ind, v_jt, alpha, alphas) - q_jt)) < 1e-10


@settings(deadline=None)
@given(data=st.data(), alpha=temperatures())
def test_fop_eq2_fails_for_non_additive_q(data, alpha):
    """Outside the additive case eq. 2 has no solution: the Boltzmann joint is then not a product.

    ``is_product(exp(Q_jt/alpha))`` iff ``Q_jt`` is additive (interaction
    residual ``< 1e-12``); the MACPF eq. 6 factorisation still exists
    (``test_eq6_conditional_factorisation_holds_for_any_joint_q``).
    """
    q = data.draw(int_table((1, 2, 3), scale=0.5))
    pi = boltzmann(q, alpha, axis=(1, 2))
    assert is_product(pi, atol=1e-12) == (additive_residual(q) < 1e-12)


@settings(deadline=None)
@given(data=st.data(), game=SMALL_GAMES, alpha=temperatures())
def test_eq6_at_the_soft_optimum_matches_exact_soft_policy_evaluation(data, game, alpha):
    """Eq. 6 checked against an independent computation: build ``Q*`` by soft Q-iteration, the
    conditional soft Qs of eq. 6 from it, their Boltzmann conditionals (eq. 3, temperatures
    ``alpha_i``) and the chain-rule joint (eq. 5); then evaluate that joint exactly (soft policy
    evaluation, a linear solve). Its soft ``Q`` must be ``Q*`` (1e-8), its soft ``V`` the normaliser
    ``alpha log sum exp(Q*/alpha)`` of eq. 5 (1e-8), and eq. 6 must rebuild the evaluated ``Q``
    from the evaluated ``V`` (1e-8). At least one ``alpha_i != alpha`` per example.
    """
    alphas = individual_temperatures(data, game.n_agents, alpha)
    v_star, q_star = soft_q_iteration(game, alpha)
    qs, vs = conditional_soft_qs(q_star, alpha, alphas)
    joint = chain_policy(conditional_policies_from_qs(qs, alphas))
    v_eval, q_eval = soft_evaluate(game, joint, alpha)
    text = format_counterexample(game, alpha=alpha, alphas=alphas, joint=joint, v_eval=v_eval, v_star=v_star)
    assert np.max(np.abs(q_eval - q_star)) < 1e-8, "soft Q of the eq. 6 policy != Q*\n" + text
    v_norm = soft_value_of_boltzmann(q_star, alpha, game.n_agents)
    assert np.max(np.abs(v_eval - v_norm)) < 1e-8, "soft V != the eq. 5 normaliser\n" + text
    rebuilt = eq6_rhs(qs, vs, v_eval, alpha, alphas)
    assert np.max(np.abs(rebuilt - q_eval)) < 1e-8, "eq. 6 does not rebuild the evaluated Q\n" + text


def check_eq6(q: np.ndarray, alpha: float, alphas: list[float], *, scale: bool = True) -> str | None:
    """The eq. 6 identity for the conditional soft Qs (residual 1e-10)."""
    n = q.ndim - 1
    qs, vs = conditional_soft_qs(q, alpha, alphas, scale=scale)
    rhs = eq6_rhs(qs, vs, soft_value_of_boltzmann(q, alpha, n), alpha, alphas)
    err = float(np.max(np.abs(rhs - q)))
    return None if err < 1e-10 else f"eq. 6 residual {err:.3g}"


def test_eq6_mutation_missing_temperature_ratio_is_caught():
    """Mutation: drop ``alpha_i/alpha`` in the conditional Qs; eq. 6 then fails when ``alpha_i != alpha``."""
    q = np.array([[[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]]])  # non-monotonic game
    assert check_eq6(q, 1.0, [0.5, 2.0]) is None
    msg = check_eq6(q, 1.0, [0.5, 2.0], scale=False)
    assert msg is not None and "residual" in msg


def test_eq4_as_printed_is_not_normalised():
    """Eq. 4 is printed without a ``log``; read that way eq. 3 is not a distribution (typo confirmed).

    With ``Q_i = [1, 0, -1]`` and ``alpha_i = 1`` the printed ``V_i`` is ``z = e + 1 + 1/e`` and the
    "probabilities" sum to ``z exp(-z)`` (closed form), not 1."""
    qi = np.array([[1.0, 0.0, -1.0]])
    p = eq4_as_printed(qi, 1.0)
    z = np.e + 1.0 + 1.0 / np.e
    assert abs(float(p.sum()) - z * np.exp(-z)) < 1e-12
    assert abs(z * np.exp(-z) - 1.0) > 1e-9
