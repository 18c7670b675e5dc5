"""Value-factorisation classics (VDN, QMIX) and the IGO limitation of FOP.

Exact, tabular versions over one-shot games (payoff tables
``[A_1, ..., A_n]``):

* ``vdn`` and ``qmix`` build ``Q_tot`` from per-agent utilities ``Q_i[A_i]``;
  IGM (individual-global-max) says the per-agent greedy actions form a greedy
  joint action of ``Q_tot``;
* ``vdn_least_squares`` is the best additive fit of a payoff table under a
  weighting of joint actions (uniform by default), solved exactly;
* ``soft_value``, ``soft_optimal_joint`` and ``best_product_soft`` compare the
  best *joint* policy with the best *product* policy under the
  entropy-regularised objective ``J_alpha(pi) = E_pi[r] + alpha H(pi)`` used by
  FOP and MACPF. The joint optimum is the Boltzmann policy
  ``exp(r / alpha) / Z`` with ``J* = alpha log sum_a exp(r(a)/alpha)``; for
  every policy ``J_alpha(pi) = J* - alpha KL(pi || Boltzmann)`` (Gibbs), so the
  best product policy is the I-projection of the Boltzmann policy and the gap
  is ``alpha min_{pi product} KL(pi || Boltzmann)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import Float

from theory.tabular import boltzmann, entropy, logsumexp, softmax

__all__ = [
    "ACTIVATIONS",
    "NON_MONOTONIC",
    "best_product_soft",
    "greedy_joint",
    "penalty_game",
    "qmix",
    "simplex_grid",
    "soft_optimal_joint",
    "soft_optimal_value",
    "soft_value",
    "vdn",
    "vdn_least_squares",
]

#: QTRAN's non-monotonic matrix game (row = agent 0's action).
NON_MONOTONIC = np.array([[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]])


def penalty_game(k: float | int) -> Float[np.ndarray, " 3 3"]:
    """The penalty game ``[[k, 0, 10], [0, 2, 0], [10, 0, k]]`` (two optima, ``k <= 0``)."""
    return np.array([[k, 0.0, 10.0], [0.0, 2.0, 0.0], [10.0, 0.0, k]])


# ---------------------------------------------------------------------------
# IGM mixers
# ---------------------------------------------------------------------------


def _outer_sum(utilities: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Broadcast ``Q_i[A_i]`` to the joint shape, one array per agent."""
    n = len(utilities)
    out = []
    for i, u in enumerate(utilities):
        shape = [1] * n
        shape[i] = len(u)
        out.append(np.asarray(u, dtype=np.float64).reshape(shape))
    return out


def vdn(utilities: Sequence[Float[np.ndarray, " _"]]) -> Float[np.ndarray, " *A"]:
    """VDN: ``Q_tot(a) = sum_i Q_i(a_i)`` (Sunehag et al., 2018)."""
    total: np.ndarray = np.zeros(())
    for u in _outer_sum(utilities):
        total = total + u
    return total


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


#: Activations available to ``qmix``; all are monotone non-decreasing except ``"sin"``,
#: which exists for mutation tests.
ACTIVATIONS = {
    "elu": _elu,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "identity": lambda x: x,
    "sin": np.sin,
}


def qmix(
    utilities: Sequence[Float[np.ndarray, " _"]],
    w1: Float[np.ndarray, " n H"],
    b1: Float[np.ndarray, " H"],
    w2: Float[np.ndarray, " H"],
    b2: float | int,
    *,
    activation: str = "elu",
    monotone: bool = True,
) -> Float[np.ndarray, " *A"]:
    """QMIX mixing for one state: ``Q_tot = w2 · act(W1^T q + b1) + b2``.

    ``q`` is the vector of utilities ``(Q_1(a_1), ..., Q_n(a_n))``. With
    ``monotone=True`` the weights pass through ``abs`` (QMIX's hypernetwork
    constraint), so ``dQ_tot/dQ_i >= 0`` whenever ``activation`` is monotone
    non-decreasing (Rashid et al., 2018, eq. 5). ``monotone=False`` is the
    mutation that drops the constraint.
    """
    w1 = np.asarray(w1, dtype=np.float64)
    w2 = np.asarray(w2, dtype=np.float64)
    if monotone:
        w1, w2 = np.abs(w1), np.abs(w2)
    act = ACTIVATIONS[activation]
    pre = np.asarray(b1, dtype=np.float64)
    for i, u in enumerate(_outer_sum(utilities)):
        pre = pre + u[..., None] * w1[i]
    return act(pre) @ w2 + b2


def greedy_joint(utilities: Sequence[Float[np.ndarray, " _"]]) -> tuple[int, ...]:
    """The joint action of per-agent argmaxes (first index on ties)."""
    return tuple(int(np.argmax(u)) for u in utilities)


def vdn_least_squares(
    payoff: Float[np.ndarray, " *A"], weights: Float[np.ndarray, " *A"] | None = None
) -> list[Float[np.ndarray, " _"]]:
    """Best VDN fit: ``argmin sum_a w(a) (sum_i Q_i(a_i) - r(a))^2`` (exact lstsq).

    Utilities are determined up to constants that sum to zero; the returned
    ones are the minimum-norm solution. Under uniform weights the fitted table
    is the two-way (n-way) additive ANOVA fit: ``sum_i mean(r | a_i) -
    (n - 1) mean(r)``.
    """
    r = np.asarray(payoff, dtype=np.float64)
    w = np.ones_like(r) if weights is None else np.asarray(weights, dtype=np.float64)
    shape = r.shape
    cols = []
    for i, a in enumerate(shape):
        for k in range(a):
            ind = np.zeros(shape)
            idx: list[slice | int] = [slice(None)] * len(shape)
            idx[i] = k
            ind[tuple(idx)] = 1.0
            cols.append(ind.ravel())
    design = np.stack(cols, axis=1)
    sw = np.sqrt(w.ravel())
    sol, *_ = np.linalg.lstsq(design * sw[:, None], r.ravel() * sw, rcond=None)
    out, start = [], 0
    for a in shape:
        out.append(sol[start : start + a])
        start += a
    return out


# ---------------------------------------------------------------------------
# IGO: soft (maximum-entropy) objective, joint vs product
# ---------------------------------------------------------------------------


def soft_value(payoff: Float[np.ndarray, " *A"], joint: Float[np.ndarray, " *A"], alpha: float | int) -> float:
    """``J_alpha(pi) = E_pi[r] + alpha H(pi)`` for a one-shot game (``pi`` over joint actions)."""
    pi = np.asarray(joint, dtype=np.float64)
    return float(np.sum(pi * payoff) + alpha * entropy(pi[None])[0])


def soft_optimal_joint(payoff: Float[np.ndarray, " *A"], alpha: float | int) -> Float[np.ndarray, " *A"]:
    """The maximiser of ``J_alpha`` over all joint policies: ``Boltzmann(r / alpha)``."""
    r = np.asarray(payoff, dtype=np.float64)
    return boltzmann(r, alpha, axis=tuple(range(r.ndim)))


def soft_optimal_value(payoff: Float[np.ndarray, " *A"], alpha: float | int) -> float:
    """``max_pi J_alpha(pi) = alpha logsumexp(r / alpha)``."""
    return float(alpha * logsumexp(np.asarray(payoff, dtype=np.float64) / alpha, axis=None))


def _compositions(n_parts: int, total: int) -> list[list[int]]:
    if n_parts == 1:
        return [[total]]
    return [[k, *rest] for k in range(total + 1) for rest in _compositions(n_parts - 1, total - k)]


def simplex_grid(n_actions: int, resolution: int) -> Float[np.ndarray, " G A"]:
    """All points of the probability simplex with coordinates in ``{0, 1/res, ..., 1}``."""
    return np.asarray(_compositions(n_actions, resolution), dtype=np.float64) / resolution


def _two_agent_profile(payoff: np.ndarray, p1: np.ndarray, alpha: float | int) -> np.ndarray:
    """``max_{pi_2} J_alpha(p1 x pi_2) = alpha H(p1) + alpha logsumexp(r^T p1 / alpha)``, row-wise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p1 > 0, p1 * np.log(p1), 0.0), axis=-1)
    return alpha * h + alpha * logsumexp((p1 @ payoff) / alpha, axis=-1)


def best_product_soft(
    payoff: Float[np.ndarray, " A1 A2"],
    alpha: float | int,
    *,
    resolution: int = 60,
    polish: int = 8,
    method: str = "exact",
) -> tuple[list[np.ndarray], float]:
    """Best product policy ``pi_1 x pi_2`` for ``J_alpha`` in a two-agent one-shot game.

    ``method="exact"``: profile out agent 2 in closed form (its best response
    to ``pi_1`` is ``softmax(r^T pi_1 / alpha)``), evaluate the profile on a
    simplex grid for agent 1, then polish the ``polish`` best grid points by
    alternating exact best responses (coordinate ascent, which never lowers
    ``J_alpha``) until they stop moving. Returns the marginals and the value.

    ``method="m_projection"`` is the mutation used in the tests: it returns the
    product of the Boltzmann policy's marginals (the *forward*-KL projection),
    which is not the soft-optimal product.
    """
    r = np.asarray(payoff, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError("best_product_soft handles two agents")
    if method == "m_projection":
        b = soft_optimal_joint(r, alpha)
        margs = [b.sum(1), b.sum(0)]
        return margs, soft_value(r, np.outer(*margs), alpha)
    if method != "exact":
        raise ValueError(f"unknown method {method!r}")
    grid = simplex_grid(r.shape[0], resolution)
    prof = _two_agent_profile(r, grid, alpha)
    best_val, best = -np.inf, [grid[0], grid[0]]
    for idx in np.argsort(-prof)[:polish]:
        p1 = grid[idx]
        for _ in range(10_000):
            p2 = softmax(p1 @ r / alpha)
            p1_new = softmax(r @ p2 / alpha)
            done = np.max(np.abs(p1_new - p1)) < 1e-15
            p1 = p1_new
            if done:
                break
        p2 = softmax(p1 @ r / alpha)
        val = soft_value(r, np.outer(p1, p2), alpha)
        if val > best_val:
            best_val, best = val, [p1, p2]
    return best, float(best_val)
