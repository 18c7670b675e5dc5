"""Mixers, MACPF's conditional factorization and the soft objectives: their defining
properties, and agreement of plain, jitted and vmapped calls."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marlspec.nn.mixing import AttentionWeights, DependencyCorrection, Hypernet
from marlspec.primitives import factorization as fz
from marlspec.primitives import mixers, objectives
from marlspec.primitives.returns import td_lambda

N, A, E, S = 3, 4, 5, 6


def hyper(seed: int):
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    return (jax.random.normal(k[0], (N, E)), jax.random.normal(k[1], (E,)), jax.random.normal(k[2], (E,)),
            jax.random.normal(k[3], ()), jax.random.normal(k[4], (N,)) * 5)


@pytest.mark.parametrize("mixer", [mixers.qmix, mixers.linear_hypernet])
def test_hypernet_mixers_jit_vmap_plain_agree(mixer):
    batch = [hyper(s) for s in range(4)]
    plain = np.array([mixer(q, w1, b1, w2, b2) for w1, b1, w2, b2, q in batch])
    stacked = [jnp.stack(x) for x in zip(*batch, strict=True)]
    w1, b1, w2, b2, q = stacked
    np.testing.assert_allclose(jax.vmap(mixer)(q, w1, b1, w2, b2), plain, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.vmap(mixer))(q, w1, b1, w2, b2), plain, rtol=1e-5)


qmix_grad = jax.jit(jax.grad(mixers.qmix))
linear_grad = jax.jit(jax.grad(mixers.linear_hypernet))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_qmix_is_monotone_in_every_agent(seed):
    w1, b1, w2, b2, q = hyper(seed)
    grad = qmix_grad(q, w1, b1, w2, b2)
    assert np.all(np.asarray(grad) >= 0.0)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_linear_hypernet_is_sum_of_nonnegative_weighted_utilities(seed):
    w1, b1, w2, b2, q = hyper(seed)
    k, b = mixers.linear_hypernet_coefficients(w1, b1, w2, b2)
    assert np.all(np.asarray(k) >= 0.0)
    np.testing.assert_allclose(mixers.linear_hypernet(q, w1, b1, w2, b2), jnp.sum(k * q) + b, rtol=1e-5, atol=1e-4)
    # No non-linearity: exactly affine in the utilities, with gradient k.
    np.testing.assert_allclose(linear_grad(q, w1, b1, w2, b2), k, rtol=1e-5)


def test_vdn_and_hypernet_module_shapes():
    q = jnp.array([1.0, -2.0, 0.5])
    assert float(mixers.vdn(q)) == pytest.approx(-0.5)
    net = Hypernet(S, N, E, 7, key=jax.random.PRNGKey(0))
    w1, b1, w2, b2 = net(jnp.ones((S,)))
    assert w1.shape == (N, E) and b1.shape == (E,) and w2.shape == (E,) and b2.shape == ()


def test_fop_igo_matches_its_formula_and_soft_value():
    rng = np.random.default_rng(0)
    q_all = jnp.asarray(rng.normal(size=(N, A)), jnp.float32)
    avail = jnp.ones((N, A), bool).at[0, 3].set(False)
    actions = np.array([0, 2, 1])
    w = jnp.asarray(rng.random(N), jnp.float32)
    alpha = 0.3
    qn, an = np.asarray(q_all), np.asarray(avail)
    v_i = np.array([alpha * np.log(np.exp(qn[i][an[i]] / alpha).sum()) for i in range(N)])
    np.testing.assert_allclose(mixers.soft_value(q_all, avail, alpha), v_i, rtol=1e-5)
    qs = qn[np.arange(N), actions]
    want = np.sum(np.asarray(w) * (qs - v_i)) + 1.5
    got = mixers.fop_igo(jnp.asarray(qs), q_all, avail, w, jnp.asarray(1.5), alpha)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    weights, v = AttentionWeights(S, 4, 2, 8, 16, key=jax.random.PRNGKey(1))(jnp.ones((S,)), jnp.ones((N, 4)))
    assert weights.shape == (N,) and np.all(np.asarray(weights) >= 0) and v.shape == ()
    np.testing.assert_allclose(weights.sum(), 2.0, rtol=1e-5)  # each head's softmax sums to 1


def test_conditional_soft_mix_is_eq6_and_its_joint_is_boltzmann():
    """MACPF eq. 6 with alpha / alpha_i = k_i: sum_i k_i [Q_i - V_i] + b with V_i at temperature
    alpha / k_i; a two-agent table of conditional utilities then gives Q_jt whose Boltzmann
    distribution at alpha is the chain-rule product of the agents' softmax(k_i Q_i / alpha)."""
    rng = np.random.default_rng(1)
    alpha, b = 0.4, jnp.asarray(0.7)
    k = np.array([0.5, 2.0])
    q0 = rng.normal(size=A)  # agent 0: Q_0(a_0)
    q1 = rng.normal(size=(A, A))  # agent 1: Q_1(a_1 | a_0), row a_0
    avail = jnp.ones((2, A), bool)
    table = np.zeros((A, A))
    for a0, a1 in itertools.product(range(A), range(A)):
        q_all = jnp.asarray(np.stack([q0, q1[a0]]), jnp.float32)
        qs = jnp.asarray([q0[a0], q1[a0, a1]], jnp.float32)
        table[a0, a1] = mixers.conditional_soft_mix(qs, q_all, avail, jnp.asarray(k, jnp.float32), b, alpha)
        alphas = alpha / k
        v = [alphas[0] * np.log(np.exp(q0 / alphas[0]).sum()), alphas[1] * np.log(np.exp(q1[a0] / alphas[1]).sum())]
        want = k[0] * (q0[a0] - v[0]) + k[1] * (q1[a0, a1] - v[1]) + 0.7
        assert table[a0, a1] == pytest.approx(want, rel=1e-4, abs=1e-4)
    boltzmann = np.exp(table / alpha) / np.exp(table / alpha).sum()
    p0 = np.exp(k[0] * q0 / alpha) / np.exp(k[0] * q0 / alpha).sum()
    p1 = np.exp(k[1] * q1 / alpha) / np.exp(k[1] * q1 / alpha).sum(-1, keepdims=True)
    np.testing.assert_allclose(boltzmann, p0[:, None] * p1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(alpha * np.log(np.exp(table / alpha).sum()), 0.7, rtol=1e-4)  # V_jt = b(s)
    # An absent agent contributes nothing.
    present = jnp.asarray([1.0, 0.0])
    q_all = jnp.asarray(np.stack([q0, q1[0]]), jnp.float32)
    got = mixers.conditional_soft_mix(q_all[:, 0], q_all, avail, jnp.asarray(k, jnp.float32), b, alpha, present)
    want = k[0] * q0[0] - alpha * np.log(np.exp(k[0] * q0 / alpha).sum()) + 0.7
    assert float(got) == pytest.approx(want, rel=1e-4)


# ------------------------------------------------------------------ conditional


def correction_net(seed: int = 0) -> DependencyCorrection:
    return DependencyCorrection(N, A, 8, 16, key=jax.random.PRNGKey(seed))


def test_dependent_logits_of_agent_i_ignore_agents_from_i_on():
    net = eqx.filter_jit(correction_net())
    h = jax.random.normal(jax.random.PRNGKey(2), (N, 8))
    base = np.array([1, 2, 3])
    out = net(h, jnp.asarray(base))
    for i in range(N):
        for later in itertools.product(range(A), repeat=N - i):
            actions = base.copy()
            actions[i:] = later
            np.testing.assert_allclose(net(h, jnp.asarray(actions))[i], out[i], atol=1e-6)
    # and it does read the earlier agents
    assert not np.allclose(net(h, jnp.asarray([0, 2, 3]))[2], out[2])
    # agent 0 sees nobody: its summary is zero
    np.testing.assert_allclose(fz.dependency_summary(jnp.ones((N, 2)))[0], 0.0)


def test_first_agent_correction_flag():
    """Authors' code: agent 0's correction reads [h_0, 0] and is not zero. With the flag off,
    agent 0's row is exactly zero (pi_0^dep = pi_0^ind) and the other rows are unchanged."""
    h = jax.random.normal(jax.random.PRNGKey(2), (N, 8))
    actions = jnp.array([1, 2, 3])
    with_first = correction_net(1)(h, actions)
    without = DependencyCorrection(N, A, 8, 16, first_agent=False, key=jax.random.PRNGKey(1))(h, actions)
    assert np.abs(np.asarray(with_first[0])).max() > 0
    np.testing.assert_array_equal(np.asarray(without[0]), 0.0)
    np.testing.assert_allclose(without[1:], with_first[1:], atol=1e-7)


def chain(net: DependencyCorrection, h, ind_logits, avail):
    return lambda actions: fz.conditional_logits(ind_logits, net(h, actions), avail)


def test_conditional_sample_follows_the_chain_rule():
    net = correction_net(3)
    k1, k2 = jax.random.split(jax.random.PRNGKey(4))
    h = jax.random.normal(k1, (N, 8)) * 3
    ind = jax.random.normal(k2, (N, A))
    avail = jnp.ones((N, A), bool).at[1, 0].set(False)
    fn = jax.jit(chain(net, h, ind, avail))
    # exact joint from the chain rule
    joint = {}
    for a in itertools.product(range(A), repeat=N):
        lp = np.asarray(jax.nn.log_softmax(fn(jnp.array(a)), axis=-1))
        joint[a] = float(np.exp(sum(lp[i, a[i]] for i in range(N))))
    assert sum(joint.values()) == pytest.approx(1.0, abs=1e-4)
    keys = jax.random.split(jax.random.PRNGKey(5), 20_000)
    samples, logits = jax.jit(jax.vmap(lambda k: fz.conditional_sample(k, fn, N)))(keys)
    assert not np.any(np.asarray(samples[:, 1]) == 0)  # unavailable action never drawn
    counts = {}
    for a in map(tuple, np.asarray(samples)):
        counts[a] = counts.get(a, 0) + 1
    top = sorted(joint, key=joint.get, reverse=True)[:5]
    for a in top:
        assert counts.get(a, 0) / len(keys) == pytest.approx(joint[a], abs=0.015)
    # the returned logits are each agent's conditional given the drawn earlier actions
    np.testing.assert_allclose(logits[0], fn(samples[0]), atol=1e-5)
    # greedy: the sequential argmax
    greedy, _ = fz.conditional_sample(keys[0], fn, N, greedy=True)
    want = jnp.zeros((N,), jnp.int32)
    for i in range(N):
        want = want.at[i].set(jnp.argmax(fn(want)[i]))
    np.testing.assert_array_equal(greedy, want)


def test_conditional_logits_train_only_the_correction():
    ind, corr = jnp.ones((N, A)), jnp.zeros((N, A))
    avail = jnp.ones((N, A), bool)
    f = lambda i, c: jax.nn.log_softmax(fz.conditional_logits(i, c, avail))[0, 1]
    g_ind, g_corr = jax.grad(f, argnums=(0, 1))(ind, corr)
    assert np.all(np.asarray(g_ind) == 0.0) and np.any(np.asarray(g_corr) != 0.0)


def test_epsilon_soft_and_greedy():
    logits = jnp.array([[5.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    avail = jnp.array([[True, True, False], [True, True, True]])
    p = jax.nn.softmax(fz.epsilon_soft(logits, avail, 0.3), axis=-1)
    pi = jax.nn.softmax(fz.mask_logits(logits, avail), axis=-1)
    np.testing.assert_allclose(p[0], 0.7 * pi[0] + 0.3 * jnp.array([0.5, 0.5, 0.0]), atol=1e-6)
    np.testing.assert_allclose(p[1], jnp.full(3, 1 / 3), atol=1e-6)
    acts = jax.vmap(lambda k: fz.epsilon_greedy(k, logits, avail, 0.0))(jax.random.split(jax.random.PRNGKey(0), 8))
    assert np.all(np.asarray(acts[:, 0]) == 0)
    acts = jax.vmap(lambda k: fz.epsilon_greedy(k, logits, avail, 1.0))(jax.random.split(jax.random.PRNGKey(0), 500))
    assert not np.any(np.asarray(acts[:, 0]) == 2)
    assert 0.3 < float(np.mean(np.asarray(acts[:, 0]) == 1)) < 0.7


# ------------------------------------------------------------------ objectives


def test_soft_actor_loss_is_minimised_by_the_boltzmann_policy():
    q = jnp.array([[1.0, 2.0, -1.0, 0.5]])
    alpha = 0.7
    boltzmann = jnp.log(jax.nn.softmax(q / alpha, axis=-1))
    grad = jax.grad(lambda lg: objectives.soft_actor_loss(lg, q, alpha).sum())(boltzmann)
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)
    # value at the minimum is -V = -alpha logsumexp(Q / alpha)
    np.testing.assert_allclose(objectives.soft_actor_loss(boltzmann, q, alpha), -alpha * jax.nn.logsumexp(q / alpha), rtol=1e-5)
    other = objectives.soft_actor_loss(jnp.zeros_like(q), q, alpha)
    assert float(other[0]) > float(-alpha * jax.nn.logsumexp(q / alpha))
    # the critic gets no gradient from the actor loss
    assert np.all(np.asarray(jax.grad(lambda qq: objectives.soft_actor_loss(boltzmann, qq, alpha).sum())(q)) == 0)


def test_soft_td_target_is_td_lambda_on_soft_values():
    rng = np.random.default_rng(1)
    T = 9
    r, nq, nlp = (jnp.asarray(rng.normal(size=T), jnp.float32) for _ in range(3))
    term = jnp.zeros(T, bool).at[4].set(True)
    trunc = jnp.zeros(T, bool).at[-1].set(True)
    gamma, alpha = 0.9, 0.2
    one_step = objectives.soft_td_target(r, nq, nlp, term, trunc, gamma, 0.0, alpha)
    np.testing.assert_allclose(one_step, r + gamma * (~term) * (nq - alpha * nlp), rtol=1e-5)
    lam = objectives.soft_td_target(r, nq, nlp, term, trunc, gamma, 0.8, alpha)
    np.testing.assert_allclose(lam, td_lambda(r, nq - alpha * nlp, term, trunc, gamma, 0.8), rtol=1e-5)
    batched = jax.jit(jax.vmap(lambda *a: objectives.soft_td_target(*a, gamma, 0.8, alpha)))(
        *(jnp.stack([x, x]) for x in (r, nq, nlp, term, trunc))
    )
    np.testing.assert_allclose(batched[1], lam, rtol=1e-5)
