"""Exact tabular reference for MACPF (Wang, Ye & Lu, ICLR 2023; paper 003).

Three results of the paper are made executable here:

* **Conditional factorised soft policy iteration** (section 3.1, Theorem 1,
  Lemmas A.1 and A.2). Joint soft policy evaluation (eqs. 20-21) alternates with
  individual conditional soft policy improvement (eq. 22): every agent ``i``
  replaces its dependent policy ``pi_i(a_i | s, a_<i)`` by the Boltzmann
  distribution of its conditional soft Q (eqs. 3-4). The conditional soft Qs are
  the ones that make the ``Q_jt`` factorisation of eq. 6 hold, so in the
  unrestricted tabular case (``Pi_i`` = all conditionals) the improved joint is
  exactly ``exp((Q_jt^old - V_jt)/alpha)``, which is what the proof of Lemma A.2
  uses.
* **The Q_jt factorisations** of eq. 6 (dependent policies) and of FOP's eq. 2
  (independent policies, quoted as MACPF eq. 2).
* **Theorem 2** (section 3.2, Appendix B): for a dependent joint policy, an
  independent (product) joint policy with the same value, built state by state
  with the intermediate-value construction of the proof.

Notation: a joint table has shape ``[S, A_1, ..., A_n]``; ``alpha`` is the
joint temperature and ``alphas[i]`` the individual temperatures ``alpha_i``.
Equation (4) is printed without a ``log``; we use
``V_i = alpha_i log sum_{a_i} exp(Q_i / alpha_i)``, the only reading under which
eq. (3) is a normalised distribution (``eq4_as_printed`` shows the other one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float
from scipy.special import logsumexp

from theory.tabular import (
    Game,
    boltzmann,
    chain_policy,
    conditionals,
    evaluate,
    product_policy,
    soft_evaluate,
)

__all__ = [
    "CFSPIResult",
    "conditional_soft_policy_iteration",
    "conditional_soft_qs",
    "conditional_policies_from_qs",
    "eq4_as_printed",
    "eq6_rhs",
    "fop_eq2_rhs",
    "additive_residual",
    "independent_counterpart",
    "ivt_product_for_target",
    "soft_q_iteration",
    "soft_value_of_boltzmann",
]


# ---------------------------------------------------------------------------
# Centralised reference: soft Q-iteration
# ---------------------------------------------------------------------------


def _lse(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``log sum exp`` over ``axes`` (plain NumPy; faster than SciPy's for tiny arrays)."""
    m = np.max(x, axis=axes, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=axes)) + np.squeeze(m, axis=axes)


def soft_q_iteration(
    game: Game, alpha: float, *, tol: float = 1e-13, max_iter: int = 100_000
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, " S *A"]]:
    """Soft-optimal ``(V*, Q*)`` of the joint (centralised) maximum-entropy problem.

    Iterates ``Q <- r + gamma P V`` with ``V(s) = alpha log sum_a exp(Q(s,a)/alpha)``
    (Haarnoja et al. 2017/2018) until the sup-norm change is below ``tol``. This
    is the target that MACPF Theorem 1 claims conditional factorised soft policy
    iteration reaches.
    """
    axes = game.action_axes
    q = np.array(game.reward, dtype=np.float64)
    for _ in range(max_iter):
        v = alpha * _lse(q / alpha, axes)
        q_new = game.reward + game.gamma * game.transition @ v
        if np.max(np.abs(q_new - q)) < tol:
            q = q_new
            break
        q = q_new
    v = alpha * logsumexp(q / alpha, axis=axes)
    return v, q


def soft_value_of_boltzmann(q: Float[np.ndarray, " S *A"], alpha: float, n_agents: int) -> np.ndarray:
    """``V_jt(s) = alpha log sum_a exp(Q_jt(s, a)/alpha)``, the normaliser in eq. 6."""
    axes = tuple(range(1, n_agents + 1))
    return alpha * logsumexp(np.asarray(q) / alpha, axis=axes)


# ---------------------------------------------------------------------------
# Eq. 3-6: conditional soft Qs and the Q_jt factorisation
# ---------------------------------------------------------------------------


def conditional_soft_qs(
    q_jt: Float[np.ndarray, " S *A"], alpha: float, alphas: Sequence[float], *, scale: bool = True
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The conditional soft utilities ``Q_i(s, a_<i, a_i)`` and ``V_i(s, a_<i)`` of eq. 6.

    With ``W_n = Q_jt`` and ``W_{i-1}(s, a_<i) = alpha log sum_{a_i} exp(W_i / alpha)``
    (soft-marginalising the later agents), set ``Q_i = (alpha_i / alpha) W_i``.
    Then ``V_i = alpha_i log sum_{a_i} exp(Q_i / alpha_i) = (alpha_i/alpha) W_{i-1}``
    and the sum in eq. 6 telescopes to ``Q_jt - V_jt``. These ``Q_i`` are unique
    up to an additive function of ``(s, a_<i)``, which cancels in eq. 3, so this
    is *the* conditional soft Q "in the paper's sense".

    ``scale=False`` is a mutation used by the tests: it drops the
    ``alpha_i / alpha`` factor (``Q_i = W_i``), i.e. it forgets that eq. 6
    weights each agent by ``alpha / alpha_i``.

    Returns ``(qs, vs)``: ``qs[i]`` has shape ``[S, A_1, ..., A_i]`` (agent ``i``
    counted from 0, so ``i + 1`` action axes) and ``vs[i]`` has shape
    ``[S, A_1, ..., A_{i-1}]``.
    """
    q = np.asarray(q_jt, dtype=np.float64)
    n = q.ndim - 1
    if len(alphas) != n:
        raise ValueError(f"need one alpha_i per agent ({n}), got {len(alphas)}")
    ws = [None] * (n + 1)
    ws[n] = q
    for i in range(n, 0, -1):
        ws[i - 1] = alpha * logsumexp(ws[i] / alpha, axis=-1)
    qs, vs = [], []
    for i in range(n):
        factor = alphas[i] / alpha if scale else 1.0
        qi = factor * ws[i + 1]
        qs.append(qi)
        vs.append(alphas[i] * logsumexp(qi / alphas[i], axis=-1))
    return qs, vs


def conditional_policies_from_qs(qs: Sequence[np.ndarray], alphas: Sequence[float]) -> list[np.ndarray]:
    """Eq. 3: ``pi_i(a_i | s, a_<i) = exp((Q_i - V_i) / alpha_i)`` for each agent."""
    return [boltzmann(qi, a, axis=-1) for qi, a in zip(qs, alphas, strict=True)]


def eq6_rhs(
    qs: Sequence[np.ndarray],
    vs: Sequence[np.ndarray],
    v_jt: Float[np.ndarray, " S"],
    alpha: float,
    alphas: Sequence[float],
) -> Float[np.ndarray, " S *A"]:
    """Right-hand side of eq. 6: ``sum_i (alpha/alpha_i)[Q_i - V_i] + V_jt``, as a joint table."""
    n = len(qs)
    total = np.asarray(v_jt, dtype=np.float64).reshape((-1,) + (1,) * n)
    for i, (qi, vi) in enumerate(zip(qs, vs, strict=True)):
        term = (alpha / alphas[i]) * (qi - vi[..., None])
        total = total + term.reshape(term.shape + (1,) * (n - i - 1))
    return total


def fop_eq2_rhs(
    q_ind: Sequence[Float[np.ndarray, "S _"]],
    v_jt: Float[np.ndarray, " S"],
    alpha: float,
    alphas: Sequence[float],
) -> Float[np.ndarray, " S *A"]:
    """Right-hand side of FOP eq. 2 (MACPF eq. 2): ``sum_i (alpha/alpha_i)[Q_i(s,a_i) - V_i(s)] + V_jt``.

    ``q_ind[i]`` has shape ``[S, A_i]`` and ``V_i = alpha_i log sum exp(Q_i/alpha_i)``.
    """
    n = len(q_ind)
    total = np.asarray(v_jt, dtype=np.float64).reshape((-1,) + (1,) * n)
    for i, qi in enumerate(q_ind):
        vi = alphas[i] * logsumexp(qi / alphas[i], axis=-1, keepdims=True)
        shape = [qi.shape[0]] + [1] * n
        shape[i + 1] = qi.shape[1]
        total = total + ((alpha / alphas[i]) * (qi - vi)).reshape(shape)
    return total


def additive_residual(q_jt: Float[np.ndarray, " S *A"]) -> float:
    """Sup-norm distance of ``Q_jt`` from the additive tables ``c(s) + sum_i u_i(s, a_i)``.

    Computed with the two-way (n-way) ANOVA projection: the additive part is the
    grand mean plus the main effects; the residual is the interaction. FOP's
    eq. 2 can hold for *some* ``Q_i`` iff this residual is zero, because eq. 2
    writes ``Q_jt`` as a state term plus one term per agent.
    """
    q = np.asarray(q_jt, dtype=np.float64)
    n = q.ndim - 1
    axes = tuple(range(1, n + 1))
    grand = q.mean(axis=axes, keepdims=True)
    fit = np.broadcast_to(grand, q.shape).copy()
    for i in range(n):
        other = tuple(a for a in axes if a != i + 1)
        fit = fit + (q.mean(axis=other, keepdims=True) - grand)
    return float(np.max(np.abs(q - fit)))


def eq4_as_printed(qi: np.ndarray, alpha_i: float) -> np.ndarray:
    """Eq. 3 with eq. 4 *as printed* (no log): ``exp((Q_i - alpha_i sum exp(Q_i/alpha_i))/alpha_i)``.

    Not a distribution in general; kept to document the typo.
    """
    vi = alpha_i * np.sum(np.exp(qi / alpha_i), axis=-1, keepdims=True)
    return np.exp((qi - vi) / alpha_i)


# ---------------------------------------------------------------------------
# Theorem 1: conditional factorised soft policy iteration
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CFSPIResult:
    """History of conditional factorised soft policy iteration.

    ``joints[k]`` is ``pi_jt^k`` and ``qs[k]`` its soft ``Q_jt^{pi^k}`` (eqs. 20-21);
    ``vs[k]`` is the soft ``V``. ``conditionals[k]`` are the dependent policies
    ``pi_i^k(a_i | s, a_<i)`` that define ``joints[k]`` (for ``k >= 1``).
    """

    joints: list[np.ndarray]
    qs: list[np.ndarray]
    vs: list[np.ndarray]
    conditionals: list[list[np.ndarray]]


def conditional_soft_policy_iteration(
    game: Game,
    init_joint: Float[np.ndarray, " S *A"],
    alpha: float,
    alphas: Sequence[float] | None = None,
    *,
    n_iter: int = 60,
    tol: float = 1e-12,
    scale: bool = True,
    marginalise: str = "soft",
) -> CFSPIResult:
    """MACPF Theorem 1 / Appendix A, executed exactly on a tabular game.

    Each iteration:

    1. *Joint soft policy evaluation* (Lemma A.1, eqs. 20-21): the exact soft
       ``Q_jt^{pi}`` of the current joint policy (joint entropy, temperature ``alpha``).
    2. *Individual conditional soft policy improvement* (eq. 22 with unrestricted
       ``Pi_i``, Lemma A.2): every agent's new dependent policy is the Boltzmann
       distribution (eq. 3, temperature ``alpha_i``) of its conditional soft Q from
       ``conditional_soft_qs``; the new joint is their chain-rule product (eq. 5).

    Stops after ``n_iter`` iterations or when the soft Q changes by less than
    ``tol``. ``scale=False`` is the wrong-temperature mutation (see
    ``conditional_soft_qs``); it only matters when some ``alpha_i != alpha``.

    ``marginalise="expected"`` is a plausible but wrong reading, kept for the
    tests: an earlier agent's conditional Q is the *plain* average of ``Q_jt``
    over the later agents' old conditional policies (no entropy of the later
    agents, no log-sum-exp). It is neither monotone nor convergent to ``Q*``.
    """
    n = game.n_agents
    alphas = [alpha] * n if alphas is None else list(alphas)
    joint = np.asarray(init_joint, dtype=np.float64)
    v, q = soft_evaluate(game, joint, alpha)
    joints, qs_hist, vs_hist, conds_hist = [joint], [q], [v], [[]]
    for _ in range(n_iter):
        if marginalise == "soft":
            qs, _ = conditional_soft_qs(q, alpha, alphas, scale=scale)
        elif marginalise == "expected":
            old = conditionals(joint)
            ws = [q]
            for i in range(n - 1, 0, -1):
                ws.insert(0, np.sum(old[i] * ws[0], axis=-1))
            qs = [(alphas[i] / alpha) * ws[i] for i in range(n)]
        else:
            raise ValueError(f"marginalise must be 'soft' or 'expected', got {marginalise!r}")
        conds = conditional_policies_from_qs(qs, alphas)
        joint = chain_policy(conds)
        v_new, q_new = soft_evaluate(game, joint, alpha)
        joints.append(joint)
        qs_hist.append(q_new)
        vs_hist.append(v_new)
        conds_hist.append(conds)
        done = np.max(np.abs(q_new - q)) < tol
        q = q_new
        if done:
            break
    return CFSPIResult(joints=joints, qs=qs_hist, vs=vs_hist, conditionals=conds_hist)


# ---------------------------------------------------------------------------
# Theorem 2: an independent joint policy with the dependent policy's value
# ---------------------------------------------------------------------------


def ivt_product_for_target(table: Float[np.ndarray, "*A"], target: float) -> tuple[list[np.ndarray], dict[str, object]]:
    """A product distribution ``x`` over joint actions with ``E_x[table] = target``.

    The construction of MACPF Appendix B made explicit. Let ``a_hi`` and
    ``a_lo`` be a maximiser and a minimiser of ``table`` (both are deterministic,
    hence independent, joint policies with expectations ``max`` and ``min``).
    Walk from ``a_lo`` to ``a_hi`` switching one agent at a time: on leg ``k``,
    agent ``k`` moves its probability mass linearly from ``a_lo[k]`` to
    ``a_hi[k]`` while agents ``< k`` play ``a_hi`` and agents ``> k`` play
    ``a_lo``. Every point on the path is a product policy and the expectation is
    linear on each leg, so the intermediate value theorem picks a leg and a
    mixing weight ``t`` exactly. Requires ``min <= target <= max`` (up to 1e-12).

    Returns the per-agent marginals and a record of the construction (for the
    readable rendering in THEOREMS.md and in failure messages).
    """
    t_arr = np.asarray(table, dtype=np.float64)
    n = t_arr.ndim
    lo_val, hi_val = float(t_arr.min()), float(t_arr.max())
    if not lo_val - 1e-12 <= target <= hi_val + 1e-12:
        raise ValueError(f"target {target} outside [{lo_val}, {hi_val}]")
    target = min(max(target, lo_val), hi_val)
    a_hi = np.unravel_index(int(np.argmax(t_arr)), t_arr.shape)
    a_lo = np.unravel_index(int(np.argmin(t_arr)), t_arr.shape)
    vertices = [tuple(a_hi[:k]) + tuple(a_lo[k:]) for k in range(n + 1)]
    vals = [float(t_arr[v]) for v in vertices]
    leg, t = n - 1, 1.0
    for k in range(n):
        v0, v1 = vals[k], vals[k + 1]
        if min(v0, v1) - 1e-15 <= target <= max(v0, v1) + 1e-15:
            leg = k
            t = 0.0 if v1 == v0 else (target - v0) / (v1 - v0)
            t = min(max(t, 0.0), 1.0)
            break
    margs = []
    for i, ai in enumerate(t_arr.shape):
        m = np.zeros(ai)
        if i < leg:
            m[a_hi[i]] = 1.0
        elif i > leg:
            m[a_lo[i]] = 1.0
        else:
            m[a_lo[i]] += 1.0 - t
            m[a_hi[i]] += t
        margs.append(m)
    record = {
        "a_max": tuple(int(x) for x in a_hi),
        "a_min": tuple(int(x) for x in a_lo),
        "leg": leg,
        "t": t,
        "path_values": vals,
    }
    return margs, record


def independent_counterpart(
    game: Game, dep_joint: Float[np.ndarray, " S *A"]
) -> tuple[Float[np.ndarray, " S *A"], list[dict[str, object]]]:
    """MACPF Theorem 2: an independent joint policy with the same (plain) value.

    For every state ``s``, pick a product policy ``x_s`` with
    ``E_{a ~ x_s}[Q^{dep}(s, a)] = V^{dep}(s)`` (``ivt_product_for_target``),
    exactly as the proof of Appendix B does. The proof then claims
    ``V^{ind} = V^{dep}``; the tests check that claim with an exact evaluation.
    Values are the paper's ``V = sum_a pi Q`` (expected return, no entropy).
    """
    v, q = evaluate(game, dep_joint)
    per_state_margs: list[list[np.ndarray]] = []
    records = []
    for s in range(game.n_states):
        m, rec = ivt_product_for_target(q[s], float(v[s]))
        per_state_margs.append(m)
        records.append(rec)
    margs = [np.stack([per_state_margs[s][i] for s in range(game.n_states)]) for i in range(game.n_agents)]
    return product_policy(margs), records
