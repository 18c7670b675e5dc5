"""Brute-force references, written independently of ``theory.tabular``.

Every quantity here is computed by explicit Python loops over states and joint
actions (``itertools.product``), from the definitions in the papers, without the
broadcasting, ``np.sum(axis=...)`` or axis permutations that ``theory.tabular``
uses. The property tests compare the vectorised references against these, so
that a wrong axis, a wrong weight or a wrong subset average in ``theory.tabular``
is caught even where an identity (such as the telescoping sum of MAGPO Lemma 1)
would hide it. Slow by design; only for the small games of the tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from theory.tabular import Game

__all__ = ["joint_actions", "q_values", "subset_advantage", "subset_q"]


def joint_actions(game: Game) -> list[tuple[int, ...]]:
    """Every joint action ``(a_1, ..., a_n)`` in lexicographic order."""
    return list(itertools.product(*(range(k) for k in game.n_actions)))


def q_values(game: Game, joint: np.ndarray) -> tuple[list[float], dict[tuple[int, ...], float]]:
    """``(V^pi, Q^pi)`` from the Bellman equation ``V = r_pi + gamma P_pi V``, assembled entry by entry.

    ``P_pi[s, s'] = sum_a pi(a|s) P(s'|s, a)`` and ``r_pi[s] = sum_a pi(a|s) r(s, a)`` are
    built with loops; ``Q(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V(s')``. Returns ``V`` as a
    list and ``Q`` as a dict keyed by ``(s, a_1, ..., a_n)``.
    """
    n_s = game.n_states
    acts = joint_actions(game)
    p_pi = np.zeros((n_s, n_s))
    r_pi = np.zeros(n_s)
    for s in range(n_s):
        for a in acts:
            w = float(joint[(s, *a)])
            r_pi[s] += w * float(game.reward[(s, *a)])
            for s2 in range(n_s):
                p_pi[s, s2] += w * float(game.transition[(s, *a, s2)])
    v = np.linalg.solve(np.eye(n_s) - game.gamma * p_pi, r_pi)
    q = {}
    for s in range(n_s):
        for a in acts:
            nxt = sum(float(game.transition[(s, *a, s2)]) * float(v[s2]) for s2 in range(n_s))
            q[(s, *a)] = float(game.reward[(s, *a)]) + game.gamma * nxt
    return [float(x) for x in v], q


def subset_q(game: Game, joint: np.ndarray, agents: Sequence[int], others: str = "marginal") -> np.ndarray:
    """``Q^{i_1:m}(s, a^{i_1}, ..., a^{i_m})`` of MAGPO eq. 7 by enumeration; axes in the order of ``agents``.

    ``others = "marginal"`` (eq. 7 as printed): ``sum_{a^-i} pi^{-i}(a^-i | s) Q(s, a^i, a^-i)`` with
    ``pi^{-i}(a^-i | s) = sum_{b^i} pi(b^i, a^-i | s)``. ``others = "conditional"``:
    ``sum_{a^-i} pi(a^i, a^-i | s) / pi^i(a^i | s) Q(s, a^i, a^-i)`` (``E[Q | s, a^i]``); where
    ``pi^i(a^i | s) = 0`` it falls back to the marginal reading, as ``theory.tabular.marginal_q`` does.
    """
    agents = list(agents)
    n = game.n_agents
    rest = [k for k in range(n) if k not in agents]
    _, q = q_values(game, joint)
    acts = joint_actions(game)
    out = np.zeros((game.n_states, *(game.n_actions[k] for k in agents)))

    def assemble(sub: tuple[int, ...], oth: tuple[int, ...]) -> tuple[int, ...]:
        full = [0] * n
        for k, x in zip(agents, sub, strict=True):
            full[k] = x
        for k, x in zip(rest, oth, strict=True):
            full[k] = x
        return tuple(full)

    sub_actions = list(itertools.product(*(range(game.n_actions[k]) for k in agents)))
    rest_actions = list(itertools.product(*(range(game.n_actions[k]) for k in rest)))
    for s in range(game.n_states):
        # marginal of the others and of the subset, by summing joint entries one at a time
        p_rest = {oth: 0.0 for oth in rest_actions}
        p_sub = {sub: 0.0 for sub in sub_actions}
        for a in acts:
            p_rest[tuple(a[k] for k in rest)] += float(joint[(s, *a)])
            p_sub[tuple(a[k] for k in agents)] += float(joint[(s, *a)])
        for sub in sub_actions:
            total = 0.0
            if others == "conditional" and p_sub[sub] > 1e-300:
                for oth in rest_actions:
                    a = assemble(sub, oth)
                    total += float(joint[(s, *a)]) / p_sub[sub] * q[(s, *a)]
            else:
                for oth in rest_actions:
                    total += p_rest[oth] * q[(s, *assemble(sub, oth))]
            out[(s, *sub)] = total
    return out


def subset_advantage(
    game: Game, joint: np.ndarray, agents_j: Sequence[int], agents_i: Sequence[int], others: str = "marginal"
) -> np.ndarray:
    """``A^{i}(s, a^j, a^i) = Q^{j,i}(s, a^j, a^i) - Q^{j}(s, a^j)`` (MAGPO eq. 6) from ``subset_q``, entry by entry."""
    q_ji = subset_q(game, joint, list(agents_j) + list(agents_i), others)
    q_j = subset_q(game, joint, list(agents_j), others)
    out = np.zeros(q_ji.shape)
    k = len(agents_j)
    for idx in itertools.product(*(range(d) for d in q_ji.shape)):
        out[idx] = q_ji[idx] - q_j[idx[: 1 + k]]
    return out
