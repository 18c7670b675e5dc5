"""Property tests for AgentMixer (paper 000): Individual-Global-Consistency and Theorem 2 (epsilon-CE)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, event, find, given, settings, target
from hypothesis import strategies as st

from theory._b_strategies import bayesian_games, int_table
from theory.agentmixer import (
    BayesianMatrixGame,
    anticorrelated_joint,
    ce_gap,
    gaussian_igc,
    gumbel_from_head,
    gumbel_spread,
    igc_joint_logits,
    igc_mode_agrees,
    joint_from_heads,
    product_from_individual,
    sampled_choice_probs,
    train_agentmixer,
)
from theory.tabular import softmax

pytestmark = [
    pytest.mark.theory,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

C_VALUES = (0.5, 0.9, 0.99, 0.1)
TAUS = (1.0, 0.5, 0.05)


def _unique_argmax(x: np.ndarray) -> bool:
    top = np.sort(x)[-2:]
    return bool(top[1] - top[0] > 1e-9)


# ---------------------------------------------------------------------------
# Claim 9: IGC, discrete, for a fixed PM head
# ---------------------------------------------------------------------------


@st.composite
def igc_inputs(draw):
    """Individual logits (halves in [-2, 2]), PM heads (integers in [-8, 8]), ``c`` and ``tau``."""
    a = draw(st.integers(2, 4))
    logits = draw(int_table((a,), -4, 4, 0.5))
    heads = draw(int_table((a,), -8, 8, 1.0))
    c = draw(st.sampled_from(C_VALUES))
    tau = draw(st.sampled_from(TAUS))
    return logits, heads, c, tau


def _violates_igc(x) -> bool:
    logits, heads, c, tau = x
    return _unique_argmax(logits) and not igc_mode_agrees(logits, heads, c, tau)


#: The smallest fixed-head counterexample: what ``hypothesis.find`` shrinks to (see the search test).
IGC_COUNTEREXAMPLE = (np.array([0.0, 0.5]), np.array([0.0, -1.0]), 0.9, 1.0)


def test_igc_fixed_head_counterexample():
    """Finding: for a fixed PM head, the joint mode need not equal the individual mode.

    ``l = [0, 0.5]`` (individual mode 1), ``h = [0, -1]``, ``c = 0.9``:
    ``g = [0.2250, -0.3497]``, joint logits ``(l + g)/tau = [0.2250, 0.1503]/tau``,
    so the joint mode is 0 for every ``tau > 0``. ``g`` ranges over
    ``(-inf, -log(-log c))`` as ``h`` varies, so a head can always push the
    individual mode below another action; no ``c`` or ``tau`` prevents it.
    """
    logits, heads, c, _ = IGC_COUNTEREXAMPLE
    g = gumbel_from_head(heads, c)
    assert np.allclose(g, [0.22501, -0.34969], atol=1e-5)
    for t in (1.0, 0.5, 0.05):
        z = igc_joint_logits(logits, heads, c, t)
        assert int(np.argmax(z)) == 0 and int(np.argmax(logits)) == 1, (logits, heads, c, t, z)


def test_igc_fixed_head_counterexample_search():
    """Hypothesis finds a violation of "mode(joint) = mode(individual) for any h" and shrinks it.

    The search is seeded so that the shrunk example is reproducible; it is
    ``IGC_COUNTEREXAMPLE``.
    """
    ex = find(
        igc_inputs(),
        _violates_igc,
        settings=settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck)),
        random=random.Random(0),
    )
    assert _violates_igc(ex)
    logits, heads, c, _ = ex
    assert np.array_equal(logits, IGC_COUNTEREXAMPLE[0]) and np.array_equal(heads, IGC_COUNTEREXAMPLE[1])
    assert c == IGC_COUNTEREXAMPLE[2]


@settings(deadline=None)
@given(x=igc_inputs(), bound=st.integers(0, 8))
def test_igc_mode_holds_when_margin_exceeds_head_spread(x, bound):
    """What does hold for a fixed head: if the individual mode's margin exceeds the head spread, IGC holds.

    With ``|h| <= H``, ``g`` varies by at most ``g(H) - g(-H)``; an individual
    mode that leads every other action by more than that stays the joint mode.
    ``H = 0`` (a head that is constant over actions) always preserves the mode.
    """
    logits, heads, c, tau = x
    heads = np.clip(heads, -bound, bound)
    top = np.sort(logits)
    margin = top[-1] - top[-2]
    if margin > gumbel_spread(float(bound), c) + 1e-12:
        assert igc_mode_agrees(logits, heads, c, tau), (logits, heads, c, tau)
    if bound == 0 and _unique_argmax(logits):
        assert igc_mode_agrees(logits, heads, c, tau)


# ---------------------------------------------------------------------------
# Claim 9: IGC in the sampling sense and for the joint mode
# ---------------------------------------------------------------------------


def check_sampled_marginal(logits: np.ndarray, c: float) -> str | None:
    """The sampled-action distribution under i.i.d. uniform heads equals ``softmax(l)`` (1e-12)."""
    p = sampled_choice_probs(logits, c)
    err = float(np.max(np.abs(p - softmax(logits))))
    return None if err < 1e-12 else f"P(argmax) != softmax(l) (max diff {err:.3g}) for l={logits}, c={c}"


@settings(deadline=None)
@given(logits=st.integers(2, 5).flatmap(lambda a: int_table((a,), -4, 4, 0.5)), c=st.sampled_from(C_VALUES))
def test_igc_sampling_sense_marginal_mode(logits, c):
    """IGC in the sampling sense: with i.i.d. heads (``sigmoid(h) ~ U(0,1)``), the individual mode is kept.

    Exact choice probabilities (``sampled_choice_probs``, closed form): they sum to
    one, are ordered like the logits (so the most frequent action is the
    individual mode), and with ``c = 1`` they equal ``softmax(l)`` exactly (the
    Gumbel-max trick). With ``c < 1`` the noise is truncated and the joint is
    *sharper* than the individual policy (not equal to it).
    """
    p = sampled_choice_probs(logits, c)
    assert abs(float(p.sum()) - 1.0) < 1e-12
    order = np.argsort(logits)
    assert np.all(np.diff(p[order]) >= -1e-12), (logits, c, p)
    if _unique_argmax(logits):
        assert int(np.argmax(p)) == int(np.argmax(logits))
    assert check_sampled_marginal(logits, 1.0) is None


def test_sampled_choice_probs_matches_quadrature():
    """The closed form of ``sampled_choice_probs`` against adaptive quadrature of its integral (1e-9)."""
    from scipy import integrate

    for logits in (np.array([1.0, 0.0, -0.5]), np.array([2.0, -1.0, 0.5, 0.5])):
        for c in (1.0, 0.9, 0.5, 0.1):
            y_c = -np.log(c)
            quad = []
            for a in range(len(logits)):
                w = np.exp(np.delete(logits, a) - logits[a])

                def f(y, w=w, c=c):
                    return np.exp(-y) / c * np.prod(np.minimum(1.0, np.exp(-y * w) / c))

                quad.append(integrate.quad(f, y_c, np.inf, limit=200, epsabs=1e-13)[0])
            assert np.max(np.abs(sampled_choice_probs(logits, c) - np.array(quad))) < 1e-9


def test_igc_sampling_sense_mutation_truncated_noise_is_caught():
    """Mutation: ``c < 1`` truncates the Gumbel noise; the softmax-equality check catches it."""
    logits = np.array([1.0, 0.0, -0.5])
    assert check_sampled_marginal(logits, 1.0) is None
    msg = check_sampled_marginal(logits, 0.5)
    assert msg is not None
    assert np.allclose(sampled_choice_probs(logits, 0.5), [0.91241179, 0.0795805, 0.00800771], atol=1e-8)


@settings(deadline=None)
@given(k=st.integers(1, 69))
def test_igc_joint_mode_fails_with_correlated_heads(k):
    """Finding: per-agent modes are kept, but the JOINT mode is not the product of the individual modes.

    Two agents, individual logits ``[delta, 0]`` each (individual modes (0, 0)),
    ``delta = k/100 < log 2``. The PM gives agent 2 agent 1's heads swapped
    (each agent's own noise is still i.i.d. Gumbel, so each marginal is exactly
    ``softmax([delta, 0])``). The exact joint is
    ``[[2 s - 1, 1 - s], [1 - s, 0]]`` with ``s = sigmoid(delta)``; its modes are
    (0, 1) and (1, 0), never (0, 0), while ``delta < log 2``.
    """
    delta = k / 100.0
    joint = anticorrelated_joint(delta)
    assert abs(joint.sum() - 1.0) < 1e-12
    assert np.allclose(joint.sum(1), softmax(np.array([delta, 0.0])), atol=1e-12)
    assert np.allclose(joint.sum(0), softmax(np.array([delta, 0.0])), atol=1e-12)
    assert joint[0, 0] < joint[0, 1] and joint[0, 0] < joint[1, 0]


def test_igc_anticorrelated_joint_matches_monte_carlo():
    """Cross-check ``anticorrelated_joint`` by sampling (200k draws, 4-sigma tolerance)."""
    rng = np.random.default_rng(0)
    delta, n = 0.3, 200_000
    g = -np.log(-np.log(rng.uniform(size=(n, 2))))
    a1 = np.argmax(np.array([delta, 0.0]) + g, axis=1)
    a2 = np.argmax(np.array([delta, 0.0]) + g[:, ::-1], axis=1)
    emp = np.zeros((2, 2))
    np.add.at(emp, (a1, a2), 1.0 / n)
    exact = anticorrelated_joint(delta)
    assert np.all(np.abs(emp - exact) <= 4 * np.sqrt(exact * (1 - exact) / n) + 1e-12)


# ---------------------------------------------------------------------------
# Claim 9: IGC, continuous
# ---------------------------------------------------------------------------


def check_gaussian_igc(means: np.ndarray, tril: np.ndarray, **kw) -> str | None:
    """Joint mean and mode equal the individual means; per-agent marginal means too (1e-12)."""
    mu, cov, mode = gaussian_igc(means, tril, **kw)
    if np.max(np.abs(mu - means)) > 1e-12 or np.max(np.abs(mode - means)) > 1e-12:
        return f"joint mean/mode {mu} != individual means {means}"
    if np.any(np.diag(cov) < 0):
        return "covariance not PSD"
    return None


@settings(deadline=None)
@given(d=st.integers(1, 4).flatmap(lambda d: st.tuples(int_table((d,), -4, 4, 0.5), int_table((d, d), -4, 4, 0.5))))
def test_igc_continuous_mean_equals_individual_means(d):
    """Continuous IGC: ``Normal(individual means, Sigma from the PM)`` has mean and mode = individual means.

    Holds for any PM covariance, including correlated ones (``L L^T``).
    """
    means, tril = d
    msg = check_gaussian_igc(means, tril)
    assert msg is None, msg


def test_igc_continuous_mutation_mean_shift_is_caught():
    """Mutation: the PM also shifts the mean; the check catches it."""
    means, tril = np.array([0.5, -1.0]), np.array([[1.0, 0.0], [0.5, 1.0]])
    assert check_gaussian_igc(means, tril) is None
    assert check_gaussian_igc(means, tril, mean_shift=0.1) is not None


# ---------------------------------------------------------------------------
# Claim 10: Theorem 2 (the product of individual policies is an epsilon-CE)
# ---------------------------------------------------------------------------


def _optimal_joint(game: BayesianMatrixGame) -> np.ndarray:
    s = game.n_states
    flat = game.reward.reshape(s, -1)
    joint = np.zeros_like(flat)
    joint[np.arange(s), np.argmax(flat, axis=1)] = 1.0
    return joint.reshape(game.reward.shape)


def epsilon_bound(game: BayesianMatrixGame, joint: np.ndarray, product: np.ndarray) -> float:
    """``gap(pi_jt) + Delta * E_rho ||pi_jt(.|s) - nu(.|s)||_1``: the theorem's argument, quantified.

    For every swap deviation ``phi`` the deviation gain ``f_phi(s, a)`` lies in
    ``[-Delta, Delta]`` (``Delta`` = payoff range), so
    ``|E_nu f - E_pi f| <= Delta E_rho ||nu - pi||_1`` and
    ``gap(nu) <= gap(pi) + Delta E_rho ||nu - pi||_1``.
    """
    l1 = np.sum(np.abs(joint - product).reshape(game.n_states, -1), axis=1)
    return ce_gap(game, joint)[0] + game.payoff_range * float(game.rho @ l1)


@st.composite
def agentmixer_params(draw, game: BayesianMatrixGame):
    logits = [draw(int_table((game.n_obs(i), a), -4, 4, 0.5)) for i, a in enumerate(game.n_actions)]
    heads = [draw(int_table((game.n_states, a), -6, 6, 1.0)) for a in game.n_actions]
    c = draw(st.sampled_from(C_VALUES))
    tau = draw(st.sampled_from(TAUS))
    return logits, heads, c, tau


def _products(game: BayesianMatrixGame, logits):
    soft = product_from_individual(game, [softmax(lg, axis=-1) for lg in logits])
    modes = []
    for lg in logits:
        m = np.zeros_like(lg)
        m[np.arange(lg.shape[0]), np.argmax(lg, axis=1)] = 1.0
        modes.append(m)
    return soft, product_from_individual(game, modes)


def _ce_gap_brute_force(game: BayesianMatrixGame, joint: np.ndarray) -> float:
    """CE gap by enumerating every deviation map ``phi_i: (obs, a_i) -> b`` (independent of ``ce_gap``)."""
    import itertools

    best = 0.0
    for i in range(game.n_agents):
        n_obs, n_act = game.n_obs(i), game.n_actions[i]
        base = float(np.sum(game.rho.reshape((-1,) + (1,) * game.n_agents) * joint * game.reward))
        for phi in itertools.product(range(n_act), repeat=n_obs * n_act):
            table = np.asarray(phi).reshape(n_obs, n_act)
            total = 0.0
            for s in range(game.n_states):
                o = int(game.obs[i][s])
                for a in np.ndindex(*game.n_actions):
                    b = list(a)
                    b[i] = int(table[o, a[i]])
                    total += game.rho[s] * joint[(s, *a)] * game.reward[(s, *b)]
            best = max(best, total - base)
    return best


@settings(deadline=None)
@given(data=st.data(), game=bayesian_games(max_actions=2, max_states=2))
def test_ce_gap_matches_brute_force(data, game):
    """``ce_gap`` equals the best gain over all ``A^(O*A)`` deviation maps, enumerated (1e-12)."""
    logits, heads, c, tau = data.draw(agentmixer_params(game))
    joint, _ = joint_from_heads(game, logits, heads, c, tau)
    assert abs(ce_gap(game, joint)[0] - _ce_gap_brute_force(game, joint)) < 1e-12


@settings(deadline=None)
@given(data=st.data(), game=bayesian_games())
def test_theorem2_epsilon_bound_for_any_parameters(data, game):
    """Theorem 2's argument, quantified: the product's CE gap is at most the joint's plus ``Delta * E||pi_jt - nu||_1``.

    Also its premise: an optimal fully observable joint policy is an exact CE
    (gap 0) in a cooperative game. Checked for arbitrary IGC parameters (not
    just trained ones), for the stochastic product and for the product of modes.
    """
    assert ce_gap(game, _optimal_joint(game))[0] <= 1e-12
    logits, heads, c, tau = data.draw(agentmixer_params(game))
    joint, _ = joint_from_heads(game, logits, heads, c, tau)
    for nu in _products(game, logits):
        eps = ce_gap(game, nu)[0]
        assert eps <= epsilon_bound(game, joint, nu) + 1e-12, (game, logits, heads, c, tau, eps)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(game=bayesian_games(max_actions=3, max_states=2))
def test_theorem2_trained_agentmixer_epsilon(game):
    """Train the tabular AgentMixer, then measure epsilon of the executed product policies.

    Asserts the quantified bound at the end of training and that, with the PM
    heads frozen (IGC exact), the joint's modes equal the individual modes.
    Records (``target``/``event``) how large epsilon gets relative to the payoff
    range and whether IGC mode agreement survives training of the heads.
    """
    if game.payoff_range == 0:
        return
    res = train_agentmixer(game, steps=250)
    for nu in (res.product_soft, res.product_mode):
        assert ce_gap(game, nu)[0] <= epsilon_bound(game, res.joint, nu) + 1e-12
    eps_soft = ce_gap(game, res.product_soft)[0] / game.payoff_range
    target(eps_soft, label="epsilon(product of individual policies) / payoff range")
    event(f"IGC mode agreement after training: {res.mode_agreement}")
    frozen = train_agentmixer(game, steps=250, train_heads=False)
    assert frozen.mode_agreement


#: Found by ``hypothesis.find`` (condition: trained joint optimal and a CE, product epsilon >= 1/4 of the range).
THM2_COUNTEREXAMPLE = BayesianMatrixGame(
    reward=np.array(
        [
            [[0.0, 0.75, 0.0], [0.0, 0.75, 0.75]],
            [[0.0, 0.0, 0.0], [0.0, -0.25, -0.25]],
            [[0.0, 0.25, 0.0], [0.0, 0.0, 0.25]],
        ]
    ),
    rho=np.array([0.5, 0.25, 0.25]),
    obs=(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)),
)


def test_theorem2_counterexample_trained_heads_break_igc():
    """Finding: trained PM heads carry the hidden state, IGC breaks, and the product is far from a CE.

    Three hidden states, both agents observe nothing. After training, the
    joint reaches the full-information optimum 0.4375 (an exact CE), but the
    individual logits hardly move (the heads did the work): IGC mode agreement
    fails, the product of individual policies has epsilon = 0.135 and the
    product of individual modes epsilon = 0.4375, on a payoff range of 1.
    """
    game = THM2_COUNTEREXAMPLE
    res = train_agentmixer(game, steps=600)
    v_joint = float(np.sum(game.rho[:, None, None] * res.joint * game.reward))
    assert abs(v_joint - 0.4375) < 1e-6
    assert ce_gap(game, res.joint)[0] < 1e-9
    assert not res.mode_agreement
    assert ce_gap(game, res.product_soft)[0] > 0.13
    assert ce_gap(game, res.product_mode)[0] > 0.43


def test_theorem2_mutation_trained_heads_is_caught():
    """Mutation of the IGC-exact variant: let the PM heads train. The mode-agreement check catches it.

    With frozen heads (``g`` constant over actions) IGC holds exactly after
    training; training the heads (the published procedure) breaks it on the
    counterexample game.
    """
    game = THM2_COUNTEREXAMPLE
    assert train_agentmixer(game, steps=600, train_heads=False).mode_agreement
    assert not train_agentmixer(game, steps=600, train_heads=True).mode_agreement
