"""Hypothesis strategies for the MACPF, MIPI and AgentMixer property tests.

Like ``theory.strategies`` everything is built from small integers so that
Hypothesis shrinks toward small, readable counterexamples: few agents and
actions, one state, ``gamma = 0``, zero rewards, uniform policies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from theory.agentmixer import BayesianMatrixGame
from theory.mipi import DecomposableGame
from theory.tabular import Game, chain_policy, softmax

__all__ = [
    "TEMPERATURES",
    "dependent_policies",
    "one_shot_games",
    "small_games",
    "bayesian_games",
    "ba_instances",
    "decomposable_games",
    "feature_maps",
    "int_table",
    "temperatures",
]

#: Temperatures (``alpha``, ``alpha_i``) drawn by the tests; shrink toward 1.
TEMPERATURES: tuple[float, ...] = (1.0, 0.5, 2.0, 0.25, 4.0)


def temperatures() -> st.SearchStrategy[float]:
    return st.sampled_from(TEMPERATURES)


@st.composite
def int_table(draw, shape: Sequence[int], lo: int = -4, hi: int = 4, scale: float = 0.25) -> np.ndarray:
    """Integers in ``[lo, hi]`` times ``scale``, reshaped; shrinks toward zeros."""
    size = math.prod(shape)
    vals = draw(st.lists(st.integers(lo, hi), min_size=size, max_size=size))
    return np.asarray(vals, dtype=np.float64).reshape(tuple(shape)) * scale


@st.composite
def _simplex_rows(draw, shape: Sequence[int]) -> np.ndarray:
    """Rows on the simplex from integer weights ``1..4`` (shrinks to uniform)."""
    w = draw(int_table(shape, 0, 3, 1.0)) + 1.0
    return w / w.sum(-1, keepdims=True)


@st.composite
def feature_maps(draw, n_states: int, max_features: int = 2) -> np.ndarray:
    """A map ``state -> feature index`` (``s_i^+`` of MIPI, ``obs_i`` of AgentMixer)."""
    vals = draw(st.lists(st.integers(0, max_features - 1), min_size=n_states, max_size=n_states))
    # relabel so that the features used are 0..k-1 in order of first appearance
    seen: dict[int, int] = {}
    out = [seen.setdefault(v, len(seen)) for v in vals]
    return np.asarray(out, dtype=np.int64)


@st.composite
def decomposable_games(
    draw,
    *,
    max_agents: int = 3,
    max_actions: int = 3,
    max_states: int = 3,
    gammas: Sequence[float] = (0.0, 0.5, 0.9),
    unit_weights: bool = False,
) -> DecomposableGame:
    """A game for which MIPI eq. 6 holds exactly (see ``theory.mipi.DecomposableGame``).

    Weights ``w_i(s)`` are drawn from ``{1, 1/2, 2, 1/4, 4}`` (all ``1`` with
    ``unit_weights``).
    """
    n = draw(st.integers(2, max_agents))
    s = draw(st.integers(1, max_states))
    acts = [draw(st.integers(2, max_actions)) for _ in range(n)]
    if unit_weights:
        weights = np.ones((n, s))
    else:
        weights = np.asarray(
            draw(st.lists(st.sampled_from((1.0, 0.5, 2.0, 0.25, 4.0)), min_size=n * s, max_size=n * s))
        ).reshape(n, s)
    rbar = tuple(draw(int_table((s, a))) for a in acts)
    bias = draw(int_table((s,)))
    mix = draw(_simplex_rows((s, n))).T.copy()
    kernels = tuple(draw(_simplex_rows((s, a, s))) for a in acts)
    gamma = draw(st.sampled_from(tuple(gammas))) if s > 1 else 0.0
    rho = draw(_simplex_rows((s,)))
    return DecomposableGame(
        weights=weights, rbar=rbar, bias=bias, mix=mix, kernels=kernels, gamma=float(gamma), rho=rho
    )


@st.composite
def ba_instances(
    draw, *, max_contexts: int = 4, max_actions: int = 4
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """``(Q [K, A], rho [K], alpha, pi0 [K, A])`` for one ``s_i^+`` of MIPI eqs. 10-13."""
    k = draw(st.integers(1, max_contexts))
    a = draw(st.integers(2, max_actions))
    q = draw(int_table((k, a)))
    rho = draw(_simplex_rows((k,)))
    alpha = draw(temperatures())
    pi0 = softmax(draw(int_table((k, a), scale=0.75)), axis=-1)
    return q, rho, alpha, pi0


@st.composite
def bayesian_games(
    draw,
    *,
    max_agents: int = 2,
    max_actions: int = 3,
    max_states: int = 3,
    max_obs: int = 2,
) -> BayesianMatrixGame:
    """A one-step game with a hidden state and per-agent observations (AgentMixer's setting)."""
    n = draw(st.integers(2, max_agents))
    s = draw(st.integers(1, max_states))
    acts = [draw(st.integers(2, max_actions)) for _ in range(n)]
    reward = draw(int_table((s, *acts)))
    rho = draw(_simplex_rows((s,)))
    obs = tuple(draw(feature_maps(s, max_obs)) for _ in range(n))
    return BayesianMatrixGame(reward=reward, rho=rho, obs=obs)


# ---------------------------------------------------------------------------
# Games and policies for theory.tabular (self-contained; see the module docstring)
# ---------------------------------------------------------------------------


@st.composite
def small_games(
    draw,
    *,
    max_agents: int = 3,
    max_actions: int = 3,
    max_states: int = 3,
    max_cells: int = 54,
    gammas: Sequence[float] = (0.0, 0.5, 0.9, 0.95),
) -> Game:
    """A random cooperative Markov game (``theory.tabular.Game``) with at most ``max_cells`` rewards.

    Rewards are quarters in ``[-1, 1]``; transition rows and ``rho`` come from
    integer weights ``1..4``. One-state games get ``gamma = 0`` and a self loop.
    """
    n = draw(st.integers(2, max_agents))
    acts = [draw(st.integers(2, max_actions)) for _ in range(n)]
    while math.prod(acts) > max_cells and max(acts) > 2:
        acts[acts.index(max(acts))] -= 1
    s = draw(st.integers(1, max(1, min(max_states, max_cells // math.prod(acts)))))
    shape = (s, *acts)
    reward = draw(int_table(shape))
    if s == 1:
        return Game(reward=reward, transition=np.ones(shape + (1,)), gamma=0.0, rho=np.ones(1))
    transition = draw(_simplex_rows(shape + (s,)))
    rho = draw(_simplex_rows((s,)))
    gamma = float(draw(st.sampled_from(tuple(gammas))))
    return Game(reward=reward, transition=transition, gamma=gamma, rho=rho)


def one_shot_games(*, max_agents: int = 3, max_actions: int = 4) -> st.SearchStrategy[Game]:
    """Matrix games: one state, ``gamma = 0``."""
    return small_games(max_agents=max_agents, max_actions=max_actions, max_states=1, max_cells=max_actions**max_agents)


@st.composite
def dependent_policies(draw, game: Game, *, scale: float = 0.75) -> np.ndarray:
    """A strictly positive chain-rule (dependent) joint policy ``prod_i pi_i(a_i | s, a_<i)``."""
    conds = []
    for i in range(game.n_agents):
        shape = (game.n_states, *game.n_actions[: i + 1])
        conds.append(softmax(draw(int_table(shape, scale=scale)), axis=-1))
    return chain_policy(conds)
