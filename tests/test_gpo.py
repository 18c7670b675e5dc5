"""MAGPO's objectives (`marlspec.primitives.gpo`, eqs. 9-12) and HAPPO's clip: hand-computed
cases, the paper's probability-space form against the log-space implementation, gradient
flow, jit/vmap/plain agreement, and a tabular cross-check of the learner's distillation
against `theory` (the m-projection on MAGPO's section-3 sum game)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from marlspec.primitives import gpo
from marlspec.primitives.objectives import happo_clip, ppo_clip
from theory.magpo import sum_game, sum_game_teacher
from theory.tabular import conditionals, marginals, product_policy, uniform_policy, value

EPS = 0.2


def log(x: float) -> jax.Array:
    return jnp.log(jnp.asarray(x, jnp.float32))


def paper_surrogate(mu, pi, mu_old, adv, eps, delta):
    """MAGPO eq. 9-10 written in probability space, as printed (numpy, float64)."""
    ratio = mu / mu_old
    inner = np.clip(mu / pi, 1 / delta, delta) * pi / mu_old
    return -np.minimum(ratio * adv, np.clip(inner, 1 - eps, 1 + eps) * adv)


def random_case(seed: int, n: int = 64):
    rng = np.random.default_rng(seed)
    mu, pi, mu_old = (rng.uniform(0.02, 0.98, n) for _ in range(3))
    adv = rng.normal(size=n)
    return mu, pi, mu_old, adv


@pytest.mark.parametrize("delta", [1.1, 1.5, 3.0])
def test_log_space_double_clip_matches_paper_form(delta):
    mu, pi, mu_old, adv = random_case(0)
    ours = gpo.guider_surrogate(jnp.log(mu), jnp.log(pi), jnp.log(mu_old), jnp.asarray(adv, jnp.float32), EPS, delta)
    np.testing.assert_allclose(np.asarray(ours), paper_surrogate(mu, pi, mu_old, adv, EPS, delta), rtol=1e-5, atol=1e-6)


def test_hand_computed_guider_cases():
    grad = jax.jit(jax.grad(lambda lg, ll, lb, a: gpo.guider_surrogate(lg, ll, lb, a, EPS, 1.5)))
    # mu/pi = 0.6/0.3 = 2 > delta: the inner clip holds the ratio at 1.5, so the term is
    # clip(1.5 * 0.3 / 0.5, 0.8, 1.2) = 0.9 < r = 1.2, and the guider gets no gradient.
    lg, ll, lb, a = log(0.6), log(0.3), log(0.5), jnp.float32(1.0)
    assert gpo.guider_surrogate(lg, ll, lb, a, EPS, 1.5) == pytest.approx(-0.9, abs=1e-6)
    assert grad(lg, ll, lb, a) == 0.0
    assert gpo.guider_kl_mask(lg, ll, 1.5) == 1.0
    # Inside the box (mu/pi = 0.35/0.3) and on-policy (mu = mu_old): plain PPO, d/dlog mu = -A r = -1.
    lg, ll, lb = log(0.35), log(0.3), log(0.35)
    assert gpo.guider_surrogate(lg, ll, lb, a, EPS, 1.5) == pytest.approx(-1.0, abs=1e-6)
    assert grad(lg, ll, lb, a) == pytest.approx(-1.0, abs=1e-6)
    assert gpo.guider_kl_mask(lg, ll, 1.5) == 0.0
    # A negative advantage pushing the guider further *below* the learner is clipped too.
    lg, ll, lb, a = log(0.1), log(0.3), log(0.12), jnp.float32(-1.0)
    assert grad(lg, ll, lb, a) == 0.0
    assert gpo.guider_kl_mask(lg, ll, 1.5) == 1.0


def test_mask_is_outside_the_open_interval():
    ll = jnp.zeros((5,))
    lg = jnp.log(jnp.array([0.5, 1 / 1.5 - 1e-3, 1.0, 1.5 + 1e-3, 2.0]))
    np.testing.assert_array_equal(np.asarray(gpo.guider_kl_mask(lg, ll, 1.5)), [1, 1, 0, 1, 1])


def test_infinite_delta_is_ppo_and_never_masks():
    mu, pi, mu_old, adv = (jnp.asarray(x, jnp.float32) for x in random_case(1))
    lg, ll, lb = jnp.log(mu), jnp.log(pi), jnp.log(mu_old)
    np.testing.assert_allclose(gpo.guider_surrogate(lg, ll, lb, adv, EPS, math.inf), ppo_clip(lg, lb, adv, EPS), rtol=1e-6)
    assert float(gpo.guider_kl_mask(lg, ll, math.inf).sum()) == 0.0
    with pytest.raises(ValueError, match="delta must be > 1"):
        gpo.guider_surrogate(lg, ll, lb, adv, EPS, 1.0)


def logits_case(seed: int, shape=(6, 3, 5)):
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    g, lrn = jax.random.normal(k[0], shape), jax.random.normal(k[1], shape)
    actions = jax.random.randint(k[2], shape[:-1], 0, shape[-1])
    lb = jax.nn.log_softmax(jax.random.normal(k[3], shape))
    lb = jnp.take_along_axis(lb, actions[..., None], -1)[..., 0]
    adv = jax.random.normal(k[4], shape[:-1])
    pick = lambda logits: jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None], -1)[..., 0]
    return g, lrn, pick, lb, adv


def both_objectives(g, lrn, pick, lb, adv):
    guider = gpo.guider_objective(g, lrn, pick(g), pick(lrn), lb, adv, EPS, 1.5)
    learner = gpo.learner_objective(lrn, g, pick(lrn), lb, adv, EPS, 1.0)
    return guider, learner


def test_jit_vmap_and_plain_calls_agree():
    g, lrn, pick, lb, adv = logits_case(2)
    lg, ll = pick(g), pick(lrn)
    plain = (gpo.guider_objective(g, lrn, lg, ll, lb, adv, EPS, 1.5), gpo.learner_objective(lrn, g, ll, lb, adv, EPS, 1.0))
    jitted = jax.jit(lambda *a: (gpo.guider_objective(*a[:5], a[5], EPS, 1.5),
                                 gpo.learner_objective(a[1], a[0], a[3], a[4], a[5], EPS, 1.0)))(g, lrn, lg, ll, lb, adv)
    per_row = jax.vmap(lambda *a: (gpo.guider_objective(*a[:5], a[5], EPS, 1.5),
                                   gpo.learner_objective(a[1], a[0], a[3], a[4], a[5], EPS, 1.0)))(g, lrn, lg, ll, lb, adv)
    for other in (jitted, per_row):
        for x, y in zip(jax.tree.leaves(plain), jax.tree.leaves(other), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    (loss, surrogate, masked_kl), (l_loss, kl, rl) = plain
    np.testing.assert_allclose(loss, surrogate + masked_kl, rtol=1e-6)
    np.testing.assert_allclose(l_loss, kl + 1.0 * rl, rtol=1e-6)
    assert loss.shape == kl.shape == adv.shape


def test_each_objective_holds_the_other_network_fixed():
    g, lrn, pick, lb, adv = logits_case(3)
    guider_loss = lambda g_, l_: gpo.guider_objective(g_, l_, pick(g_), pick(l_), lb, adv, EPS, 1.5)[0].sum()
    learner_loss = lambda l_, g_: gpo.learner_objective(l_, g_, pick(l_), lb, adv, EPS, 1.0)[0].sum()
    grads = jax.jit(lambda g_, l_: (jax.grad(guider_loss, argnums=(0, 1))(g_, l_), jax.grad(learner_loss, argnums=1)(l_, g_)))
    (to_guider, to_learner), learner_to_guider = grads(g, lrn)
    assert float(jnp.abs(to_learner).max()) == 0.0
    assert float(jnp.abs(learner_to_guider).max()) == 0.0
    assert float(jnp.abs(to_guider).max()) > 0.0


def test_learner_kl_gradient_and_directions():
    g, lrn, pick, lb, adv = logits_case(4)
    fwd = lambda l_: gpo.learner_objective(l_, g, pick(l_), lb, adv, EPS, 0.0)[0].sum()
    # d KL(mu || softmax(theta)) / d theta = softmax(theta) - mu.
    np.testing.assert_allclose(jax.jit(jax.grad(fwd))(lrn), jax.nn.softmax(lrn) - jax.nn.softmax(g), atol=1e-6)
    rev = gpo.learner_objective(lrn, g, pick(lrn), lb, adv, EPS, 0.0, "reverse")[1]
    np.testing.assert_allclose(rev, gpo.categorical_kl(lrn, g), rtol=1e-6)
    # lambda > 0 adds PPO clip with the ratio against the behaviour log-prob (eq. 12).
    _, _, rl = gpo.learner_objective(lrn, g, pick(lrn), lb, adv, EPS, 2.0)
    np.testing.assert_allclose(rl, ppo_clip(pick(lrn), lb, adv, EPS), rtol=1e-6)


def test_categorical_kl_ignores_masked_actions():
    p = jnp.array([0.0, 1.0, -1e9])
    q = jnp.array([1.0, 0.0, -1e9])
    expected = float(gpo.categorical_kl(p[:2], q[:2]))
    assert float(gpo.categorical_kl(p, q)) == pytest.approx(expected, rel=1e-6)
    assert float(gpo.categorical_kl(p, p)) == pytest.approx(0.0, abs=1e-7)


def test_happo_clip_reduces_to_ppo_and_weights_by_the_factor():
    mu, _, mu_old, adv = (jnp.asarray(x, jnp.float32) for x in random_case(5))
    lp, old = jnp.log(mu), jnp.log(mu_old)
    np.testing.assert_allclose(happo_clip(lp, old, adv, jnp.ones_like(adv), EPS), ppo_clip(lp, old, adv, EPS), rtol=1e-6)
    # With M > 0 the objective is PPO on the advantage M A; M gets no gradient.
    m = jnp.linspace(0.5, 2.0, adv.shape[0])
    np.testing.assert_allclose(happo_clip(lp, old, adv, m, EPS), ppo_clip(lp, old, m * adv, EPS), rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(jax.grad(lambda f: happo_clip(lp, old, adv, f, EPS).sum())(m)).max()) == 0.0


def test_learner_distillation_reaches_the_m_projection_of_the_sum_game_teacher():
    """Tabular cross-check with `theory`: minimising the learner objective (forward KL,
    lambda = 0) on data from an autoregressive guider, with the guider's conditionals given
    the sampled prefixes, converges to the product of the guider's marginals
    (`theory.tabular.marginals`, the m-projection). For MAGPO's section-3 teacher (agent 0
    plays 3 or 4, agent 2 compensates) that product succeeds only about half the time: the
    imitation gap CTDS suffers from."""
    game = sum_game(3, n_values=8, target=10)
    teacher = 0.95 * sum_game_teacher(game) + 0.05 * uniform_policy(game)
    conds = conditionals(teacher)  # chain factors in order 0, 1, 2
    a = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    weights = jnp.asarray(teacher[0].reshape(-1), jnp.float32)
    guider_logits = jnp.log(jnp.asarray(np.stack(
        [np.broadcast_to(conds[0][0], (len(a), 8)), conds[1][0][a[:, 0]], conds[2][0][a[:, 0], a[:, 1]]], 1),
        jnp.float32))
    actions = jnp.asarray(a)
    zeros = jnp.zeros(actions.shape)

    def loss(theta):
        learner = jnp.broadcast_to(theta, guider_logits.shape)
        lp = jnp.take_along_axis(jax.nn.log_softmax(learner), actions[..., None], -1)[..., 0]
        per_step, _, _ = gpo.learner_objective(learner, guider_logits, lp, lp, zeros, EPS, 0.0)
        return (weights[:, None] * per_step).sum()

    opt = optax.adam(0.1)

    @jax.jit
    def fit(theta):
        def step(carry, _):
            th, s = carry
            updates, s = opt.update(jax.grad(loss)(th), s)
            return (optax.apply_updates(th, updates), s), None

        return jax.lax.scan(step, (theta, opt.init(theta)), None, length=600)[0][0]

    learned = np.asarray(jax.nn.softmax(fit(jnp.zeros((3, 8)))), np.float64)
    expected = marginals(teacher)
    for i in range(3):
        np.testing.assert_allclose(learned[i], expected[i][0], atol=2e-3)
    distilled = value(game, product_policy([m[None] for m in learned]))
    assert distilled == pytest.approx(value(game, product_policy(expected)), abs=5e-3)
    assert value(game, teacher) > 0.9 and distilled < 0.55
