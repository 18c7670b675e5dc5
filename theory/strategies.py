"""Hypothesis strategies for small cooperative games and policies.

Everything is built from short lists of small integers, so Hypothesis shrinks a
failing example toward few agents, few actions, one state, ``gamma = 0``, zero
rewards, uniform transitions and uniform policies. Counterexamples therefore
come out small and readable (see ``theory.tabular.format_counterexample``).

The strategy builders are marked ``@no_type_check`` so that the jaxtyping
import hook used under pytest does not wrap them (beartype's container checks
draw from ``random``, which Hypothesis forbids inside strategies).

* rewards: integers in ``[-reward_levels, reward_levels]`` divided by
  ``reward_levels``, so they lie in ``[-1, 1]``;
* transitions: for each ``(s, a)`` a mixture ``(1 - lam) uniform + lam
  onehot(next)`` with ``lam`` in ``{0, 1/4, ..., 1}`` and an integer ``next``
  state (shrinks to the uniform kernel); ``rho``: integer weights in
  ``[0, 3]`` plus one, normalised;
* policies: integer logits in ``[-logit_levels, logit_levels]`` scaled by
  ``logit_scale``, then a softmax, so every probability is strictly positive.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any, no_type_check

import numpy as np
from hypothesis import strategies as st

from theory.tabular import Game, chain_policy, product_policy, softmax

__all__ = [
    "GAMMAS",
    "chain_policies",
    "etas",
    "games",
    "joint_policies",
    "logit_tables",
    "matrix_games",
    "product_marginals",
    "product_policies",
]

#: Hypothesis's ``draw`` callable (``st.DrawFn`` is a non-runtime protocol, so
#: annotate it as a plain callable to keep runtime type checking happy).
Draw = Callable[..., Any]

#: Discount factors drawn by ``games`` (shrinks toward the first, 0).
GAMMAS: tuple[float, ...] = (0.0, 0.5, 0.9, 0.95)


@no_type_check
def _random_neutral(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Restore the global ``random`` state after ``fn``.

    Under pytest the jaxtyping import hook type-checks ``theory`` with
    beartype, whose container checks sample from ``random``; Hypothesis flags
    any change of the global random state inside a strategy. Nothing here
    depends on that state, so putting it back is safe.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = random.getstate()
        try:
            return fn(*args, **kwargs)
        finally:
            random.setstate(state)

    return wrapper


@no_type_check
def _int_array(draw: Draw, shape: Sequence[int], lo: int, hi: int) -> np.ndarray:
    size = math.prod(shape)
    vals = draw(st.lists(st.integers(lo, hi), min_size=size, max_size=size))
    return np.asarray(vals, dtype=np.float64).reshape(tuple(shape))


def _shrink_to_cap(actions: list[int], n_states: int, max_cells: int) -> list[int]:
    """Reduce the largest action counts until ``S * prod(A) <= max_cells``."""
    acts = list(actions)
    while n_states * math.prod(acts) > max_cells and max(acts) > 2:
        k = acts.index(max(acts))
        acts[k] -= 1
    return acts


@st.composite
@_random_neutral
@no_type_check
def games(
    draw: Draw,
    *,
    min_agents: int = 2,
    max_agents: int = 4,
    min_actions: int = 2,
    max_actions: int = 4,
    min_states: int = 1,
    max_states: int = 5,
    gammas: Sequence[float] = GAMMAS,
    reward_levels: int = 4,
    max_cells: int = 96,
) -> Game:
    """A random cooperative Markov game with shrinkable integer structure.

    ``max_cells`` caps ``S * prod_i A_i`` (the number of reward entries) so that
    data generation stays cheap; action counts are reduced (never below 2) to
    meet it, and if that is not enough the number of states is reduced.
    """
    n = draw(st.integers(min_agents, max_agents))
    acts = [draw(st.integers(min_actions, max_actions)) for _ in range(n)]
    s = draw(st.integers(min_states, max_states))
    acts = _shrink_to_cap(acts, s, max_cells)
    while s > 1 and s * math.prod(acts) > max_cells:
        s -= 1
    shape = (s, *acts)
    reward = _int_array(draw, shape, -reward_levels, reward_levels) / reward_levels
    if s == 1:
        transition = np.ones(shape + (1,))
        rho = np.ones(1)
    else:
        # P(.|s,a) = (1 - lam) * uniform + lam * onehot(next), lam in {0, 1/4, .., 1}
        nxt = _int_array(draw, shape, 0, s - 1).astype(int)
        lam = _int_array(draw, shape, 0, 4)[..., None] / 4.0
        onehot = np.eye(s)[nxt]
        transition = (1.0 - lam) / s + lam * onehot
        w_rho = _int_array(draw, (s,), 0, 3) + 1.0
        rho = w_rho / w_rho.sum()
    gamma = float(draw(st.sampled_from(tuple(gammas))))
    return Game(reward=reward, transition=transition, gamma=gamma, rho=rho)


@st.composite
@_random_neutral
@no_type_check
def matrix_games(
    draw: Draw,
    *,
    min_agents: int = 2,
    max_agents: int = 3,
    min_actions: int = 2,
    max_actions: int = 4,
    reward_levels: int = 4,
) -> Game:
    """A one-shot (single-state, ``gamma = 0``) game."""
    return draw(
        games(
            min_agents=min_agents,
            max_agents=max_agents,
            min_actions=min_actions,
            max_actions=max_actions,
            min_states=1,
            max_states=1,
            gammas=(0.0,),
            reward_levels=reward_levels,
        )
    )


@st.composite
@_random_neutral
@no_type_check
def logit_tables(draw: Draw, shape: Sequence[int], *, logit_levels: int = 4, logit_scale: float = 0.75) -> np.ndarray:
    """Integer-valued logits times ``logit_scale``; shrinks toward all zeros."""
    return _int_array(draw, shape, -logit_levels, logit_levels) * logit_scale


@st.composite
@_random_neutral
@no_type_check
def product_marginals(draw: Draw, game: Game, *, logit_levels: int = 4, logit_scale: float = 0.75) -> list[np.ndarray]:
    """Strictly positive per-agent marginals ``[S, A_i]``."""
    logits = [
        draw(logit_tables((game.n_states, a), logit_levels=logit_levels, logit_scale=logit_scale))
        for a in game.n_actions
    ]
    return [softmax(x, axis=-1) for x in logits]


@st.composite
@_random_neutral
@no_type_check
def product_policies(draw: Draw, game: Game, *, logit_levels: int = 4, logit_scale: float = 0.75) -> np.ndarray:
    """A strictly positive product (decentralised) joint policy ``[S, A_1..A_n]``."""
    margs = draw(product_marginals(game, logit_levels=logit_levels, logit_scale=logit_scale))
    return product_policy(margs)


@st.composite
@_random_neutral
@no_type_check
def chain_policies(draw: Draw, game: Game, *, logit_levels: int = 4, logit_scale: float = 0.75) -> np.ndarray:
    """A strictly positive autoregressive joint policy (chain rule in agent order)."""
    conds = []
    for i in range(game.n_agents):
        shape = (game.n_states, *game.n_actions[: i + 1])
        logits = draw(logit_tables(shape, logit_levels=logit_levels, logit_scale=logit_scale))
        conds.append(softmax(logits, axis=-1))
    return chain_policy(conds)


@st.composite
@_random_neutral
@no_type_check
def joint_policies(draw: Draw, game: Game, *, logit_levels: int = 4, logit_scale: float = 0.75) -> np.ndarray:
    """A strictly positive arbitrary joint policy (softmax over all joint actions)."""
    logits = draw(logit_tables(game.joint_shape, logit_levels=logit_levels, logit_scale=logit_scale))
    return softmax(logits, axis=game.action_axes)


def etas(*, max_eta: float = 8.0) -> st.SearchStrategy[float]:
    """Step sizes ``eta`` in ``(0, max_eta]``, from a shrinkable grid of 1/4 steps."""
    return st.integers(1, int(4 * max_eta)).map(lambda k: k / 4.0)
