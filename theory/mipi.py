"""Exact tabular reference for MIPI (Wang, Ye & Lu, NeurIPS 2023; paper 002).

Two pieces of the paper are made executable:

* **Multi-agent policy iteration with a fixed marginal distribution**
  (section 4.2: eq. 5, eq. 6, eq. 7, Lemma 1, Lemma 2, Theorem 1). The reward is
  augmented by ``-alpha sum_i log(pi_i(u_i|s) / pibar_i(u_i|s_i^+))`` where the
  marginal ``pibar_i(. | s_i^+)`` is *given and fixed*. ``s_i^+`` is a feature of
  the state; here a map ``plus[i]: state -> feature index``.
* **The Blahut-Arimoto alternation** (section 4.3: eqs. 10-13, Theorem 2) for the
  constrained individual improvement, with the objective
  ``E_{s*}E_{pi}[Q_i(s*, u) - alpha log(pi(u|s*) / pibar(u))]`` and
  ``pibar = sum_{s*} rho(s*) pi(.|s*)`` (eq. 11).

The improvement step of Lemma 2 needs the decomposition of eq. 6,
``Q_jt(s, u) = sum_i w_i(s) Q_i(s, u_i) + b(s)``, to hold *exactly* for every
policy. ``DecomposableGame`` builds the games for which it does: rewards are a
weighted sum of per-agent terms and the transition is a state-dependent mixture
of per-agent kernels. For these games ``Q_i`` is computed exactly from ``V``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from jaxtyping import Float
from scipy.special import logsumexp

from theory.tabular import Game, product_policy

__all__ = [
    "BAResult",
    "DecomposableGame",
    "MIPIResult",
    "ba_dual",
    "ba_objective",
    "ba_optimum",
    "blahut_arimoto",
    "blahut_arimoto_batch",
    "ba_rate_experiment",
    "fit_power_law",
    "mi_cost",
    "mi_evaluate",
    "mi_optimal",
    "mi_policy_iteration",
]


# ---------------------------------------------------------------------------
# Games whose joint Q decomposes exactly as in eq. 6
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DecomposableGame:
    """A Markov game for which MIPI eq. 6 holds exactly for every joint policy.

    ``r(s, u) = sum_i w_i(s) rbar_i(s, u_i) + b(s)`` and
    ``P(s'|s, u) = sum_i beta_i(s) P_i(s'|s, u_i)`` with ``beta_i >= 0``,
    ``sum_i beta_i(s) = 1``. Then for any policy with value ``V``
    ``Q_jt(s, u) = sum_i w_i(s) Q_i(s, u_i) + b(s)`` where
    ``Q_i(s, u_i) = rbar_i(s, u_i) + gamma (beta_i(s)/w_i(s)) sum_s' P_i(s'|s,u_i) V(s')``.

    Attributes:
        weights: ``w_i(s) > 0``, shape ``[n, S]`` (the mixer weights of eq. 6/15).
        rbar: per-agent reward terms, ``rbar[i]`` of shape ``[S, A_i]``.
        bias: ``b(s)``, shape ``[S]``.
        mix: ``beta_i(s)``, shape ``[n, S]``.
        kernels: ``kernels[i]`` of shape ``[S, A_i, S]``.
        gamma, rho: as in ``theory.tabular.Game``.
    """

    weights: np.ndarray
    rbar: tuple[np.ndarray, ...]
    bias: np.ndarray
    mix: np.ndarray
    kernels: tuple[np.ndarray, ...]
    gamma: float
    rho: np.ndarray

    @property
    def n_agents(self) -> int:
        return len(self.rbar)

    @property
    def n_states(self) -> int:
        return int(self.bias.shape[0])

    def game(self) -> Game:
        """The underlying ``theory.tabular.Game``."""
        n, s = self.n_agents, self.n_states
        acts = tuple(r.shape[1] for r in self.rbar)
        reward = np.broadcast_to(self.bias.reshape((s,) + (1,) * n), (s,) + acts).copy()
        trans = np.zeros((s,) + acts + (s,))
        for i in range(n):
            shape = [s] + [1] * n
            shape[i + 1] = acts[i]
            reward = reward + (self.weights[i][:, None] * self.rbar[i]).reshape(shape)
            k = self.mix[i][:, None, None] * self.kernels[i]
            trans = trans + k.reshape(shape + [s])
        return Game(reward=reward, transition=trans, gamma=self.gamma, rho=self.rho)

    def utilities(self, v: Float[np.ndarray, " S"]) -> list[np.ndarray]:
        """The exact ``Q_i(s, u_i)`` of eq. 6 given the joint value ``V``."""
        return [
            self.rbar[i] + self.gamma * (self.mix[i] / self.weights[i])[:, None] * (self.kernels[i] @ v)
            for i in range(self.n_agents)
        ]


# ---------------------------------------------------------------------------
# MI-regularised evaluation (Lemma 1) and the centralised optimum
# ---------------------------------------------------------------------------


def _prior_per_state(plus: Sequence[np.ndarray], prior: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``pibar_i(. | s_i^+(s))`` laid out per state: ``[S, A_i]`` for each agent."""
    return [np.asarray(p)[np.asarray(f)] for f, p in zip(plus, prior, strict=True)]


def mi_cost(
    margs: Sequence[Float[np.ndarray, "S _"]],
    plus: Sequence[np.ndarray],
    prior: Sequence[np.ndarray],
) -> Float[np.ndarray, " S"]:
    """``E_{pi}[sum_i log(pi_i(u_i|s) / pibar_i(u_i|s_i^+))]`` per state (a sum of KLs)."""
    total = 0.0
    for m, p in zip(margs, _prior_per_state(plus, prior), strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(m > 0, m * (np.log(m) - np.log(p)), 0.0)
        total = total + terms.sum(-1)
    return np.asarray(total)


def mi_evaluate(
    game: Game,
    margs: Sequence[Float[np.ndarray, "S _"]],
    plus: Sequence[np.ndarray],
    prior: Sequence[np.ndarray],
    alpha: float,
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, " S *A"]]:
    """Exact fixed point of the MI-regularised Bellman operator of eq. 5 (Lemma 1).

    ``V(s) = E_pi[Q(s,u) - alpha sum_i log(pi_i(u_i|s)/pibar_i(u_i|s_i^+))]`` and
    ``Q(s,u) = r(s,u) + gamma E_{s'}[V(s')]`` for the product policy with
    marginals ``margs`` (each ``[S, A_i]``), solved as one linear system.
    """
    joint = product_policy(margs)
    axes = game.action_axes
    r_pi = np.sum(joint * game.reward, axis=axes) - alpha * mi_cost(margs, plus, prior)
    p_pi = np.sum(joint[..., None] * game.transition, axis=axes)
    v = np.linalg.solve(np.eye(game.n_states) - game.gamma * p_pi, r_pi)
    q = game.reward + game.gamma * game.transition @ v
    return v, q


def mi_optimal(
    game: Game,
    plus: Sequence[np.ndarray],
    prior: Sequence[np.ndarray],
    alpha: float,
    *,
    tol: float = 1e-13,
    max_iter: int = 100_000,
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, " S *A"]]:
    """Optimal regularised ``(V*, Q*)`` over *all* joint policies (centralised reference).

    For a product policy the regulariser equals ``KL(pi_jt || prod_i pibar_i)``.
    Over all joint policies the optimum of ``E[Q] - alpha KL(pi || prod_i pibar_i)``
    is ``V(s) = alpha log sum_u prod_i pibar_i(u_i|s_i^+) exp(Q(s,u)/alpha)``;
    iterate the Bellman equation to ``tol``. When eq. 6 holds the optimal joint
    policy is a product, so this is also the best product policy, the ``pi*``
    that Theorem 1 says policy iteration reaches.
    """
    n = game.n_agents
    log_prior = np.zeros(game.joint_shape)
    for i, p in enumerate(_prior_per_state(plus, prior)):
        shape = [game.n_states] + [1] * n
        shape[i + 1] = p.shape[1]
        log_prior = log_prior + np.log(p).reshape(shape)
    axes = game.action_axes
    q = np.array(game.reward)
    for _ in range(max_iter):
        x = log_prior + q / alpha
        m = np.max(x, axis=axes, keepdims=True)
        v = alpha * (np.log(np.sum(np.exp(x - m), axis=axes)) + np.squeeze(m, axis=axes))
        q_new = game.reward + game.gamma * game.transition @ v
        if np.max(np.abs(q_new - q)) < tol:
            q = q_new
            break
        q = q_new
    v = alpha * logsumexp(log_prior + q / alpha, axis=axes)
    return v, q


# ---------------------------------------------------------------------------
# Theorem 1: policy iteration with a fixed marginal
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MIPIResult:
    """History of MI-regularised policy iteration: marginals, ``V`` and ``Q`` per iteration."""

    margs: list[list[np.ndarray]]
    vs: list[np.ndarray]
    qs: list[np.ndarray]


def mi_policy_iteration(
    dgame: DecomposableGame,
    init_margs: Sequence[Float[np.ndarray, "S _"]],
    plus: Sequence[np.ndarray],
    prior: Sequence[np.ndarray],
    alpha: float,
    *,
    n_iter: int = 60,
    tol: float = 1e-12,
    weighted: bool = True,
    mi_sign: float = 1.0,
) -> MIPIResult:
    """MIPI Theorem 1: joint evaluation (eq. 5) alternating with individual improvement.

    The improvement solves eq. 7 in closed form:
    ``pi_i^new(u_i|s) ∝ pibar_i(u_i|s_i^+) exp(c_i(s) Q_i(s,u_i) / alpha)``.

    * ``weighted=True`` uses ``c_i = w_i(s)``: the objective that the proof of
      Lemma 2 (eq. 20) actually plugs in, ``E[w_i Q_i - alpha log(pi/pibar)]``.
    * ``weighted=False`` uses ``c_i = 1``: eq. 7 as printed (and the actor loss
      eq. 18). The two agree when every ``w_i = 1``.
    * ``mi_sign=-1`` is a mutation (the MI term enters the improvement with the
      wrong sign: ``pi ∝ pibar^{-1} exp(cQ/alpha)``).
    """
    game = dgame.game()
    margs = [np.asarray(m, dtype=np.float64) for m in init_margs]
    v, q = mi_evaluate(game, margs, plus, prior, alpha)
    hist_m, hist_v, hist_q = [margs], [v], [q]
    priors = _prior_per_state(plus, prior)
    for _ in range(n_iter):
        qi = dgame.utilities(v)
        new = []
        for i in range(dgame.n_agents):
            c = dgame.weights[i][:, None] if weighted else 1.0
            logits = mi_sign * np.log(priors[i]) + c * qi[i] / alpha
            new.append(np.exp(logits - logsumexp(logits, axis=-1, keepdims=True)))
        margs = new
        v_new, q_new = mi_evaluate(game, margs, plus, prior, alpha)
        hist_m.append(margs)
        hist_v.append(v_new)
        hist_q.append(q_new)
        done = np.max(np.abs(q_new - q)) < tol
        v, q = v_new, q_new
        if done:
            break
    return MIPIResult(margs=hist_m, vs=hist_v, qs=hist_q)


# ---------------------------------------------------------------------------
# Theorem 2: Blahut-Arimoto for the constrained improvement (eqs. 10-13)
# ---------------------------------------------------------------------------


def ba_objective(
    q: Float[np.ndarray, "K A"], rho: Float[np.ndarray, " K"], pi: Float[np.ndarray, "K A"], alpha: float
) -> float:
    """Objective of eq. 10 under constraint 11: ``E_rho E_pi[Q - alpha log(pi / pibar)]``.

    ``pibar = rho @ pi`` is the marginal of eq. 11, so the penalty is
    ``alpha * I(U; S*)``, the conditional mutual information for this ``s^+``.
    """
    pibar = rho @ pi
    # entries below 1e-280 contribute ~1e-277 to the sum; masking them avoids
    # 0 * log(0/0) when a marginal underflows after many iterations
    live = (pi > 1e-280) & (pibar[None, :] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(live, np.log(pi) - np.log(pibar)[None, :], 0.0)
    return float(rho @ np.sum(np.where(live, pi * (q - alpha * log_ratio), 0.0), axis=1))


def ba_dual(q: Float[np.ndarray, "K A"], rho: Float[np.ndarray, " K"], marginal: np.ndarray, alpha: float) -> float:
    """``G(pibar) = max_pi F(pi, pibar) = alpha sum_k rho_k log sum_u pibar_u exp(Q_ku/alpha)``.

    ``F(pi, pibar) = E[Q - alpha log(pi/pibar)]`` with the marginal as a free
    argument; its maximum over ``pi`` is eq. 13's Boltzmann step. ``max G`` equals
    the optimum of eq. 10.
    """
    with np.errstate(divide="ignore"):
        logm = np.log(marginal)
    return float(alpha * rho @ logsumexp(logm[None, :] + q / alpha, axis=1))


@dataclass(frozen=True)
class BAResult:
    """Blahut-Arimoto history: ``policies[m]`` is ``pi^m`` (``[K, A]``), ``objectives[m] = F(pi^m)``."""

    policies: list[np.ndarray]
    marginals: list[np.ndarray]
    objectives: np.ndarray


def blahut_arimoto(
    q: Float[np.ndarray, "K A"],
    rho: Float[np.ndarray, " K"],
    alpha: float,
    pi0: Float[np.ndarray, "K A"],
    n_iter: int,
    *,
    update_marginal: bool = True,
) -> BAResult:
    """MIPI Theorem 2: alternate eq. 12 (marginal) and eq. 13 (Boltzmann policy).

    ``pibar^m = sum_k rho_k pi^m(.|k)`` (eq. 12) and
    ``pi^{m+1}(u|k) ∝ pibar^m(u) exp(Q(k,u)/alpha)`` (eq. 13).
    ``update_marginal=False`` is a mutation that skips eq. 12 after the first
    iteration (the marginal stays ``pibar^0``).
    """
    pi = np.asarray(pi0, dtype=np.float64)
    pols, margs, objs = [pi], [], [ba_objective(q, rho, pi, alpha)]
    pibar = rho @ pi
    for m in range(n_iter):
        if update_marginal or m == 0:
            pibar = rho @ pi
        margs.append(pibar)
        with np.errstate(divide="ignore"):
            logits = np.log(pibar)[None, :] + q / alpha
        pi = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        pols.append(pi)
        objs.append(ba_objective(q, rho, pi, alpha))
    return BAResult(policies=pols, marginals=margs, objectives=np.asarray(objs))


def _newton_on_support(
    lk: np.ndarray,
    rho: np.ndarray,
    support: Sequence[int],
    start: np.ndarray | None = None,
    iters: int = 100,
) -> np.ndarray | None:
    """Maximise ``sum_k rho_k log(sum_{u in T} q_u L_ku)`` over the simplex on ``T``.

    Equality-constrained Newton with a fraction-to-the-boundary step rule and a
    backtracking line search. Returns ``None`` when the iterate runs into the
    boundary of ``T`` (the maximiser over ``T`` is not interior).
    """
    t = list(support)
    sub = lk[:, t]
    if start is None:
        x = np.full(len(t), 1.0 / len(t))
    else:
        x = np.maximum(np.asarray(start, dtype=np.float64)[t], 1e-3 / len(t))
        x = x / x.sum()
    ones = np.ones(len(t))
    for _ in range(iters):
        z = sub @ x
        grad = sub.T @ (rho / z)
        hess = -(sub.T * (rho / z**2)) @ sub
        kkt = np.block([[hess, ones[:, None]], [ones[None, :], np.zeros((1, 1))]])
        rhs = np.concatenate([-grad, [0.0]])
        step = np.linalg.lstsq(kkt, rhs, rcond=None)[0][: len(t)]
        if np.max(np.abs(step)) < 1e-16:
            break
        neg = step < 0
        lr = 1.0
        if np.any(neg):
            lr = min(1.0, 0.99 * float(np.min(-x[neg] / step[neg])))
        f0 = rho @ np.log(z)
        while rho @ np.log(sub @ (x + lr * step)) < f0 - 1e-15 and lr > 1e-14:
            lr *= 0.5
        x = x + lr * step
        x = np.maximum(x, 0.0)
        x = x / x.sum()
        if np.min(x) < 1e-13:
            return None  # the maximiser over T lies on T's boundary
    out = np.zeros(lk.shape[1])
    out[t] = x
    return out


def _fw_gap(lk: np.ndarray, rho: np.ndarray, x: np.ndarray, alpha: float) -> float:
    z = lk @ x
    grad = alpha * (lk.T @ (rho / z))
    return max(float(np.max(grad) - x @ grad), 0.0)


def ba_optimum(
    q: Float[np.ndarray, "K A"], rho: Float[np.ndarray, " K"], alpha: float, *, certify: float = 1e-12
) -> tuple[float, np.ndarray, float]:
    """Optimal value of eq. 10-11, an optimal marginal, and a certificate.

    Maximises the concave dual ``G`` (``ba_dual``) over the simplex: a few
    hundred Blahut-Arimoto steps guess the support, Newton's method on that
    support polishes to machine precision, and if the Frank-Wolfe gap does not
    certify the point every support is tried (the action sets are small).
    Returns ``(F*, pibar*, fw_gap)`` where ``fw_gap`` is the Frank-Wolfe duality
    gap ``max_u dG_u - <pibar*, dG>`` at the returned point: ``G`` is concave, so
    ``F* <= G(pibar*) + fw_gap``, i.e. ``fw_gap`` bounds the error of ``F*``.
    """
    q = np.asarray(q, dtype=np.float64)
    _, a = q.shape
    shift = q.max(axis=1, keepdims=True)
    lk = np.exp((q - shift) / alpha)
    # support guess from plain EM / Blahut-Arimoto in the marginal
    x = np.full(a, 1.0 / a)
    for _ in range(300):
        x = x * (lk.T @ (rho / (lk @ x)))
        x = x / x.sum()
    guess = tuple(int(u) for u in np.flatnonzero(x > 1e-6 * x.max()))
    cand = _newton_on_support(lk, rho, guess, start=x)
    if cand is not None and _fw_gap(lk, rho, cand, alpha) <= certify:
        return ba_dual(q, rho, cand, alpha), cand, _fw_gap(lk, rho, cand, alpha)
    best, best_val = x, ba_dual(q, rho, x, alpha)
    for size in range(1, a + 1):
        for support in combinations(range(a), size):
            cand = _newton_on_support(lk, rho, support, start=x)
            if cand is None:
                continue
            val = ba_dual(q, rho, cand, alpha)
            if val > best_val:
                best, best_val = cand, val
    return best_val, best, _fw_gap(lk, rho, best, alpha)


def fit_power_law(m: np.ndarray, gap: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ``log gap = log C - p log M``; returns ``(p, C)``."""
    x = np.log(np.asarray(m, dtype=np.float64))
    y = np.log(np.asarray(gap, dtype=np.float64))
    slope, intercept = np.polyfit(x, y, 1)
    return float(-slope), float(np.exp(intercept))


def blahut_arimoto_batch(
    q: Float[np.ndarray, "B K A"],
    rho: Float[np.ndarray, "B K"],
    alpha: Float[np.ndarray, " B"],
    pi0: Float[np.ndarray, "B K A"],
    n_iter: int,
) -> Float[np.ndarray, "B M"]:
    """``blahut_arimoto`` for a batch of same-shaped instances; returns ``F(pi^m)``, ``m = 0..n_iter``."""
    a = np.asarray(alpha, dtype=np.float64)[:, None, None]

    def objective(pi: np.ndarray) -> np.ndarray:
        pibar = np.einsum("bk,bka->ba", rho, pi)
        live = (pi > 1e-280) & (pibar[:, None, :] > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where(live, np.log(pi) - np.log(pibar)[:, None, :], 0.0)
            terms = np.where(live, pi * (q - a * lr), 0.0)
        return np.einsum("bk,bk->b", rho, terms.sum(-1))

    pi = np.asarray(pi0, dtype=np.float64)
    out = [objective(pi)]
    for _ in range(n_iter):
        pibar = np.einsum("bk,bka->ba", rho, pi)
        with np.errstate(divide="ignore"):
            logits = np.log(pibar)[:, None, :] + q / a
        pi = np.exp(logits - logsumexp(logits, axis=2, keepdims=True))
        out.append(objective(pi))
    return np.stack(out, axis=1)


def ba_rate_experiment(seed: int = 0, n_instances: int = 400, n_iter: int = 1000) -> dict[str, object]:
    """Measure the convergence rate of Theorem 2's Blahut-Arimoto scheme.

    Draws ``n_instances`` random problems (``K, A`` in ``2..4``, ``Q`` on a grid
    of quarters in ``[-1, 1]``, ``alpha`` in ``{1/4, 1/2, 1, 2}``, Dirichlet
    ``rho``, random ``pi^0``), computes the exact optimum with ``ba_optimum`` and
    the gap ``F* - F(pi^M)`` for ``M = 0..n_iter``. Gaps are normalised by the
    explicit constant of the ``O(1/M)`` bound, ``alpha KL(pibar* || pibar^0)``
    (Cover's bound for this multiplicative update; the theorem's ``O(1/M)``
    with constant), so the bound reads ``M * normalised gap <= 1``.

    Returns the worst-case envelope of the normalised gap over instances, the
    power-law exponents fitted to it (``gap ~ C M^-p``) over the whole range
    and over ``M <= 30``, the largest ``M * normalised gap``, and the median of
    the per-instance exponents fitted where the gap is above ``1e-11``.
    """
    rng = np.random.default_rng(seed)
    m = np.arange(n_iter + 1)
    groups: dict[tuple[int, int], list[tuple[np.ndarray, ...]]] = {}
    for _ in range(n_instances):
        k, a = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        q = rng.integers(-4, 5, size=(k, a)) / 4.0
        alpha = float(rng.choice([0.25, 0.5, 1.0, 2.0]))
        rho = rng.dirichlet(np.ones(k))
        pi0 = np.exp(rng.normal(size=(k, a)))
        pi0 /= pi0.sum(1, keepdims=True)
        groups.setdefault((k, a), []).append((q, rho, np.array(alpha), pi0))
    normalised, raw = [], []
    for items in groups.values():
        q, rho, alpha, pi0 = (np.stack(x) for x in zip(*items, strict=True))
        objs = blahut_arimoto_batch(q, rho, alpha, pi0, n_iter)
        for b in range(q.shape[0]):
            f_star, pbar_star, _ = ba_optimum(q[b], rho[b], float(alpha[b]))
            pbar0 = rho[b] @ pi0[b]
            pos = pbar_star > 0
            kl = float(np.sum(pbar_star[pos] * np.log(pbar_star[pos] / pbar0[pos])))
            gap = np.maximum(f_star - objs[b], 0.0)
            raw.append(gap)
            normalised.append(gap / (float(alpha[b]) * kl) if kl > 0 else np.zeros_like(gap))
    norm = np.stack(normalised)
    env = norm.max(axis=0)
    pts = np.unique(np.logspace(0, np.log10(n_iter), 40).astype(int))
    early = pts[pts <= 30]
    p_all, c_all = fit_power_law(pts, env[pts])
    p_early, c_early = fit_power_law(early, env[early])
    per_instance = []
    for g in raw:
        mask = (m >= 1) & (g > 1e-11)
        if mask.sum() >= 10:
            per_instance.append(fit_power_law(m[mask], g[mask])[0])
    return {
        "n_instances": n_instances,
        "n_iter": n_iter,
        "envelope": env,
        "exponent_all": p_all,
        "constant_all": c_all,
        "exponent_early": p_early,
        "constant_early": c_early,
        "max_m_times_gap": float(np.max(norm[:, 1:] * m[1:])),
        "median_instance_exponent": float(np.median(per_instance)) if per_instance else float("nan"),
        "min_instance_exponent": float(np.min(per_instance)) if per_instance else float("nan"),
    }


if __name__ == "__main__":  # pragma: no cover - the measurement recorded in THEOREMS.md
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    res = ba_rate_experiment(n_instances=n)
    for key, val in res.items():
        if key != "envelope":
            print(f"{key}: {val}")
    env = res["envelope"]
    for mm in (1, 2, 5, 10, 30, 100, 300, 1000):
        if mm < len(env):
            print(f"M={mm:5d}  worst normalised gap={env[mm]:.3e}  M*gap={mm * env[mm]:.3f}")
