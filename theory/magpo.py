"""Exact tabular MAGPO (Multi-Agent Guided Policy Optimization, paper 001).

One MAGPO iteration (section 4.1) on a cooperative Markov game:

1. data collection with the guider ``mu_k`` (nothing to do when values are
   exact);
2. guider update by policy mirror descent, closed form eq. 18:
   ``mu_hat(a|s) ∝ mu_k(a|s) exp(eta Q^{mu_k}(s, a))``;
3. learner update: a product policy ``pi_{k+1}`` that does not increase
   ``KL(pi || mu_hat)`` in any state (eq. 19–20);
4. guider backtracking: ``mu_{k+1} = pi_{k+1}``.

The learner projection is offered in several forms, so the tests can check
which of them keep Theorem 4.1's guarantee:

* ``"mean_field"``: Gauss–Seidel coordinate descent on ``KL(pi || mu_hat)``;
  each agent's step is the exact minimiser over its own marginal with the
  others fixed, ``pi_i ∝ exp(E_{a_-i ~ pi_-i}[log mu_hat])``, so the KL never
  increases (any number of sweeps, including a partial one);
* ``"parallel"``: the same closed-form step for every agent at once, each
  against the *old* learner (a Jacobi step; what "simultaneous" updates do);
* ``"gradient"``: plain gradient descent on the per-agent logits;
* ``"m_projection"``: the product of ``mu_hat``'s marginals, i.e. the
  minimiser of the *forward* ``KL(mu_hat || pi)`` (the loss direction used by
  the released implementation and by CTDS distillation).

The module also provides the sum game of section 3 and the δ-constrained
guider (the guider's per-agent conditionals kept within ratio ``[1/δ, δ]`` of
the learner's marginals, the tabular form of the double clip of eq. 9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float

from theory.tabular import (
    Game,
    evaluate,
    joint_kl,
    log_policy,
    logsumexp,
    marginals,
    matrix_game,
    multi_agent_advantage,
    product_policy,
    softmax,
    value,
)

__all__ = [
    "LEARNER_UPDATES",
    "MagpoStep",
    "delta_guider",
    "expected_log_target",
    "gradient_projection",
    "guider_conditionals",
    "guider_update",
    "learner_update",
    "magpo_run",
    "magpo_step",
    "mean_field_projection",
    "sequential_update",
    "sum_game",
    "sum_game_teacher",
]

LEARNER_UPDATES = ("mean_field", "parallel", "gradient", "m_projection")


# ---------------------------------------------------------------------------
# Guider (step 2)
# ---------------------------------------------------------------------------


def guider_update(
    game: Game,
    base: Float[np.ndarray, " S *A"],
    eta: float | int,
    *,
    q_policy: Float[np.ndarray, " S *A"] | None = None,
) -> Float[np.ndarray, " S *A"]:
    """PMD guider ``mu_hat ∝ base · exp(eta Q^{q_policy})`` per state (MAGPO eq. 17–18).

    ``q_policy`` defaults to ``base``: the guider is improved against its own
    Q-function. With backtracking, ``base`` is the learner ``pi_k``. A negative
    ``eta`` gives the sign-flipped mutation used by the mutation tests.
    """
    _, q = evaluate(game, base if q_policy is None else q_policy)
    logits = log_policy(base) + eta * q
    return softmax(logits, axis=game.action_axes)


def guider_conditionals(
    game: Game,
    learner: Float[np.ndarray, " S *A"],
    eta: float | int,
    order: Sequence[int] | None = None,
    *,
    others: str = "marginal",
    condition_on_prefix: bool = True,
) -> list[Float[np.ndarray, " S ..."]]:
    """Per-agent guider conditionals of MAGPO eq. 26 (Corollary 4.2 / eq. 25).

    ``mu_hat^{i_j}(a^{i_j}|s, a^{i_{1:j-1}}) = pi^{i_j}(a^{i_j}|s)
    exp(eta A^{i_j}(s, a^{i_{1:j-1}}, a^{i_j})) / z``, with the multi-agent
    advantage of eq. 6 evaluated under the (product) learner. Factor ``j`` has
    shape ``[S, A_{i_1}, ..., A_{i_j}]``.

    Eq. 25 claims their chain product is the eq. 18 guider. It is not in
    general (THEOREMS.md, claim 3): only the last factor is exact, and the gap
    is O(eta^2). The exact conditionals are
    ``conditionals(guider_update(game, learner, eta), order)``.

    ``condition_on_prefix=False`` is a mutation: it uses the single-agent
    advantage ``A^{i_j}(s, a^{i_j})`` (no conditioning on earlier agents),
    i.e. independent per-agent guiders, which do not multiply to eq. 18.
    """
    n = game.n_agents
    order = list(range(n)) if order is None else list(order)
    margs = marginals(learner)
    out = []
    for j, agent in enumerate(order):
        if condition_on_prefix:
            adv = multi_agent_advantage(game, learner, order[:j], [agent], others=others)
        else:
            adv = multi_agent_advantage(game, learner, [], [agent], others=others)
            adv = adv.reshape((game.n_states,) + (1,) * j + (game.n_actions[agent],))
        prior = margs[agent].reshape((game.n_states,) + (1,) * j + (game.n_actions[agent],))
        out.append(softmax(log_policy(prior) + eta * adv, axis=-1))
    return out


def _box_kl_step(w: np.ndarray, p: np.ndarray, delta: float | int, iters: int = 200) -> np.ndarray:
    """Solve ``max_q <q, w> - KL(q||p)`` s.t. ``p/δ <= q <= δ p``, ``sum q = 1`` (last axis).

    KKT: ``q = clip(p exp(w - λ), p/δ, δ p)`` with ``λ`` set by bisection so
    that ``q`` sums to one (the sum is decreasing in ``λ``).
    """
    logd = np.log(delta)
    lo = np.min(w, axis=-1, keepdims=True) - logd - 1.0
    hi = np.max(w, axis=-1, keepdims=True) + logd + 1.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        q = np.clip(p * np.exp(w - mid), p / delta, p * delta)
        too_big = q.sum(-1, keepdims=True) > 1.0
        lo = np.where(too_big, mid, lo)
        hi = np.where(too_big, hi, mid)
    q = np.clip(p * np.exp(w - 0.5 * (lo + hi)), p / delta, p * delta)
    return q / q.sum(-1, keepdims=True)


def delta_guider(
    game: Game,
    learner: Float[np.ndarray, " S *A"],
    eta: float | int,
    delta: float | int,
    order: Sequence[int] | None = None,
) -> list[Float[np.ndarray, " S ..."]]:
    """δ-constrained PMD guider around a product learner (tabular MAGPO double clip).

    Solves eq. 3 with ``mu_k = pi_k`` (backtracking) restricted to guiders whose
    autoregressive conditionals satisfy, for every agent ``i_j``, prefix and
    action, ``1/δ <= mu^{i_j}(a|s, a^{i_{1:j-1}}) / pi^{i_j}(a|s) <= δ`` (the
    ratio the double clip of eq. 9 keeps in ``[1/δ, δ]``). Because both the
    objective ``eta <Q, mu> - KL(mu || pi)`` and the constraint split over the
    chain, the optimum is found exactly by backward induction over the agent
    order, solving one box-constrained KL problem per prefix. Returns chain
    conditionals in ``order`` (axes ordered by ``order``). ``delta = inf``
    recovers eq. 18.
    """
    n = game.n_agents
    order = list(range(n)) if order is None else list(order)
    margs = marginals(learner)
    _, q = evaluate(game, learner)
    w = eta * np.transpose(q, [0] + [o + 1 for o in order])
    conds: list[np.ndarray] = [np.empty(0)] * n
    for j in range(n - 1, -1, -1):
        p = margs[order[j]].reshape((game.n_states,) + (1,) * j + (game.n_actions[order[j]],))
        p = np.broadcast_to(p, w.shape)
        if np.isinf(delta):
            qj = softmax(np.log(p) + w, axis=-1)
        else:
            qj = _box_kl_step(w, p, delta)
        conds[j] = qj
        w = np.sum(qj * (w - np.log(qj) + np.log(p)), axis=-1)
    return conds


# ---------------------------------------------------------------------------
# Learner (step 3)
# ---------------------------------------------------------------------------


def expected_log_target(
    log_target: Float[np.ndarray, " S *A"], margs: Sequence[np.ndarray], agent: int
) -> Float[np.ndarray, " S _"]:
    """``E_{a_-i ~ prod_{j≠i} pi_j}[log target(s, a)]`` as a function of ``(s, a_i)``.

    ``-inf`` entries of ``log_target`` only count where they have positive
    weight (``0 · log 0 = 0``).
    """
    n = len(margs)
    weight = np.ones((margs[0].shape[0],) + (1,) * n)
    for j, m in enumerate(margs):
        if j == agent:
            continue
        shape = [m.shape[0]] + [1] * n
        shape[j + 1] = m.shape[1]
        weight = weight * m.reshape(shape)
    weight = np.broadcast_to(weight, log_target.shape)
    terms = np.where(weight > 0, weight * np.where(np.isfinite(log_target), log_target, 0.0), 0.0)
    terms = np.where((weight > 0) & ~np.isfinite(log_target), -np.inf, terms)
    axes = tuple(j + 1 for j in range(n) if j != agent)
    return np.sum(terms, axis=axes)


def mean_field_projection(
    target: Float[np.ndarray, " S *A"],
    init: Sequence[Float[np.ndarray, " S _"]],
    *,
    sweeps: float | int = 50,
    order: Sequence[int] | None = None,
    parallel: bool = False,
    tol: float | int = 0.0,
    log_target: Float[np.ndarray, " S *A"] | None = None,
) -> list[Float[np.ndarray, " S _"]]:
    """Coordinate descent on ``KL(prod_i pi_i || target)`` over product policies.

    Each agent's update ``pi_i ∝ exp(E_{pi_-i}[log target])`` is the exact
    minimiser over ``pi_i`` with the others fixed, so with ``parallel=False``
    (Gauss–Seidel) the KL is non-increasing after every single agent update.
    ``sweeps`` may be fractional: ``1.5`` means one full pass then half of the
    agents. ``parallel=True`` updates every agent against the previous iterate
    (Jacobi), which carries no such guarantee. With ``tol > 0`` the loop stops
    early once a full sweep changes no probability by more than ``tol``.
    ``log_target`` (if given) replaces ``log(target)``, for targets that
    underflow in probability space.
    """
    margs = [np.asarray(m, dtype=np.float64).copy() for m in init]
    n = len(margs)
    order = list(range(n)) if order is None else list(order)
    logt = log_policy(target) if log_target is None else np.asarray(log_target, dtype=np.float64)
    n_updates = int(round(sweeps * n))
    change = 0.0
    if parallel:
        for _ in range(int(np.ceil(sweeps))):
            new = [softmax(expected_log_target(logt, margs, i), axis=-1) for i in range(n)]
            margs = new
        return margs
    for u in range(n_updates):
        i = order[u % n]
        e = expected_log_target(logt, margs, i)
        if np.any(np.all(np.isneginf(e), axis=-1)):
            raise ValueError(f"mean-field step undefined: target has no support for agent {i}")
        new_i = softmax(e, axis=-1)
        step_change = float(np.max(np.abs(new_i - margs[i])))
        change = step_change if u % n == 0 else max(change, step_change)
        margs[i] = new_i
        if tol > 0 and u % n == n - 1 and change <= tol:
            break
    return margs


def gradient_projection(
    target: Float[np.ndarray, " S *A"],
    init: Sequence[Float[np.ndarray, " S _"]],
    *,
    steps: int = 5,
    lr: float | int = 0.5,
    line_search: bool = False,
) -> list[Float[np.ndarray, " S _"]]:
    """Gradient descent on per-agent logits for ``KL(prod_i pi_i || target)``.

    With ``pi_i = softmax(theta_i)``, ``dKL/dtheta_i(b) = pi_i(b) (h(b) -
    E_{pi_i} h)`` where ``h(a_i) = log pi_i(a_i) - E_{pi_-i}[log target](a_i)``.
    All agents step simultaneously with learning rate ``lr``. With
    ``line_search=True`` the step is halved separately in every state (up to
    40 times, then skipped) until that state's KL does not increase, which
    makes the update KL-non-increasing as Theorem 4.1 needs. ``target`` must be
    strictly positive.
    """
    logt = log_policy(target)
    if not np.all(np.isfinite(logt)):
        raise ValueError("gradient projection needs a strictly positive target")

    def normalise(ths: list[np.ndarray]) -> list[np.ndarray]:
        return [th - logsumexp(th, axis=-1, keepdims=True) for th in ths]

    def kl_of(ths: list[np.ndarray]) -> np.ndarray:
        return joint_kl(product_policy([np.exp(th) for th in ths]), target)

    logits = normalise([log_policy(np.asarray(m, dtype=np.float64)) for m in init])
    n_states = logits[0].shape[0]
    for _ in range(steps):
        margs = [np.exp(th) for th in logits]
        grads = []
        for i, m in enumerate(margs):
            h = logits[i] - expected_log_target(logt, margs, i)
            grads.append(m * (h - np.sum(m * h, axis=-1, keepdims=True)))
        if not line_search:
            logits = normalise([th - lr * g for th, g in zip(logits, grads, strict=True)])
            continue
        kl_old = kl_of(logits)
        step = np.full((n_states, 1), lr)
        accepted = np.zeros(n_states, dtype=bool)
        new = logits
        for _ in range(41):
            cand = normalise([th - step * g for th, g in zip(logits, grads, strict=True)])
            ok = (kl_of(cand) <= kl_old) & ~accepted
            new = [np.where(ok[:, None], c, nw) for c, nw in zip(cand, new, strict=True)]
            accepted |= ok
            if accepted.all():
                break
            step = np.where(accepted[:, None], step, 0.5 * step)
        logits = new
    return [np.exp(th) for th in logits]


def learner_update(
    target: Float[np.ndarray, " S *A"],
    init: Sequence[Float[np.ndarray, " S _"]],
    method: str = "mean_field",
    *,
    sweeps: float | int = 50,
    steps: int = 5,
    lr: float | int = 0.5,
    line_search: bool = False,
) -> list[Float[np.ndarray, " S _"]]:
    """Project the guider onto product policies with one of ``LEARNER_UPDATES``."""
    if method == "mean_field":
        return mean_field_projection(target, init, sweeps=sweeps, tol=1e-13)
    if method == "parallel":
        return mean_field_projection(target, init, sweeps=sweeps, parallel=True)
    if method == "gradient":
        return gradient_projection(target, init, steps=steps, lr=lr, line_search=line_search)
    if method == "m_projection":
        return marginals(target)
    raise ValueError(f"unknown learner update {method!r}; choose from {LEARNER_UPDATES}")


def sequential_update(
    game: Game,
    learner: Float[np.ndarray, " S *A"],
    eta: float | int,
    order: Sequence[int] | None = None,
) -> list[Float[np.ndarray, " S _"]]:
    """The sequential per-agent update of MAGPO Corollary 4.2 (eq. 8 / eq. 28).

    For ``j = 1..n`` in ``order``:
    ``pi_{k+1}^{i_j} = argmax_{pi} E_{a^{i_{1:j-1}} ~ pi_{k+1}, a^{i_j} ~ pi}
    [A^{i_j}(s, a^{i_{1:j-1}}, a^{i_j})] - KL(pi || pi_k^{i_j}) / eta``, whose
    closed form is ``pi_k^{i_j} exp(eta E_{prefix}[A^{i_j}]) / z``. The
    advantages are those of the product learner ``pi_k`` (eq. 6). Returns the
    new marginals (indexed by agent, not by order).
    """
    n = game.n_agents
    order = list(range(n)) if order is None else list(order)
    old = marginals(learner)
    new: list[np.ndarray] = [np.empty(0)] * n
    for j, agent in enumerate(order):
        e = multi_agent_advantage(game, learner, order[:j], [agent])
        for prev in order[:j]:  # average the prefix out under the *new* marginals
            m = new[prev]
            e = np.sum(e * m.reshape(m.shape + (1,) * (e.ndim - 2)), axis=1)
        new[agent] = softmax(log_policy(old[agent]) + eta * e, axis=-1)
    return new


# ---------------------------------------------------------------------------
# The four-step iteration
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MagpoStep:
    """Result of one MAGPO iteration.

    Attributes:
        guider_hat: ``mu_hat_k``, the PMD-updated guider (joint policy).
        learner: ``pi_{k+1}`` as a joint (product) policy.
        learner_marginals: its per-agent marginals.
        next_guider: ``mu_{k+1}`` (``= pi_{k+1}`` with backtracking).
        kl_before: per-state ``KL(pi_k || mu_hat_k)``.
        kl_after: per-state ``KL(pi_{k+1} || mu_hat_k)``.
    """

    guider_hat: np.ndarray
    learner: np.ndarray
    learner_marginals: list[np.ndarray]
    next_guider: np.ndarray
    kl_before: np.ndarray
    kl_after: np.ndarray


def magpo_step(
    game: Game,
    learner_marginals: Sequence[Float[np.ndarray, " S _"]],
    eta: float | int,
    *,
    guider: Float[np.ndarray, " S *A"] | None = None,
    method: str = "mean_field",
    backtrack: bool = True,
    sweeps: float | int = 50,
    steps: int = 5,
    lr: float | int = 0.5,
    line_search: bool = False,
) -> MagpoStep:
    """One exact MAGPO iteration (section 4.1, Theorem 4.1).

    ``guider`` is ``mu_k``; ``None`` means it was backtracked to the learner
    (``mu_k = pi_k``), as in the paper. ``backtrack=False`` is a mutation: the
    next guider keeps ``mu_hat_k`` instead of resetting to ``pi_{k+1}``.
    A negative ``eta`` is the sign-flip mutation.
    """
    pi_k = product_policy(learner_marginals)
    mu_k = pi_k if guider is None else guider
    mu_hat = guider_update(game, mu_k, eta)
    new_margs = learner_update(
        mu_hat, learner_marginals, method, sweeps=sweeps, steps=steps, lr=lr, line_search=line_search
    )
    pi_next = product_policy(new_margs)
    return MagpoStep(
        guider_hat=mu_hat,
        learner=pi_next,
        learner_marginals=new_margs,
        next_guider=pi_next if backtrack else mu_hat,
        kl_before=joint_kl(pi_k, mu_hat),
        kl_after=joint_kl(pi_next, mu_hat),
    )


def magpo_run(
    game: Game,
    init_marginals: Sequence[Float[np.ndarray, " S _"]],
    eta: float | int,
    iterations: int,
    **kwargs: object,
) -> tuple[list[float], list[MagpoStep]]:
    """Iterate ``magpo_step``; returns learner values ``V_rho(pi_0..pi_K)`` and the steps."""
    margs = list(init_marginals)
    guider = None
    values = [value(game, product_policy(margs))]
    steps = []
    for _ in range(iterations):
        step = magpo_step(game, margs, eta, guider=guider, **kwargs)  # type: ignore[arg-type]
        steps.append(step)
        margs = step.learner_marginals
        guider = step.next_guider
        values.append(value(game, step.learner))
    return values, steps


# ---------------------------------------------------------------------------
# Section 3: the three-agent sum game
# ---------------------------------------------------------------------------


def sum_game(n_agents: int = 3, n_values: int = 8, target: int = 10) -> Game:
    """One-shot game: agent ``i`` picks an integer in ``0..n_values-1``;
    the shared reward is 1 if the integers sum to ``target`` and 0 otherwise."""
    grids = np.meshgrid(*[np.arange(n_values)] * n_agents, indexing="ij")
    total = sum(grids)
    return matrix_game((total == target).astype(np.float64))


def sum_game_teacher(game: Game, p: float = 0.5, target: int = 10) -> np.ndarray:
    """The stochastic CTCE teacher of MAGPO section 3 (three agents).

    Agent 0 plays 3 with probability ``p`` and 4 otherwise, agent 1 always
    plays 3, and agent 2, seeing both, plays ``target - a_0 - a_1`` (so 4 or 3).
    Returned as a joint policy ``[1, A, A, A]``.
    """
    if game.n_agents != 3:
        raise ValueError("the section-3 teacher is defined for three agents")
    joint = np.zeros(game.joint_shape)
    for a0, w in ((3, p), (4, 1.0 - p)):
        a2 = target - a0 - 3
        joint[0, a0, 3, a2] += w
    return joint
