"""Checks of the exact tabular machinery that every theorem test relies on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from theory import strategies as tst
from theory import tabular as T

pytestmark = pytest.mark.theory

TOL = 1e-9

# These check machinery, not a paper's claim: half the profile's examples.
machinery = settings(max_examples=max(10, settings.default.max_examples // 2))


@st.composite
def game_and_policy(draw: st.DrawFn) -> tuple[T.Game, np.ndarray]:
    game = draw(tst.games())
    kind = draw(st.sampled_from(["product", "chain", "joint"]))
    policy = {
        "product": tst.product_policies,
        "chain": tst.chain_policies,
        "joint": tst.joint_policies,
    }[kind](game)
    return game, draw(policy)


@machinery
@given(game_and_policy())
def test_evaluate_solves_bellman_equation(case: tuple[T.Game, np.ndarray]) -> None:
    """``Q = r + gamma P V`` and ``V = E_pi Q`` hold exactly (tol 1e-9)."""
    game, pi = case
    v, q = T.evaluate(game, pi)
    note(T.format_counterexample(game, pi=pi, V=v))
    assert np.allclose(q, game.reward + game.gamma * game.transition @ v, atol=TOL, rtol=0)
    assert np.allclose(v, np.sum(pi * q, axis=game.action_axes), atol=TOL, rtol=0)
    assert abs(T.value(game, pi) - game.rho @ v) < TOL


@machinery
@given(game_and_policy(), st.sampled_from([0.0, 0.1, 1.0]))
def test_soft_evaluate_solves_soft_bellman_equation(case: tuple[T.Game, np.ndarray], alpha: float) -> None:
    """``V = E_pi[Q - alpha log pi]`` and ``Q = r + gamma P V`` (tol 1e-9)."""
    game, pi = case
    v, q = T.soft_evaluate(game, pi, alpha)
    soft_v = np.sum(pi * (q - alpha * np.log(pi)), axis=game.action_axes)
    assert np.allclose(v, soft_v, atol=TOL, rtol=0)
    assert np.allclose(q, game.reward + game.gamma * game.transition @ v, atol=TOL, rtol=0)
    if alpha == 0.0:
        assert np.allclose(v, T.evaluate(game, pi)[0], atol=TOL, rtol=0)


@machinery
@given(game_and_policy(), st.data())
def test_chain_rule_round_trip(case: tuple[T.Game, np.ndarray], data: st.DataObject) -> None:
    """``chain_policy(conditionals(pi, order))`` is ``pi`` with axes in ``order``."""
    game, pi = case
    order = data.draw(st.permutations(range(game.n_agents)))
    conds = T.conditionals(pi, order)
    rebuilt = T.chain_policy(conds)
    assert np.allclose(rebuilt, np.transpose(pi, [0] + [o + 1 for o in order]), atol=1e-12)
    for c in conds:
        assert np.allclose(c.sum(-1), 1.0, atol=1e-12)


@machinery
@given(st.data())
def test_product_policy_and_marginals_are_inverse(data: st.DataObject) -> None:
    """Marginals of a product policy are its factors; the product is a product."""
    game = data.draw(tst.games())
    margs = data.draw(tst.product_marginals(game))
    pi = T.product_policy(margs)
    assert np.allclose(pi.sum(axis=game.action_axes), 1.0, atol=1e-12)
    for m, m2 in zip(margs, T.marginals(pi), strict=True):
        assert np.allclose(m, m2, atol=1e-12)
    assert T.is_product(pi)


@machinery
@given(game_and_policy(), st.data())
def test_marginal_q_extremes(case: tuple[T.Game, np.ndarray], data: st.DataObject) -> None:
    """``Q^{all agents}`` is ``Q`` (axes permuted) and ``Q^{none}`` is ``V`` (eq. 7)."""
    game, pi = case
    order = data.draw(st.permutations(range(game.n_agents)))
    v, q = T.evaluate(game, pi)
    for others in ("marginal", "conditional"):
        full = T.marginal_q(game, pi, order, others=others)
        assert np.allclose(full, np.transpose(q, [0] + [o + 1 for o in order]), atol=TOL)
        assert np.allclose(T.marginal_q(game, pi, [], others=others), v, atol=TOL)


@machinery
@given(st.data())
def test_marginal_and_conditional_agree_for_products(data: st.DataObject) -> None:
    """For product policies the two readings of eq. 7 coincide (tol 1e-9)."""
    game = data.draw(tst.games(max_agents=3))
    pi = data.draw(tst.product_policies(game))
    k = data.draw(st.integers(1, game.n_agents - 1))
    agents = data.draw(st.permutations(range(game.n_agents)))[:k]
    a = T.marginal_q(game, pi, agents, others="marginal")
    b = T.marginal_q(game, pi, agents, others="conditional")
    assert np.allclose(a, b, atol=TOL)


def test_matrix_game_value_is_expected_payoff() -> None:
    payoff = np.array([[8.0, -12.0], [-12.0, 0.0]])
    game = T.matrix_game(payoff)
    pi = T.product_policy([np.array([[0.25, 0.75]]), np.array([[0.5, 0.5]])])
    assert game.n_agents == 2 and game.n_actions == (2, 2) and game.joint_shape == (1, 2, 2)
    assert T.value(game, pi) == pytest.approx(float(np.sum(pi[0] * payoff)), abs=1e-12)


def test_format_counterexample_shows_game_and_values() -> None:
    game = T.matrix_game(np.array([[1.0, 0.0], [0.0, 1.0]]))
    pi = T.uniform_policy(game)
    text = T.format_counterexample(game, pi=pi, eta=0.5)
    assert "reward[s=0]" in text and "V_rho = 0.5" in text and "eta = 0.5" in text


def test_game_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        T.Game(reward=np.zeros((1, 2)), transition=np.full((1, 2, 1), 0.5), gamma=0.0, rho=np.ones(1))
    with pytest.raises(ValueError):
        T.Game(reward=np.zeros((1, 2)), transition=np.ones((1, 2, 1)), gamma=1.0, rho=np.ones(1))
