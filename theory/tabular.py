"""Exact tabular machinery for cooperative Markov games.

Everything here is plain NumPy in float64. A game has ``S`` states and ``n``
agents; agent ``i`` has ``A_i`` actions. Policies are stored as arrays over the
*joint* action, so one representation covers product (decentralised), chain-rule
(autoregressive) and arbitrary joint policies:

* a joint policy has shape ``[S, A_1, ..., A_n]`` and sums to one over the
  action axes in every state;
* ``product_policy`` builds one from per-agent marginals ``[S, A_i]``;
* ``chain_policy`` builds one from chain-rule factors
  ``pi_i(a_i | s, a_1..a_{i-1})`` of shape ``[S, A_1, ..., A_i]``.

Values are computed exactly with a linear solve of the Bellman equation, so the
property tests in ``tests/theory`` can compare quantities at tolerances around
``1e-9``.

Notation follows MAGPO (paper 001): ``Q^{i_{1:m}}`` is the joint Q averaged over
the agents outside ``i_{1:m}`` (its eq. 7) and ``A^{i_{1:m}}(s, a^{j}, a^{i})``
is the multi-agent advantage of its eq. 6.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Real

__all__ = [
    "Game",
    "boltzmann",
    "chain_policy",
    "conditionals",
    "entropy",
    "evaluate",
    "advantage",
    "format_counterexample",
    "is_product",
    "joint_kl",
    "log_policy",
    "logsumexp",
    "m_projection",
    "marginal_q",
    "marginals",
    "matrix_game",
    "multi_agent_advantage",
    "product_policy",
    "random_game",
    "soft_evaluate",
    "softmax",
    "uniform_policy",
    "value",
]

#: Probabilities below this are treated as zero when a ratio or log is formed.
TINY = 1e-300


# ---------------------------------------------------------------------------
# Games
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Game:
    """A finite cooperative Markov game with a shared reward.

    Attributes:
        reward: ``r(s, a)``, shape ``[S, A_1, ..., A_n]``.
        transition: ``P(s' | s, a)``, shape ``[S, A_1, ..., A_n, S]``; sums to
            one over the last axis.
        gamma: discount factor in ``[0, 1)``.
        rho: initial state distribution, shape ``[S]``.
    """

    reward: Float[np.ndarray, " S *A"]
    transition: Float[np.ndarray, " S *A S"]
    gamma: float | int
    rho: Float[np.ndarray, " S"]

    def __post_init__(self) -> None:
        r = np.asarray(self.reward, dtype=np.float64)
        p = np.asarray(self.transition, dtype=np.float64)
        rho = np.asarray(self.rho, dtype=np.float64)
        object.__setattr__(self, "reward", r)
        object.__setattr__(self, "transition", p)
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "gamma", float(self.gamma))
        if r.ndim < 2:
            raise ValueError(f"reward needs shape [S, A_1, ..., A_n], got {r.shape}")
        if p.shape != r.shape + (r.shape[0],):
            raise ValueError(f"transition shape {p.shape} != reward shape {r.shape} + (S,)")
        if rho.shape != (r.shape[0],):
            raise ValueError(f"rho shape {rho.shape} != ({r.shape[0]},)")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must lie in [0, 1), got {self.gamma}")
        if np.any(p < 0) or not np.allclose(p.sum(-1), 1.0, atol=1e-12):
            raise ValueError("transition rows must be probability vectors")
        if np.any(rho < 0) or not np.isclose(rho.sum(), 1.0, atol=1e-12):
            raise ValueError("rho must be a probability vector")

    @property
    def n_states(self) -> int:
        """Number of states ``S``."""
        return int(self.reward.shape[0])

    @property
    def n_agents(self) -> int:
        """Number of agents ``n``."""
        return self.reward.ndim - 1

    @property
    def n_actions(self) -> tuple[int, ...]:
        """Per-agent action counts ``(A_1, ..., A_n)``."""
        return tuple(int(k) for k in self.reward.shape[1:])

    @property
    def joint_shape(self) -> tuple[int, ...]:
        """Shape of a joint policy / Q table: ``(S, A_1, ..., A_n)``."""
        return tuple(int(k) for k in self.reward.shape)

    @property
    def action_axes(self) -> tuple[int, ...]:
        """Axes of a ``[S, A_1..A_n]`` array that index agents' actions."""
        return tuple(range(1, self.n_agents + 1))


def matrix_game(payoff: Real[np.ndarray, " *A"]) -> Game:
    """A one-shot game: one state, ``gamma = 0``, a self-loop transition.

    ``payoff[a_1, ..., a_n]`` is the shared reward; ``payoff`` may be a nested
    list. Values of a policy in this game are just its expected payoff.
    """
    pay = np.asarray(payoff, dtype=np.float64)
    reward = pay[None]
    transition = np.ones(reward.shape + (1,))
    return Game(reward=reward, transition=transition, gamma=0.0, rho=np.ones(1))


def random_game(
    rng: np.random.Generator,
    n_agents: int,
    n_actions: int | Sequence[int],
    n_states: int,
    gamma: float | int,
) -> Game:
    """A random game: rewards ``U[-1, 1]``, transitions and ``rho`` Dirichlet(1)."""
    acts = (n_actions,) * n_agents if isinstance(n_actions, int) else tuple(n_actions)
    if len(acts) != n_agents:
        raise ValueError("n_actions must have one entry per agent")
    shape = (n_states,) + acts
    reward = rng.uniform(-1.0, 1.0, size=shape)
    transition = rng.dirichlet(np.ones(n_states), size=shape)
    rho = rng.dirichlet(np.ones(n_states))
    return Game(reward=reward, transition=transition, gamma=gamma, rho=rho)


# ---------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------


def logsumexp(
    x: Float[np.ndarray, " ..."], axis: int | tuple[int, ...] | None = -1, keepdims: bool = False
) -> Float[np.ndarray, " ..."]:
    """``log sum exp(x)`` over ``axis`` (``None``: all axes), stable for ``-inf`` entries (plain NumPy;
    scipy's version carries array-API overhead that dominates on tiny arrays)."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(logits: Float[np.ndarray, " ..."], axis: int | tuple[int, ...] = -1) -> Float[np.ndarray, " ..."]:
    """Numerically stable softmax over ``axis`` (one axis or several)."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def boltzmann(
    q: Float[np.ndarray, " ..."], alpha: float | int, axis: int | tuple[int, ...] = -1
) -> Float[np.ndarray, " ..."]:
    """Boltzmann policy ``exp(q / alpha) / Z`` over ``axis``.

    With ``axis`` set to all action axes this is the soft-optimal joint policy
    of maximum-entropy RL (MACPF eq. 5 with ``pi_jt = exp((Q_jt - V_jt)/alpha)``).
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return softmax(np.asarray(q, dtype=np.float64) / alpha, axis=axis)


def _check_joint(joint: np.ndarray, n_agents: int | None = None) -> np.ndarray:
    pi = np.asarray(joint, dtype=np.float64)
    if n_agents is not None and pi.ndim != n_agents + 1:
        raise ValueError(f"joint policy needs {n_agents + 1} axes, got shape {pi.shape}")
    return pi


def uniform_policy(game: Game) -> Float[np.ndarray, " S *A"]:
    """The uniform joint policy (a product policy)."""
    return np.full(game.joint_shape, 1.0 / np.prod(game.n_actions))


def product_policy(marginals: Sequence[Float[np.ndarray, " S _"]]) -> Float[np.ndarray, " S *A"]:
    """Joint policy ``pi(a|s) = prod_i pi_i(a_i|s)`` from marginals ``[S, A_i]``."""
    margs = [np.asarray(m, dtype=np.float64) for m in marginals]
    n = len(margs)
    out = np.ones((margs[0].shape[0],) + (1,) * n)
    for i, m in enumerate(margs):
        shape = [m.shape[0]] + [1] * n
        shape[i + 1] = m.shape[1]
        out = out * m.reshape(shape)
    return out


def chain_policy(conditionals: Sequence[Float[np.ndarray, " S ..."]]) -> Float[np.ndarray, " S *A"]:
    """Joint policy from chain-rule factors (autoregressive in agent order).

    ``conditionals[i]`` has shape ``[S, A_1, ..., A_i]`` and holds
    ``pi_i(a_i | s, a_1, ..., a_{i-1})`` (normalised over its last axis). The
    result is ``prod_i pi_i(a_i | s, a_{<i})``, the factorisation MAGPO's guider
    and MACPF's dependent policy use.
    """
    conds = [np.asarray(c, dtype=np.float64) for c in conditionals]
    n = len(conds)
    out = np.ones((conds[0].shape[0],) + (1,) * n)
    for i, c in enumerate(conds):
        if c.ndim != i + 2:
            raise ValueError(f"conditional {i} needs {i + 2} axes, got shape {c.shape}")
        out = out * c.reshape(c.shape + (1,) * (n - i - 1))
    return out


def marginals(joint: Float[np.ndarray, " S *A"]) -> list[Float[np.ndarray, " S _"]]:
    """Per-agent marginals ``pi_i(a_i | s)``, each ``[S, A_i]``."""
    pi = _check_joint(joint)
    n = pi.ndim - 1
    axes = tuple(range(1, n + 1))
    return [pi.sum(axis=tuple(a for a in axes if a != i + 1)) for i in range(n)]


def _safe_divide(num: np.ndarray, den: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
    den_b = np.broadcast_to(den, num.shape)
    out = np.empty(num.shape)
    ok = den_b > TINY
    np.divide(num, den_b, out=out, where=ok)
    fill_b = np.broadcast_to(fill, num.shape)
    out[~ok] = fill_b[~ok]
    return out


def conditionals(
    joint: Float[np.ndarray, " S *A"], order: Sequence[int] | None = None
) -> list[Float[np.ndarray, " S ..."]]:
    """Chain-rule factors of a joint policy for an agent ``order``.

    Returns ``c[j] = pi(a_{o_j} | s, a_{o_1}, ..., a_{o_{j-1}})`` with shape
    ``[S, A_{o_1}, ..., A_{o_j}]`` (axes in the order's order). Where the prefix
    has probability zero the conditional is undefined; it is filled with the
    uniform distribution so that every factor stays normalised. For the
    identity order, ``chain_policy(conditionals(pi)) == pi``.
    """
    pi = _check_joint(joint)
    n = pi.ndim - 1
    order = list(range(n)) if order is None else list(order)
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order}")
    p = np.transpose(pi, [0] + [o + 1 for o in order])
    out = []
    for j in range(n):
        # prefix marginal over the first j+1 ordered agents
        upto = p.sum(axis=tuple(range(j + 2, n + 1))) if j + 1 < n else p
        prev = upto.sum(axis=-1, keepdims=True)
        out.append(_safe_divide(upto, prev, 1.0 / upto.shape[-1]))
    return out


def is_product(joint: Float[np.ndarray, " S *A"], atol: float = 1e-10) -> bool:
    """Whether ``joint`` equals the product of its own marginals."""
    return bool(np.allclose(joint, product_policy(marginals(joint)), atol=atol, rtol=0))


def m_projection(joint: Float[np.ndarray, " S *A"]) -> Float[np.ndarray, " S *A"]:
    """``argmin_{pi product} KL(joint || pi)``: the product of ``joint``'s marginals.

    This is the moment projection ("distil the teacher into independent
    students by forward KL"), the CTDS student of MAGPO section 3.
    """
    return product_policy(marginals(joint))


def log_policy(joint: Float[np.ndarray, " ..."]) -> Float[np.ndarray, " ..."]:
    """``log pi`` with ``log 0 = -inf`` and no warnings."""
    pi = np.asarray(joint, dtype=np.float64)
    out = np.full(pi.shape, -np.inf)
    np.log(pi, out=out, where=pi > 0)
    return out


def entropy(joint: Float[np.ndarray, " S *A"]) -> Float[np.ndarray, " S"]:
    """Per-state Shannon entropy of a joint policy (``0 log 0 = 0``)."""
    pi = _check_joint(joint)
    axes = tuple(range(1, pi.ndim))
    with np.errstate(invalid="ignore"):
        return -np.sum(np.where(pi > 0, pi * log_policy(pi), 0.0), axis=axes)


def joint_kl(p: Float[np.ndarray, " S *A"], q: Float[np.ndarray, " S *A"]) -> Float[np.ndarray, " S"]:
    """Per-state ``KL(p(.|s) || q(.|s))`` over the joint action (``+inf`` if ``p`` not << ``q``)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    axes = tuple(range(1, p.ndim))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (log_policy(p) - log_policy(q)), 0.0)
    return np.sum(terms, axis=axes)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def _policy_expectation(game: Game, joint: np.ndarray, table: np.ndarray) -> np.ndarray:
    return np.sum(joint * table, axis=game.action_axes)


def _solve(game: Game, joint: np.ndarray, r_pi: np.ndarray) -> np.ndarray:
    n = game.n_agents
    # P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a)
    p_pi = np.sum(joint[..., None] * game.transition, axis=tuple(range(1, n + 1)))
    return np.linalg.solve(np.eye(game.n_states) - game.gamma * p_pi, r_pi)


def evaluate(
    game: Game, joint: Float[np.ndarray, " S *A"]
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, " S *A"]]:
    """Exact ``(V^pi, Q^pi)`` by solving ``(I - gamma P_pi) V = r_pi``.

    ``Q(s, a) = r(s, a) + gamma sum_s' P(s'|s,a) V(s')`` and
    ``V(s) = E_{a~pi}[Q(s, a)]`` (MAGPO eq. 1 for ``V_rho``).
    """
    pi = _check_joint(joint, game.n_agents)
    v = _solve(game, pi, _policy_expectation(game, pi, game.reward))
    q = game.reward + game.gamma * game.transition @ v
    return v, q


def soft_evaluate(
    game: Game, joint: Float[np.ndarray, " S *A"], alpha: float | int
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, " S *A"]]:
    """Entropy-regularised ``(V, Q)`` of a joint policy at temperature ``alpha``.

    Soft policy evaluation (Haarnoja et al., as used by FOP and MACPF):
    ``Q(s,a) = r(s,a) + gamma E_{s'}[V(s')]`` and
    ``V(s) = E_{a~pi}[Q(s,a) - alpha log pi(a|s)]``. The entropy is that of the
    *joint* policy. With ``alpha = 0`` this is ``evaluate``.
    """
    pi = _check_joint(joint, game.n_agents)
    r_pi = _policy_expectation(game, pi, game.reward) + alpha * entropy(pi)
    v = _solve(game, pi, r_pi)
    q = game.reward + game.gamma * game.transition @ v
    return v, q


def value(game: Game, joint: Float[np.ndarray, " S *A"], alpha: float | int = 0.0) -> float:
    """``V_rho(pi) = rho . V^pi`` (MAGPO eq. 1); soft value if ``alpha > 0``."""
    v, _ = soft_evaluate(game, joint, alpha) if alpha else evaluate(game, joint)
    return float(game.rho @ v)


def advantage(game: Game, joint: Float[np.ndarray, " S *A"]) -> Float[np.ndarray, " S *A"]:
    """Joint advantage ``A^pi(s, a) = Q^pi(s, a) - V^pi(s)``."""
    v, q = evaluate(game, joint)
    return q - v.reshape((-1,) + (1,) * game.n_agents)


def marginal_q(
    game: Game,
    joint: Float[np.ndarray, " S *A"],
    agents: Sequence[int],
    *,
    others: str = "marginal",
) -> Float[np.ndarray, " S ..."]:
    """Subset value ``Q^{i_{1:m}}(s, a^{i_{1:m}})`` of MAGPO eq. 7.

    The joint ``Q^pi`` averaged over the actions of the agents *not* in
    ``agents``. The result has shape ``[S, A_{i_1}, ..., A_{i_m}]`` with the
    axes in the order given by ``agents``. ``agents = []`` gives ``V^pi``.

    ``others`` says how the remaining agents' actions are drawn:

    * ``"marginal"`` (eq. 7 literally): ``a^{-i} ~ pi^{-i}(. | s)``, the joint
      marginal of the other agents;
    * ``"conditional"``: ``a^{-i} ~ pi(. | s, a^{i})``, i.e. ``E[Q | s, a^i]``;
      undefined where ``pi(a^i|s) = 0`` (filled with the ``"marginal"`` value);
    * ``"uniform"``: a deliberately wrong average (uniform over the others'
      actions), kept only for the mutation tests.

    The first two agree for product policies, the case Lemma 1 is stated for.
    """
    agents = list(agents)
    n = game.n_agents
    if len(set(agents)) != len(agents) or any(not 0 <= i < n for i in agents):
        raise ValueError(f"agents must be distinct indices in 0..{n - 1}, got {agents}")
    pi = _check_joint(joint, n)
    _, q = evaluate(game, pi)
    rest = [i for i in range(n) if i not in agents]
    rest_axes = tuple(i + 1 for i in rest)
    # weights over the others' actions, broadcast against the full joint shape
    w_marg = pi.sum(axis=tuple(i + 1 for i in agents), keepdims=True)
    out = np.sum(w_marg * q, axis=rest_axes)
    if others == "conditional":
        p_sub = pi.sum(axis=rest_axes, keepdims=True)
        cond = _safe_divide(pi, p_sub, 0.0)
        has = np.squeeze(p_sub, axis=rest_axes) > TINY
        cond_val = np.sum(cond * q, axis=rest_axes)
        out = np.where(has, cond_val, out)
    elif others == "uniform":
        out = np.mean(q, axis=rest_axes) if rest_axes else q
    elif others != "marginal":
        raise ValueError(f"others must be 'marginal', 'conditional' or 'uniform', got {others!r}")
    # the remaining axes are in increasing agent order; reorder to `agents`
    sorted_agents = sorted(agents)
    perm = [0] + [1 + sorted_agents.index(i) for i in agents]
    return np.transpose(out, perm)


def multi_agent_advantage(
    game: Game,
    joint: Float[np.ndarray, " S *A"],
    agents_j: Sequence[int],
    agents_i: Sequence[int],
    *,
    others: str = "marginal",
) -> Float[np.ndarray, " S ..."]:
    """Multi-agent advantage ``A^{i_{1:h}}(s, a^{j_{1:k}}, a^{i_{1:h}})`` (MAGPO eq. 6).

    ``Q^{j, i}(s, a^j, a^i) - Q^j(s, a^j)`` for disjoint agent lists
    ``agents_j`` and ``agents_i``. Shape ``[S, A_{j_1}, ..., A_{j_k},
    A_{i_1}, ..., A_{i_h}]``. With ``agents_j = []`` it is
    ``Q^{i}(s, a^i) - V(s)``.
    """
    agents_j, agents_i = list(agents_j), list(agents_i)
    if set(agents_j) & set(agents_i):
        raise ValueError("agents_j and agents_i must be disjoint")
    q_ji = marginal_q(game, joint, agents_j + agents_i, others=others)
    q_j = marginal_q(game, joint, agents_j, others=others)
    return q_ji - q_j.reshape(q_j.shape + (1,) * len(agents_i))


# ---------------------------------------------------------------------------
# Pretty printing
# ---------------------------------------------------------------------------


def _fmt_array(x: np.ndarray, indent: str = "    ") -> str:
    body = np.array2string(np.asarray(x), precision=6, suppress_small=True, max_line_width=120, threshold=400)
    return "\n".join(indent + line for line in body.splitlines())


def format_counterexample(game: Game, **items: object) -> str:
    """Render a game and named policies / values as a readable block.

    Prints the game's size, ``gamma``, ``rho``, the reward table per state
    (rows = agent 0's action) and, for games with more than one state, the
    transition kernel; then every keyword item. Policies (arrays with the joint
    shape) are printed per state together with their exact value ``V_rho``.
    """
    lines = [
        f"Game: {game.n_agents} agents, actions {game.n_actions}, {game.n_states} state(s), gamma={game.gamma:.6g}",
        f"  rho = {np.array2string(game.rho, precision=6)}",
    ]
    for s in range(game.n_states):
        lines.append(f"  reward[s={s}] (axis k = agent k's action):")
        lines.append(_fmt_array(game.reward[s]))
    if game.n_states > 1:
        lines.append("  transition P(s'|s,a), shape " + str(game.transition.shape) + ":")
        lines.append(_fmt_array(game.transition))
    for name, item in items.items():
        if isinstance(item, np.ndarray) and item.shape == game.joint_shape:
            try:
                v = value(game, item)
                lines.append(f"  {name}: joint array, V_rho = {v:.10g}")
            except (np.linalg.LinAlgError, ValueError):
                lines.append(f"  {name}: joint array")
            for s in range(game.n_states):
                lines.append(f"    [s={s}]")
                lines.append(_fmt_array(item[s], indent="      "))
        elif isinstance(item, np.ndarray):
            lines.append(f"  {name}: shape {item.shape}")
            lines.append(_fmt_array(item))
        elif isinstance(item, (list, tuple)) and item and all(isinstance(a, np.ndarray) for a in item):
            lines.append(f"  {name}:")
            for k, a in enumerate(item):
                lines.append(f"    [{k}] shape {a.shape}")
                lines.append(_fmt_array(a, indent="      "))
        else:
            lines.append(f"  {name} = {item!r}")
    return "\n".join(lines)
