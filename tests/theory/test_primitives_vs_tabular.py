"""The deep-RL primitives of `marlspec/primitives` against the exact tabular references of `theory/`.

Where a primitive implements a formula that `theory/` also implements (the guider's
double clip and KL mask, AgentMixer's IGC, MIPI's Blahut-Arimoto step, the value
mixers, the chain-rule factorizations), it is run in float32 JAX on the same small
inputs as the float64 NumPy reference and the two must agree to RTOL = 1e-5 relative
(with an absolute floor ATOL for entries near 0). Monte-Carlo comparisons (IGC and
autoregressive sampling) use 20,000 samples and a 5-sigma band (see `mc_mismatch`).

Speed: every primitive is jitted once at module level with fixed small shapes; inputs
of varying size are padded (masked actions, zero-probability contexts), so Hypothesis
examples reuse the compiled code. Static arguments (delta, clip epsilon, c) are drawn
from short fixed lists, which bounds the number of compilations.

Every family has a mutation test: the same check, applied to a deliberately broken
primitive (or reference), must report a mismatch. The catalog is the section
"Primitive cross-checks" of theory/THEOREMS.md.
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from marlspec.primitives import factorization as fz
from marlspec.primitives import gpo, igc, mi, mixers
from theory import agentmixer as am
from theory import classics, macpf, magpo, mipi
from theory._b_strategies import ba_instances, int_table, temperatures
from theory.strategies import etas, games, product_marginals
from theory.tabular import boltzmann, chain_policy, joint_kl, matrix_game, product_policy, softmax

pytestmark = [
    pytest.mark.theory,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

RTOL = 1e-5
ATOL = 1e-6
N_MC = 20_000
MC_SIGMAS = 5.0


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def j32(x) -> jax.Array:
    """A float32 JAX array: eager (un-jitted) calls are type-checked against `jax.Array`."""
    return jnp.asarray(x, dtype=jnp.float32)


def mismatch(got, want, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> str | None:
    """None if |got - want| <= atol + rtol |want| everywhere, else a readable report."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got - want)
    bad = err > atol + rtol * np.abs(want)
    if np.any(bad):
        i = np.unravel_index(np.argmax(np.where(bad, err, -1.0)), err.shape)
        return f"{what}: max error {err.max():.3g} at {i}: got {got[i]!r}, want {want[i]!r}"
    return None


def mc_mismatch(freq, probs, n: int = N_MC) -> str | None:
    """Empirical frequencies against exact probabilities, per cell.

    A cell's count is Binomial(n, p): standard deviation sigma = sqrt(p(1 - p)/n)
    (at most 0.0035 for n = 20,000). The band is 5 sigma + 5/n; the 5/n term covers
    the Poisson-like tail of rare cells (p n of order 1), where the normal
    approximation is too thin. Under the normal approximation a cell leaves a 5-sigma
    band with probability 5.7e-7, so over the 6 to 27 cells of an example, 40 examples
    (ci) or 1,000 (thorough), a false alarm has probability below 1e-3 resp. 2e-2; the
    PRNG key is fixed, so any failure reproduces exactly. Cells with p = 0 (masked
    actions) must have frequency exactly 0.
    """
    freq = np.asarray(freq, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    zero = probs == 0
    if np.any(freq[zero] != 0):
        return f"mass {freq[zero].max():.3g} on a probability-0 cell"
    tol = MC_SIGMAS * np.sqrt(np.clip(probs * (1 - probs), 0.0, None) / n) + 5.0 / n
    err = np.abs(freq - probs)
    if np.any(err > tol):
        i = np.unravel_index(np.argmax(err / tol), err.shape)
        return f"cell {i}: frequency {freq[i]:.5f}, probability {probs[i]:.5f}, band {tol[i]:.5f}"
    return None


def masked_softmax(logits: np.ndarray, avail: np.ndarray) -> np.ndarray:
    """float64 reference: softmax over the available actions, 0 elsewhere."""
    return softmax(np.where(avail, logits, -np.inf), axis=-1)


@st.composite
def avail_masks(draw, shape: tuple[int, ...]) -> np.ndarray:
    """Availability masks with at least one available action per row (shrinks to all available)."""
    flat = draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)))
    avail = ~np.asarray(flat, dtype=bool).reshape(shape)
    rows = avail.reshape(-1, shape[-1])
    keep = draw(st.lists(st.integers(0, shape[-1] - 1), min_size=rows.shape[0], max_size=rows.shape[0]))
    rows[np.arange(rows.shape[0]), keep] = True
    return rows.reshape(shape)


# ===========================================================================
# 1. MAGPO's guider: KL, mask m(delta), double clip (eqs. 9-10), eq. 18
# ===========================================================================

A_KL = 4
DELTAS = (1.2, 1.5, 2.0, 3.0)
GUIDER_PAD = 96  # >= S * (A + A^2 + A^3) for S <= 2 states, 3 agents, 3 actions

_kl = jax.jit(gpo.categorical_kl)
_mask = jax.jit(gpo.guider_kl_mask, static_argnames="delta")


@partial(jax.jit, static_argnames="delta")
def _clip_and_mask(log_guider, log_learner, log_behaviour, delta):
    return (
        gpo.double_clip_ratio(log_guider, log_learner, log_behaviour, delta),
        gpo.guider_kl_mask(log_guider, log_learner, delta),
    )


@partial(jax.jit, static_argnames=("clip_eps", "delta"))
def _surrogate_grad(log_guider, log_learner, log_behaviour, adv, clip_eps, delta):
    def total(lg):
        return jnp.sum(gpo.guider_surrogate(lg, log_learner, log_behaviour, adv, clip_eps, delta))

    return jax.grad(total)(log_guider)


def check_kl(p_logits, q_logits, avail, kl=_kl) -> str | None:
    """`gpo.categorical_kl` of masked logits = `theory.tabular.joint_kl` of the masked softmaxes."""
    want = joint_kl(masked_softmax(p_logits, avail)[None], masked_softmax(q_logits, avail)[None])[0]
    got = kl(f32(np.where(avail, p_logits, fz.NEG)), f32(np.where(avail, q_logits, fz.NEG)))
    return mismatch(got, want, atol=2e-6, what="KL")


@given(
    p=int_table((A_KL,), -4, 4, 0.5),
    q=int_table((A_KL,), -4, 4, 0.5),
    avail=avail_masks((A_KL,)),
)
def test_categorical_kl_equals_tabular_kl(p, q, avail):
    msg = check_kl(p, q, avail)
    assert msg is None, msg


def test_categorical_kl_mutation_swapped_direction_is_caught():
    """Mutation: KL(q || p) in place of KL(p || q)."""
    p, q, avail = np.array([2.0, 0.0, 0.0, -1.0]), np.zeros(A_KL), np.ones(A_KL, bool)
    assert check_kl(p, q, avail) is None
    assert check_kl(p, q, avail, kl=lambda a, b: _kl(b, a)) is not None


@given(
    g=int_table((A_KL,), -4, 4, 0.5),
    ell=int_table((A_KL,), -4, 4, 0.5),
    delta=st.sampled_from(DELTAS),
)
def test_guider_kl_mask_is_zero_exactly_inside_the_open_box(g, ell, delta):
    """m(delta) of eq. 9 is 1 iff mu/pi lies outside (1/delta, delta). Entries within 1e-5
    of the boundary in log space are left out (float32 rounding decides them; the pinned
    boundary test below fixes the convention)."""
    log_mu = np.log(softmax(g))
    log_pi = np.log(softmax(ell))
    gap = log_mu - log_pi
    got = np.asarray(_mask(f32(log_mu), f32(log_pi), delta=delta))
    want = (np.abs(gap) >= math.log(delta)).astype(np.float32)
    clear = np.abs(np.abs(gap) - math.log(delta)) > 1e-5
    note(f"ratio mu/pi = {np.exp(gap)}, delta = {delta}, mask = {got}")
    assert np.array_equal(got[clear], want[clear])
    assert set(np.unique(got)) <= {0.0, 1.0}


def test_guider_kl_mask_counts_the_boundary_as_outside():
    """The paper's m = 1(mu/pi not in (1/delta, delta)): a ratio of exactly delta or 1/delta is masked."""
    for delta in DELTAS:
        ld = np.float32(math.log(delta))
        got = np.asarray(_mask(np.array([ld, -ld, 0.5 * ld, 0.0], np.float32), np.zeros(4, np.float32), delta=delta))
        np.testing.assert_array_equal(got, [1.0, 1.0, 0.0, 0.0])
    got = np.asarray(_mask(np.array([50.0, -50.0], np.float32), np.zeros(2, np.float32), delta=math.inf))
    np.testing.assert_array_equal(got, [0.0, 0.0])


@st.composite
def guider_cases(draw):
    """A game (<= 3 agents, <= 3 actions, <= 2 states), a strictly positive product learner, eta, delta."""
    game = draw(games(max_agents=3, max_actions=3, max_states=2, gammas=(0.0, 0.5)))
    margs = draw(product_marginals(game))
    eta = draw(etas(max_eta=4.0))
    delta = draw(st.sampled_from(DELTAS))
    return game, margs, eta, delta


def _chain_entries(conds, margs) -> tuple[np.ndarray, np.ndarray]:
    """Flatten every conditional mu^{i_j}(a | s, a^{<j}) with the learner's pi^{i_j}(a | s) beside it."""
    log_mu, log_pi = [], []
    for j, c in enumerate(conds):
        p = np.broadcast_to(margs[j].reshape((c.shape[0],) + (1,) * j + (-1,)), c.shape)
        log_mu.append(np.log(c).ravel())
        log_pi.append(np.log(p).ravel())
    return np.concatenate(log_mu), np.concatenate(log_pi)


def _pad(x: np.ndarray, size: int = GUIDER_PAD) -> np.ndarray:
    out = np.zeros(size, np.float32)
    out[: len(x)] = x
    return out


def check_clip_inactive(conds, margs, delta: float) -> str | None:
    """For a guider whose conditionals keep mu/pi in [1/delta, delta], with backtracking
    (behaviour = learner, mu_old = pi), the double clip returns the plain ratio mu/mu_old
    (up to float32 rounding at the boundary) and the mask is 0 strictly inside the box."""
    log_mu, log_pi = _chain_entries(conds, margs)
    n = len(log_mu)
    assert n <= GUIDER_PAD
    ratio, mask = _clip_and_mask(_pad(log_mu), _pad(log_pi), _pad(log_pi), delta=delta)
    msg = mismatch(np.asarray(ratio)[:n], np.exp(log_mu - log_pi), what="double clip vs mu/mu_old")
    if msg is not None:
        return msg
    inside = np.abs(log_mu - log_pi) < math.log(delta) - 1e-5
    if np.any(np.asarray(mask)[:n][inside] != 0):
        return "m(delta) = 1 strictly inside the box"
    return None


@given(guider_cases())
def test_delta_guider_leaves_the_double_clip_inactive(case):
    """theory.magpo.delta_guider (exact delta-constrained PMD step) keeps every conditional
    ratio in [1/delta, delta]; on its conditionals `gpo.double_clip_ratio` equals mu/mu_old
    and `gpo.guider_kl_mask` is 0 strictly inside. Entries saturated at the boundary
    (common: the constraint binds) are decided by float32 rounding for the mask."""
    game, margs, eta, delta = case
    conds = magpo.delta_guider(game, product_policy(margs), eta, delta)
    log_mu, log_pi = _chain_entries(conds, margs)
    note(f"eta={eta}, delta={delta}, log ratios={np.round(log_mu - log_pi, 4)}")
    assert np.all(np.abs(log_mu - log_pi) <= math.log(delta) + 1e-9)
    msg = check_clip_inactive(conds, margs, delta)
    assert msg is None, msg


@given(guider_cases(), st.permutations(range(3)))
def test_unconstrained_guider_is_eq18_and_never_clipped(case, perm):
    """delta = inf: the per-agent chain of theory's guider is eq. 18 (1e-9, float64), and the
    primitives neither clip (double clip = mu/mu_old for every entry, however far outside
    any finite box) nor mask."""
    game, margs, eta, _ = case
    order = [k for k in perm if k < game.n_agents]
    pi = product_policy(margs)
    conds = magpo.delta_guider(game, pi, eta, math.inf, order=order)
    eq18 = magpo.guider_update(game, pi, eta)
    np.testing.assert_allclose(chain_policy(conds), np.transpose(eq18, [0] + [o + 1 for o in order]), atol=1e-9)
    msg = check_clip_inactive(conds, [margs[o] for o in order], math.inf)
    assert msg is None, msg


def test_double_clip_mutation_unconstrained_guider_is_caught():
    """Mutation: feed the unconstrained eq. 18 guider to the delta = 1.5 check; its conditional
    ratio 1.96 > delta is clipped, so the check fails. The delta-guider passes on the same game."""
    game = matrix_game(np.array([[1.0, 0.0], [0.0, 1.0]]))
    margs = [np.full((1, 2), 0.5), np.full((1, 2), 0.5)]
    pi = product_policy(margs)
    assert check_clip_inactive(magpo.delta_guider(game, pi, 4.0, 1.5), margs, 1.5) is None
    assert check_clip_inactive(magpo.delta_guider(game, pi, 4.0, math.inf), margs, 1.5) is not None


def eq10_gradient(lg, ll, lb, adv, eps, delta) -> tuple[np.ndarray, np.ndarray]:
    """float64 d/d(log mu) of -min(r A, clip(clip(mu/pi, 1/delta, delta) pi/mu_old, 1-eps, 1+eps) A)
    (eqs. 9-10, learner fixed), and a flag for entries at a kink (where the derivative is a
    one-sided choice): |log mu/pi| at log delta, the inner ratio at 1 +- eps, or a tie in the min."""
    ld = math.log(delta)
    x = lg - ll
    r = np.exp(lg - lb)
    dc = np.exp(np.clip(x, -ld, ld) + ll - lb)
    c = np.clip(dc, 1 - eps, 1 + eps)
    d_clipped = np.where((np.abs(x) < ld) & (dc > 1 - eps) & (dc < 1 + eps), dc, 0.0)
    grad = -adv * np.where(r * adv < c * adv, r, d_clipped)
    kink = (np.abs(np.abs(x) - ld) < 1e-4) | (np.abs(dc - (1 - eps)) < 1e-4) | (np.abs(dc - (1 + eps)) < 1e-4)
    kink |= (np.abs(r - c) < 1e-4) & (np.abs(r - d_clipped) > 1e-4)
    return grad, kink


def check_surrogate_gradient(lg, ll, lb, adv, eps, delta, grad_delta=None) -> str | None:
    """The gradient of `gpo.guider_surrogate` w.r.t. log mu: (a) equals eq10_gradient off the
    kinks; (b) is exactly 0 where mu/pi has left the box in the direction the advantage
    pushes (A > 0 and mu/pi > delta, or A < 0 and mu/pi < 1/delta) provided the behaviour
    guider mu_old was in the closed box; (c) is -A r != 0 strictly inside the box with r in
    (1 - eps, 1 + eps). `grad_delta` (mutation) differentiates the primitive at another delta."""
    grad = np.asarray(
        _surrogate_grad(
            f32(lg), f32(ll), f32(lb), f32(adv), clip_eps=eps, delta=delta if grad_delta is None else grad_delta
        )
    )
    want, kink = eq10_gradient(lg, ll, lb, adv, eps, delta)
    ok = ~kink
    msg = mismatch(grad[ok], want[ok], atol=1e-6, what="eq. 10 gradient")
    if msg is not None:
        return msg
    ld = math.log(delta)
    x, r = lg - ll, np.exp(lg - lb)
    pushed_out = ((adv > 0) & (x > ld)) | ((adv < 0) & (x < -ld))
    old_in_box = np.abs(lb - ll) <= ld
    stopped = pushed_out & old_in_box & ok
    if np.any(grad[stopped] != 0):
        return f"gradient {grad[stopped]} not stopped outside the box"
    inside = (np.abs(x) < ld) & (r > 1 - eps) & (r < 1 + eps) & ok
    if np.any(grad[inside] == 0):
        return "zero gradient inside the box"
    return None


B_GRAD = 16


@given(
    lg=int_table((B_GRAD,), -8, 0, 0.25),
    ll=int_table((B_GRAD,), -8, 0, 0.25),
    lb=int_table((B_GRAD,), -8, 0, 0.25),
    adv=st.lists(st.sampled_from([-1.5, -0.5, 0.5, 1.5]), min_size=B_GRAD, max_size=B_GRAD).map(np.array),
    eps=st.sampled_from([0.1, 0.2]),
    delta=st.sampled_from([1.2, 1.5, 2.0]),
)
def test_guider_surrogate_gradient_stops_outside_the_box(lg, ll, lb, adv, eps, delta):
    """Log-probabilities in [-2, 0] on a 1/4 grid: ratios on both sides of every box and clip."""
    note(f"mu/pi = {np.exp(lg - ll)}, r = {np.exp(lg - lb)}, adv = {adv}")
    msg = check_surrogate_gradient(lg, ll, lb, adv, eps, delta)
    assert msg is None, msg


def test_guider_surrogate_gradient_passes_when_the_old_guider_is_outside_the_box():
    """Finding (eq. 10 itself, which the primitive implements faithfully): the inner clip stops
    the gradient only while r >= 1 - eps (A > 0; r <= 1 + eps for A < 0). If the behaviour
    guider was itself beyond the box, mu_old/pi > delta, the clipped term is floored at 1 - eps
    and PPO's min picks the unclipped r A, whose gradient pushes mu/pi further out.
    pi = 0.1, mu_old = 0.5, mu = 0.3, delta = 2, eps = 0.2, A = 1: mu/pi = 3 > delta, r = 0.6,
    inner 0.4 -> clipped 0.8 > r, so d/dlog mu = -r A = -0.6."""
    lg, ll, lb = (np.log(np.array([v])) for v in (0.3, 0.1, 0.5))
    adv = np.array([1.0])
    grad = _surrogate_grad(f32(lg), f32(ll), f32(lb), f32(adv), clip_eps=0.2, delta=2.0)
    np.testing.assert_allclose(grad, [-0.6], rtol=RTOL)
    want, kink = eq10_gradient(lg, ll, lb, adv, 0.2, 2.0)
    assert not kink[0]
    np.testing.assert_allclose(want, [-0.6], rtol=1e-12)


def test_guider_surrogate_mutation_plain_ppo_is_caught():
    """Mutation: differentiate PPO's clip (delta = inf) where the double clip should stop the
    gradient: pi = 0.1, mu_old = 0.19 (in the box), mu = 0.21 (mu/pi = 2.1 > delta = 2), A = 1."""
    lg, ll, lb = (np.log(np.array([v])) for v in (0.21, 0.1, 0.19))
    adv = np.array([1.0])
    assert check_surrogate_gradient(lg, ll, lb, adv, 0.2, 2.0) is None
    assert check_surrogate_gradient(lg, ll, lb, adv, 0.2, 2.0, grad_delta=math.inf) is not None


# ===========================================================================
# 2. AgentMixer's IGC
# ===========================================================================

N_IGC, A_IGC = 2, 3
C_VALUES = (1.0, 0.9, 0.5, 0.1)
C_MC = (1.0, 0.5, 0.1)
TAUS = (1.0, 0.5, 0.05)

_igc_logits = jax.jit(igc.igc_joint_logits, static_argnames="c")


@st.composite
def igc_cases(draw, cs=C_VALUES):
    logits = draw(int_table((N_IGC, A_IGC), -4, 4, 0.5))
    heads = draw(int_table((N_IGC, A_IGC), -8, 8, 1.0))
    avail = draw(avail_masks((N_IGC, A_IGC)))
    return logits, heads, avail, draw(st.sampled_from(cs)), draw(st.sampled_from(TAUS))


def check_igc_logits(logits, heads, c, tau, fn=_igc_logits) -> str | None:
    msg = mismatch(igc.gumbel_from_head(j32(heads), c), am.gumbel_from_head(heads, c), what="g(h)")
    if msg is not None:
        return msg
    got = fn(j32(logits), j32(heads), c=c, tau=tau)
    return mismatch(got, am.igc_joint_logits(logits, heads, c, tau), atol=1e-5, what="joint logits")


@given(igc_cases())
def test_igc_joint_logits_equal_tabular(case):
    logits, heads, _, c, tau = case
    msg = check_igc_logits(logits, heads, c, tau)
    assert msg is None, msg


def test_igc_gumbel_is_finite_for_extreme_heads():
    """softplus form: no overflow for |h| up to 80 (c < 1), floored (finite) at c = 1."""
    h = np.array([-80.0, -20.0, 20.0, 80.0])
    np.testing.assert_allclose(igc.gumbel_from_head(j32(h), 0.5), am.gumbel_from_head(h, 0.5), rtol=RTOL)
    assert np.all(np.isfinite(np.asarray(igc.gumbel_from_head(j32([200.0]), 1.0))))


def test_igc_logits_mutation_flipped_gumbel_sign_is_caught():
    logits, heads = np.array([[1.0, 0.0, -0.5], [0.0, 0.5, 0.0]]), np.array([[2.0, -1.0, 0.0], [0.0, 3.0, -2.0]])
    assert check_igc_logits(logits, heads, 0.5, 1.0) is None
    flipped = lambda lg, h, c, tau: (lg - igc.gumbel_from_head(h, c)) / tau  # noqa: E731
    assert check_igc_logits(logits, heads, 0.5, 1.0, fn=flipped) is not None


@partial(jax.jit, static_argnames=("c", "greedy", "flip"))
def _igc_frequencies(key, logits, avail, tau, c, greedy, flip=False):
    """Action frequencies of `igc.igc_sample` over N_MC draws, each with fresh i.i.d. heads
    h ~ Logistic(0, 1), i.e. sigmoid(h) ~ U(0, 1). `flip` (mutation) negates the Gumbel term."""

    def one(k):
        k_head, k_act = jax.random.split(k)
        head = jax.random.logistic(k_head, logits.shape)
        if flip:
            mutated = fz.mask_logits((logits - igc.gumbel_from_head(head, c)) / tau, avail)
            actions, _ = fz.independent_sample(k_act, mutated, greedy)
        else:
            actions, _ = igc.igc_sample(k_act, logits, head, avail, c, tau, greedy)
        return jax.nn.one_hot(actions, A_IGC)

    return jnp.mean(jax.vmap(one)(jax.random.split(key, N_MC)), axis=0)


def igc_choice_probs(logits, avail, c) -> np.ndarray:
    """Exact per-agent choice probabilities (theory.agentmixer.sampled_choice_probs) over the available actions."""
    out = np.zeros(logits.shape)
    for i in range(logits.shape[0]):
        out[i, avail[i]] = am.sampled_choice_probs(logits[i][avail[i]], c)
    return out


def check_igc_sampler(logits, avail, c, greedy, flip=False) -> str | None:
    """tau -> 0: greedy (the joint mode for the drawn heads) or tau = 1e-4 sampling, whose
    extra Gumbel noise tau G moves choice probabilities by O(1e-4), far inside the band."""
    freq = _igc_frequencies(jax.random.PRNGKey(0), f32(logits), avail, 1e-4, c=c, greedy=greedy, flip=flip)
    return mc_mismatch(freq, igc_choice_probs(logits, avail, c))


@given(igc_cases(cs=C_MC), st.booleans())
def test_igc_sampler_matches_exact_choice_probabilities(case, greedy):
    """Discrete IGC in the sampling sense (THEOREMS claim 9b): with i.i.d. heads the sampler's
    frequencies are the closed-form choice probabilities; masked actions are never drawn."""
    logits, _, avail, c, _ = case
    note(f"exact = {igc_choice_probs(logits, avail, c)}")
    msg = check_igc_sampler(logits, avail, c, greedy)
    assert msg is None, msg


def test_igc_sampler_mutation_flipped_gumbel_sign_is_caught():
    """Mutation: argmax(l - g) instead of argmax(l + g) (c = 1: a reversed Gumbel instead of
    Gumbel-max); its frequencies leave the band by a factor 3.7 here."""
    logits, avail = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, 0.0]]), np.ones((N_IGC, A_IGC), bool)
    assert check_igc_sampler(logits, avail, 1.0, True) is None
    assert check_igc_sampler(logits, avail, 1.0, True, flip=True) is not None


N_CONT, D_CONT, R_CONT = 3, 2, 2
"""Continuous IGC: agents, action dimensions, rank of the low-rank covariance factor."""


def continuous_mixer(mean, w, b, f, g):
    """A small stand-in for the Policy Modifier's continuous heads, a function of ALL agents' means:
    the scale head h = W mean + b (W mixes the agents, as the modifier's agent-mixing MLP does) and
    the low-rank factor V = tanh(flat(mean) f^T + G) / 2, of shape [N D, r]."""
    head = jnp.einsum("ij,jd->id", w, mean) + b
    factor = 0.5 * jnp.tanh(jnp.outer(mean.reshape(-1), f) + g)
    return head, factor


@partial(jax.jit, static_argnames=("scale", "diag_sample", "lowrank_sample", "lowrank_logp", "lowrank_ent"))
def _continuous_igc_draws(key, mean, log_std, w, b, f, g, scale, diag_sample, lowrank_sample, lowrank_logp,
                          lowrank_ent):
    """N_MC joint actions by the two sampling paths of `algorithms.agentmixer` (diagonal: Normal(mean,
    exp(igc_scale(individual log-std, h))^2) through `gaussian_sample`; low rank: `lowrank_gaussian_sample`
    over the concatenated actions), with the mixer's heads. The primitives are static arguments looked
    up at call time, so a patched-in mutant is traced afresh."""
    head, factor = continuous_mixer(mean, w, b, f, g)
    joint_log_std = scale(log_std, head)
    keys = jax.random.split(key, N_MC)
    diag = jax.vmap(lambda k: diag_sample(k, mean, joint_log_std)[0])(keys)
    greedy = diag_sample(key, mean, joint_log_std, True)[0]
    std = jnp.exp(joint_log_std).reshape(-1)
    low = jax.vmap(lambda k: lowrank_sample(k, mean.reshape(-1), std, factor))(keys)
    logp = jax.vmap(lambda x: lowrank_logp(x, mean.reshape(-1), std, factor))(low[:8])
    return diag, greedy, low, logp, lowrank_ent(std, factor), head, factor


def check_continuous_igc(mean, log_std, w, b, f, g) -> str | None:
    """Continuous IGC on the samplers the AgentMixer algorithm uses, with a spread that a mixer of all
    agents' means produces. Expected values are computed here in float64, independently: the joint std
    is the individual std times 2 sigmoid(h) (``igc_scale``'s definition), the low-rank covariance is
    diag(std^2) + V V^T. Over N_MC draws of each path: the empirical mean is the individual mean (band
    5 sqrt(Sigma_ii / n)); every empirical (co)variance is Sigma's (band 5 sqrt((Sigma_ii Sigma_jj +
    Sigma_ij^2) / n), the standard deviation of a sample covariance); the greedy action is the mean
    exactly; the low-rank log-densities and entropy are scipy's. A band is left with probability 5.7e-7
    under the normal approximation; the key is fixed, so a failure reproduces."""
    from scipy.stats import multivariate_normal

    diag, greedy, low, logp, ent, head, factor = (np.asarray(x, np.float64) for x in _continuous_igc_draws(
        jax.random.PRNGKey(0), f32(mean), f32(log_std), f32(w), f32(b), f32(f), f32(g),
        scale=igc.igc_scale, diag_sample=fz.gaussian_sample, lowrank_sample=igc.lowrank_gaussian_sample,
        lowrank_logp=igc.lowrank_gaussian_log_prob, lowrank_ent=igc.lowrank_gaussian_entropy))
    std = (np.exp(log_std) * 2.0 / (1.0 + np.exp(-head))).reshape(-1)
    flat_mean = mean.reshape(-1)
    for name, draws, cov in (("diagonal", diag.reshape(N_MC, -1), np.diag(std**2)),
                             ("low-rank", low, np.diag(std**2) + factor @ factor.T)):
        emp_mean = draws.mean(0)
        band = MC_SIGMAS * np.sqrt(np.diag(cov) / N_MC) + 1e-5 * (1.0 + np.abs(flat_mean))
        if np.any(np.abs(emp_mean - flat_mean) > band):
            i = int(np.argmax(np.abs(emp_mean - flat_mean) / band))
            return f"{name}: empirical mean {emp_mean[i]:.5f} != individual mean {flat_mean[i]:.5f} at {i}"
        emp_cov = np.cov(draws, rowvar=False)
        cband = MC_SIGMAS * np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / N_MC) + 1e-5
        if np.any(np.abs(emp_cov - cov) > cband):
            i = np.unravel_index(np.argmax(np.abs(emp_cov - cov) / cband), cov.shape)
            return f"{name}: empirical covariance {emp_cov[i]:.5f} != {cov[i]:.5f} at {i}"
    if np.any(greedy != f32(mean)):
        return f"greedy action {greedy} != individual means {mean}"
    cov = np.diag(std**2) + factor @ factor.T
    dist = multivariate_normal(flat_mean, cov)
    # float32 sums terms of size |z|^2 = sum((x - m)^2 / std^2), log det and n log 2 pi, which partly
    # cancel; allow 1e-5 (about 100 float32 epsilons) of that magnitude
    z2 = np.sum(((low[:8] - flat_mean) / std) ** 2, axis=1)
    scale = z2 + abs(np.linalg.slogdet(cov)[1]) + flat_mean.size * np.log(2 * np.pi)
    err = np.abs(logp - dist.logpdf(low[:8]))
    if np.any(err > 1e-5 * scale):
        i = int(np.argmax(err / scale))
        return f"low-rank log-density {logp[i]:.6f} != {dist.logpdf(low[:8])[i]:.6f} (draw {i})"
    return mismatch(ent, dist.entropy(), rtol=1e-5, atol=1e-4, what="low-rank entropy")


@st.composite
def continuous_cases(draw):
    """Individual means and log-stds, and the mixer's weights (small integers times 1/4)."""
    mean = draw(int_table((N_CONT, D_CONT), -8, 8, 0.25))
    log_std = draw(int_table((N_CONT, D_CONT), -2, 2, 0.25))
    w = draw(int_table((N_CONT, N_CONT), -4, 4, 0.25))
    b = draw(int_table((N_CONT, D_CONT), -4, 4, 0.25))
    f = draw(int_table((R_CONT,), -4, 4, 0.25))
    g = draw(int_table((N_CONT * D_CONT, R_CONT), -4, 4, 0.5))
    return mean, log_std, w, b, f, g


@given(continuous_cases())
def test_continuous_igc_samplers_keep_the_individual_means(case):
    """THEOREMS claim 9, continuous: joint actions drawn the way `algorithms.agentmixer` draws them
    (`igc.igc_scale` + `factorization.gaussian_sample`, and `igc.lowrank_gaussian_sample`), with a
    spread and a correlation produced by a mixer of all agents' means, have the individual means as
    their mean and mode, and the covariance the mixer set."""
    msg = check_continuous_igc(*case)
    assert msg is None, msg


# ===========================================================================
# 3. MIPI's Blahut-Arimoto step (eqs. 10-13)
# ===========================================================================

K_PAD, A_PAD, BA_ITERS = 4, 4, 6


@jax.jit
def _ba_run(q, rho, alpha, pi0, avail):
    policies, marginals, objectives = mi.ba_iterate(q, rho, alpha, pi0, BA_ITERS, avail)
    return policies, marginals, objectives, mi.ba_objective(q, rho, pi0, alpha, avail)


@jax.jit
def _ba_run_frozen_marginal(q, rho, alpha, pi0, avail):
    """Mutation: eq. 12 evaluated once, at pi^0, and never again."""
    log_m = jnp.where(avail, jnp.log(mi.ba_marginal(pi0, rho)), fz.NEG)
    pi, policies, marginals, objectives = pi0, [], [], []
    for _ in range(BA_ITERS):
        pi = jnp.exp(mi.ba_policy(q, log_m, alpha, avail))
        policies.append(pi)
        marginals.append(jnp.exp(log_m))
        objectives.append(mi.ba_objective(q, rho, pi, alpha, avail))
    return jnp.stack(policies), jnp.stack(marginals), jnp.stack(objectives), mi.ba_objective(q, rho, pi0, alpha, avail)


def pad_ba(q, rho, pi0):
    """Pad to [K_PAD, A_PAD]: extra contexts get rho = 0, extra actions are unavailable."""
    k, a = q.shape
    qp, pp, rp = np.zeros((K_PAD, A_PAD)), np.zeros((K_PAD, A_PAD)), np.zeros(K_PAD)
    qp[:k, :a], pp[:k, :a], rp[:k] = q, pi0, rho
    pp[k:, :a] = 1.0 / a
    return f32(qp), f32(rp), f32(pp), np.arange(A_PAD) < a


def check_ba(q, rho, alpha, pi0, run=_ba_run) -> str | None:
    """`mi.ba_iterate` = theory.mipi.blahut_arimoto for BA_ITERS steps: policies, marginals,
    objectives (atol 1e-5 on F); masked actions get exactly 0; F never decreases (-1e-5)."""
    k, a = q.shape
    ref = mipi.blahut_arimoto(q, rho, alpha, pi0, BA_ITERS)
    qp, rp, pp, avail = pad_ba(q, rho, pi0)
    policies, marginals, objectives, obj0 = (np.asarray(x) for x in run(qp, rp, np.float32(alpha), pp, avail))
    if np.any(policies[:, :, a:] != 0) or np.any(marginals[:, a:] != 0):
        return "probability on a masked action"
    objs = np.concatenate([[obj0], objectives])
    msg = (
        mismatch(policies[:, :k, :a], np.stack(ref.policies[1:]), what="policies")
        or mismatch(marginals[:, :a], np.stack(ref.marginals), what="marginals")
        or mismatch(objs, ref.objectives, atol=1e-5, what="objectives")
    )
    if msg is not None:
        return msg
    if np.any(np.diff(objs) < -1e-5):
        return f"objective decreased: {objs}"
    return None


@given(ba_instances())
def test_ba_iterate_matches_tabular_blahut_arimoto(inst):
    q, rho, alpha, pi0 = inst
    note(f"Q={q}, rho={rho}, alpha={alpha}, pi0={pi0}")
    msg = check_ba(q, rho, alpha, pi0)
    assert msg is None, msg


def test_ba_iterate_mutation_frozen_marginal_is_caught():
    """Mutation: skip eq. 12 after pi^0; it agrees with theory's own frozen-marginal mutation,
    not with Blahut-Arimoto."""
    q, rho, pi0 = np.array([[1.0, 0.0], [0.0, 0.25]]), np.array([0.5, 0.5]), np.array([[0.2, 0.8], [0.2, 0.8]])
    assert check_ba(q, rho, 0.5, pi0) is None
    assert check_ba(q, rho, 0.5, pi0, run=_ba_run_frozen_marginal) is not None
    frozen = mipi.blahut_arimoto(q, rho, 0.5, pi0, BA_ITERS, update_marginal=False)
    got = _ba_run_frozen_marginal(*pad_ba(q, rho, pi0)[:2], np.float32(0.5), *pad_ba(q, rho, pi0)[2:])
    assert mismatch(np.asarray(got[0])[:, :2, :2], np.stack(frozen.policies[1:])) is None


# ===========================================================================
# 4. Mixers: VDN, QMIX, the linear hypernetwork, FOP's IGO
# ===========================================================================

N_MIX, A_MIX, E_MIX = 3, 3, 4
JOINT = np.array(list(itertools.product(range(A_MIX), repeat=N_MIX)))  # [27, N], row-major like the tables


def per_joint(utilities: np.ndarray) -> np.ndarray:
    """[A^N, N]: Q_i(a_i) for every joint action a."""
    return f32(utilities[np.arange(N_MIX), JOINT])


@jax.jit
def _mixer_tables(qs, w1, b1, w2, b2):
    hyper = (None, None, None, None)
    return (
        jax.vmap(mixers.vdn)(qs),
        jax.vmap(mixers.qmix, in_axes=(0, *hyper))(qs, w1, b1, w2, b2),
        jax.vmap(mixers.linear_hypernet, in_axes=(0, *hyper))(qs, w1, b1, w2, b2),
        mixers.linear_hypernet_coefficients(w1, b1, w2, b2),
    )


@jax.jit
def _fop_table(qs, q_all, avail, weights, v_state, alpha):
    return jax.vmap(mixers.fop_igo, in_axes=(0, None, None, None, None, None))(
        qs, q_all, avail, weights, v_state, alpha
    )


@st.composite
def mixer_cases(draw):
    return (
        draw(int_table((N_MIX, A_MIX), -8, 8, 0.25)),
        draw(int_table((N_MIX, E_MIX))),
        draw(int_table((E_MIX,))),
        draw(int_table((E_MIX,))),
        float(draw(int_table((1,)))[0]),
    )


def check_mixers(u, w1, b1, w2, b2, monotone: bool = True) -> str | None:
    """Every joint action of an N_MIX-agent, A_MIX-action game. `monotone=False` mutates the
    reference QMIX (no abs on the weights)."""
    vdn_t, qmix_t, lin_t, (k, b) = _mixer_tables(per_joint(u), f32(w1), f32(b1), f32(w2), np.float32(b2))
    vdn_t, qmix_t, lin_t = np.asarray(vdn_t), np.asarray(qmix_t), np.asarray(lin_t)
    shape = (A_MIX,) * N_MIX
    utilities = list(u)
    k_want = np.abs(w1) @ np.abs(w2)
    b_want = b1 @ np.abs(w2) + b2
    return (
        mismatch(vdn_t.reshape(shape), classics.vdn(utilities), atol=1e-5, what="vdn")
        or mismatch(
            qmix_t.reshape(shape),
            classics.qmix(utilities, w1, b1, w2, b2, monotone=monotone),
            atol=1e-5,
            what="qmix (elu)",
        )
        or mismatch(
            lin_t.reshape(shape),
            classics.qmix(utilities, w1, b1, w2, b2, activation="identity"),
            atol=1e-5,
            what="linear hypernet vs QMIX without activation",
        )
        or mismatch(np.asarray(k), k_want, what="k_i")
        or mismatch(np.asarray(b), b_want, atol=1e-5, what="b")
        or mismatch(lin_t, u[np.arange(N_MIX), JOINT] @ k_want + b_want, atol=1e-5, what="sum_i k_i Q_i + b")
    )


@given(mixer_cases())
def test_mixers_match_tabular_vdn_qmix_and_linear_form(case):
    msg = check_mixers(*case)
    assert msg is None, msg


def test_mixers_mutation_non_monotone_qmix_is_caught():
    u = np.array([[1.0, 0.0, -1.0], [0.5, 0.0, 0.0], [0.0, -0.5, 2.0]])
    w1 = np.array([[1.0, -0.5, 0.25, 0.0], [-1.0, 0.5, 0.0, 0.75], [0.25, 0.25, -0.75, 1.0]])
    b1, w2, b2 = np.array([0.0, -0.5, 0.25, 0.0]), np.array([0.5, -1.0, 0.25, 0.75]), 0.25
    assert check_mixers(u, w1, b1, w2, b2) is None
    assert check_mixers(u, w1, b1, w2, b2, monotone=False) is not None


@st.composite
def fop_cases(draw):
    q = draw(int_table((N_MIX, A_MIX), -8, 8, 0.25))
    avail = draw(avail_masks((N_MIX, A_MIX)))
    v = float(draw(int_table((1,)))[0])
    alpha = draw(temperatures())
    alphas = [draw(temperatures()) for _ in range(N_MIX)]
    return q, avail, v, alpha, alphas


def fop_difference(q, avail, v, alpha, alphas) -> tuple[np.ndarray, float]:
    """(eq. 2 - fop_igo) on the available joint actions, with w_i = alpha/alpha_i, and the
    predicted action-independent offset sum_i w_i (alpha lse(Q_i/alpha) - alpha_i lse(Q_i/alpha_i))."""
    w = np.array([alpha / ai for ai in alphas])
    got = np.asarray(_fop_table(per_joint(q), f32(q), avail, f32(w), np.float32(v), np.float32(alpha)))
    got = got.reshape((A_MIX,) * N_MIX)[np.ix_(*avail)]
    q_ind = [q[i][avail[i]][None] for i in range(N_MIX)]
    want = macpf.fop_eq2_rhs(q_ind, np.array([v]), alpha, alphas)[0]
    lse = lambda x, t: t * np.log(np.sum(np.exp(x / t)))  # noqa: E731
    offset = sum(w[i] * (lse(q[i][avail[i]], alpha) - lse(q[i][avail[i]], alphas[i])) for i in range(N_MIX))
    return want - got, float(offset)


@given(fop_cases())
def test_fop_igo_matches_eq2_when_every_alpha_i_is_alpha(case):
    """weights 1, alpha_i = alpha: `mixers.fop_igo` = theory.macpf.fop_eq2_rhs on every available joint action."""
    q, avail, v, alpha, _ = case
    diff, offset = fop_difference(q, avail, v, alpha, [alpha] * N_MIX)
    assert offset == 0.0
    msg = mismatch(diff, np.zeros_like(diff), atol=2e-5, what="eq. 2 - fop_igo")
    assert msg is None, msg


@given(fop_cases())
def test_fop_igo_differs_from_eq2_by_a_state_offset(case):
    """Individual alpha_i != alpha: the primitive (V_i at the common alpha, FOP's code) and eq. 2
    (V_i at alpha_i) differ by an offset that does not depend on the joint action."""
    diff, offset = fop_difference(*case)
    msg = mismatch(diff, np.full_like(diff, offset), atol=5e-5, what="eq. 2 - fop_igo vs predicted offset")
    assert msg is None, msg


def test_fop_igo_and_eq2_differ_for_a_concrete_case():
    """Q_1 = [1, 0, 0], Q_2 = Q_3 = 0, alpha = 1, alpha_1 = 1/2: eq. 2 exceeds the primitive by
    2 (log(e + 2) - log(e^2 + 2)/2) on every joint action (THEOREMS.md prints its value)."""
    q = np.zeros((N_MIX, A_MIX))
    q[0, 0] = 1.0
    diff, offset = fop_difference(q, np.ones((N_MIX, A_MIX), bool), 0.0, 1.0, [0.5, 1.0, 1.0])
    want = 2 * (math.log(math.e + 2) - 0.5 * math.log(math.e**2 + 2))
    assert offset == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(diff, want, atol=5e-5)


@jax.jit
def _eq6_table(qs, q_all, avail, k, b, alpha):
    return jax.vmap(mixers.conditional_soft_mix, in_axes=(0, 0, None, None, None, None))(qs, q_all, avail, k, b, alpha)


def check_eq6_mix(q_jt, alpha, alphas, k=None) -> str | None:
    """`mixers.conditional_soft_mix` with k_i = alpha/alpha_i and b = V_jt, fed MACPF's conditional
    soft Q_i(a_<i, .) of theory.macpf.conditional_soft_qs, equals eq6_rhs (= Q_jt) on every joint
    action. `k` (mutation) overrides the weights."""
    qs, vs = macpf.conditional_soft_qs(q_jt, alpha, alphas)
    v_jt = macpf.soft_value_of_boltzmann(q_jt, alpha, N_MIX)
    want = macpf.eq6_rhs(qs, vs, v_jt, alpha, alphas)[0]
    taken = np.array([[qs[i][(0, *a[: i + 1])] for i in range(N_MIX)] for a in JOINT])
    rows = np.array([[qs[i][(0, *a[:i])] for i in range(N_MIX)] for a in JOINT])
    k = np.array([alpha / ai for ai in alphas]) if k is None else k
    got = _eq6_table(
        f32(taken), f32(rows), np.ones((N_MIX, A_MIX), bool), f32(k), np.float32(v_jt[0]), np.float32(alpha)
    )
    return mismatch(np.asarray(got).reshape(want.shape), want, atol=2e-5, what="eq. 6") or mismatch(
        want, q_jt[0], atol=1e-9, what="eq6_rhs vs Q_jt"
    )


@given(
    q=int_table((1,) + (A_MIX,) * N_MIX, -8, 8, 0.25),
    alpha=temperatures(),
    alphas=st.lists(temperatures(), min_size=N_MIX, max_size=N_MIX),
)
def test_conditional_soft_mix_is_macpf_eq6(q, alpha, alphas):
    msg = check_eq6_mix(q, alpha, alphas)
    assert msg is None, msg


def test_conditional_soft_mix_mutation_unit_weights_is_caught():
    """Mutation: k_i = 1 instead of alpha/alpha_i (the weight theory's `scale=False` drops)."""
    q = np.zeros((1,) + (A_MIX,) * N_MIX)
    q[0, 0, 1, 2], q[0, 2, 2, 0] = 1.0, -0.5
    assert check_eq6_mix(q, 1.0, [0.5, 2.0, 1.0]) is None
    assert check_eq6_mix(q, 1.0, [0.5, 2.0, 1.0], k=np.ones(N_MIX)) is not None


# ===========================================================================
# 5. Factorizations: chain-rule (autoregressive / MACPF conditional) policies
# ===========================================================================

N_F, A_F = 3, 3
JOINT_F = np.array(list(itertools.product(range(A_F), repeat=N_F)))


def _causal_rows(tables, order, actions, ignore_prefix: bool = False):
    """Row order[j] = tables[j][a_{order[0]}, ..., a_{order[j-1]}]: a causal conditional in `order`.
    `ignore_prefix` (mutation) reads every table at the all-zeros prefix."""
    t0, t1, t2 = tables
    prefix = jnp.zeros_like(actions) if ignore_prefix else actions[order]
    rows = jnp.stack([t0, t1[prefix[0]], t2[prefix[0], prefix[1]]])
    return jnp.zeros((N_F, A_F), rows.dtype).at[order].set(rows)


@partial(jax.jit, static_argnames="ignore_prefix")
def _chain_joint_log_probs(ind, tables, avail, order, ignore_prefix=False):
    """log prod_i pi_i(a_i | a_<i) for every joint action (teacher forcing), with MACPF eq. 10's
    dependent logits = independent logits + correction, masked."""

    def joint(a):
        logits = fz.conditional_logits(ind, _causal_rows(tables, order, a, ignore_prefix), avail)
        return jnp.sum(fz.log_prob(logits, a))

    return jax.vmap(joint)(JOINT_F)


@jax.jit
def _chain_samples(key, ind, tables, avail, order):
    def fn(a):
        return fz.conditional_logits(ind, _causal_rows(tables, order, a), avail)

    actions, logp = jax.vmap(lambda k: fz.autoregressive_sample(k, fn, order))(jax.random.split(key, N_MC))
    return actions, jnp.sum(logp, axis=-1)


@st.composite
def chain_cases(draw):
    ind = draw(int_table((N_F, A_F), -4, 4, 0.5))
    tables = tuple(draw(int_table((A_F,) * (j + 1), -4, 4, 0.5)) for j in range(N_F))
    avail = draw(avail_masks((N_F, A_F)))
    order = np.asarray(draw(st.permutations(range(N_F))), dtype=np.int32)
    return ind, tables, avail, order


def tabular_chain_joint(ind, tables, avail, order) -> np.ndarray:
    """theory.tabular.chain_policy of the same conditionals (float64), axes back in agent order."""
    conds = []
    for j, t in enumerate(tables):
        agent = order[j]
        conds.append(masked_softmax(ind[agent] + t, avail[agent])[None])
    joint = chain_policy(conds)[0]
    return np.transpose(joint, np.argsort(order))


def check_chain(ind, tables, avail, order, ignore_prefix: bool = False) -> str | None:
    logp = _chain_joint_log_probs(f32(ind), tuple(f32(t) for t in tables), avail, order, ignore_prefix=ignore_prefix)
    got = np.exp(np.asarray(logp, np.float64)).reshape((A_F,) * N_F)
    return mismatch(got, tabular_chain_joint(ind, tables, avail, order), what="chain joint")


@given(chain_cases())
def test_conditional_logits_give_the_tabular_chain_policy(case):
    """For every joint action, prod_i softmax(`fz.conditional_logits`)(a_i | a_<i) (in any agent
    order) equals theory.tabular.chain_policy of the same conditionals; masked actions get 0."""
    msg = check_chain(*case)
    assert msg is None, msg


@given(chain_cases())
def test_autoregressive_sample_draws_from_the_tabular_chain_policy(case):
    """`fz.autoregressive_sample` in a random order: the per-agent log-probs it returns sum to
    log chain_policy(a) for every sample (1e-5), and its frequencies match chain_policy."""
    ind, tables, avail, order = case
    joint = tabular_chain_joint(ind, tables, avail, order)
    actions, logp = _chain_samples(jax.random.PRNGKey(1), f32(ind), tuple(f32(t) for t in tables), avail, order)
    actions = np.asarray(actions)
    p = joint[tuple(actions.T)]
    assert np.all(p > 0), "sampled a probability-0 joint action"
    msg = mismatch(np.asarray(logp), np.log(p), rtol=0, atol=1e-5, what="sampled log-prob")
    assert msg is None, msg
    freq = np.bincount(np.ravel_multi_index(tuple(actions.T), joint.shape), minlength=joint.size) / N_MC
    msg = mc_mismatch(freq, joint.ravel())
    assert msg is None, msg


@given(
    q=int_table((1,) + (A_F,) * N_F, -8, 8, 0.25),
    alpha=temperatures(),
    alphas=st.lists(temperatures(), min_size=3, max_size=3),
)
def test_conditional_logits_from_macpf_soft_qs_give_the_boltzmann_joint(q, alpha, alphas):
    """MACPF eqs. 3-6: conditional logits Q_i(a_<i, .)/alpha_i from theory.macpf.conditional_soft_qs,
    chained by the primitives, give chain_policy(conditional_policies_from_qs) = exp((Q_jt - V_jt)/alpha)."""
    qs, _ = macpf.conditional_soft_qs(q, alpha, alphas)
    tables = tuple(f32(qi[0] / ai) for qi, ai in zip(qs, alphas, strict=True))
    order = np.arange(N_F, dtype=np.int32)
    avail = np.ones((N_F, A_F), bool)
    logp = _chain_joint_log_probs(np.zeros((N_F, A_F), np.float32), tables, avail, order)
    got = np.exp(np.asarray(logp, np.float64)).reshape((A_F,) * N_F)
    want = chain_policy(macpf.conditional_policies_from_qs(qs, alphas))[0]
    msg = mismatch(got, want, what="chain of soft conditionals") or mismatch(
        got, boltzmann(q[0], alpha, axis=(0, 1, 2)), what="Boltzmann joint"
    )
    assert msg is None, msg


def test_chain_mutation_ignoring_the_prefix_is_caught():
    """Mutation: every agent reads its conditional at the all-zeros prefix (an independent policy)."""
    ind = np.zeros((N_F, A_F))
    tables = (np.zeros(A_F), np.eye(A_F) * 2.0, np.zeros((A_F,) * 3))
    avail, order = np.ones((N_F, A_F), bool), np.arange(N_F, dtype=np.int32)
    assert check_chain(ind, tables, avail, order) is None
    assert check_chain(ind, tables, avail, order, ignore_prefix=True) is not None
