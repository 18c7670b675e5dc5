"""Sable's retentive joint policy (`nn.RetentivePolicy`): the recurrent retention used here
equals the dense parallel form of RetNet/Sable (decay over timesteps, resets at episode
starts, a within-step mask over agents); the decoder is causal over agents; sequential
sampling with a carried memory agrees with the teacher-forced replay of the rollout; and the
memory reaches across steps of an episode but not across episodes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.nn.autoregressive import causal_mask
from marlspec.nn.retention import Retention, RetentivePolicy, head_decays
from marlspec.primitives import factorization as fz

T, N, A, D = 6, 3, 4, 5


def dense_retention(layer: Retention, q_in, kv_in, first, within) -> jax.Array:
    """RetNet's parallel form over all T*N tokens of a rollout, written out with an explicit
    decay matrix: D[l, m] = gamma^(t_l - t_m) if m is visible to l, else 0."""
    t_of = jnp.repeat(jnp.arange(T), N)
    agent_of = jnp.tile(jnp.arange(N), T)
    episode_of = jnp.repeat(jnp.cumsum(first), N)
    earlier = (t_of[None, :] < t_of[:, None]) & (episode_of[None, :] == episode_of[:, None])
    same_step = (t_of[None, :] == t_of[:, None]) & within[agent_of[:, None], agent_of[None, :]]
    visible = earlier | same_step
    h, dim = layer.heads, q_in.shape[-1]
    q = jax.vmap(layer.query)(q_in.reshape(T * N, -1)).reshape(T * N, h, -1)
    k = jax.vmap(layer.key)(kv_in.reshape(T * N, -1)).reshape(T * N, h, -1) * (dim // h) ** -0.5
    v = jax.vmap(layer.value)(kv_in.reshape(T * N, -1)).reshape(T * N, h, -1)
    gammas = jnp.asarray(layer.decays)
    decay = jnp.where(visible[None], gammas[:, None, None] ** (t_of[:, None] - t_of[None, :])[None], 0.0)
    ret = jnp.einsum("hlm,lhd,mhd,mhe->lhe", decay, q, k, v)
    centred = ret - ret.mean(-1, keepdims=True)
    normed = (centred * jax.lax.rsqrt((centred**2).mean(-1, keepdims=True) + 1e-5)).reshape(T * N, dim)
    normed = normed * layer.norm_weight[None] + layer.norm_bias[None]
    gated = jax.nn.swish(jax.vmap(layer.gate)(kv_in.reshape(T * N, -1))) * normed
    return jax.vmap(layer.out)(gated).reshape(T, N, dim)


@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_retention_equals_the_dense_parallel_form(masked):
    dim, heads = 8, 2
    layer = Retention(dim, heads, head_decays(heads, 0.8), key=jax.random.PRNGKey(0))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    q_in, kv_in = jax.random.normal(k1, (T, N, dim)), jax.random.normal(k2, (T, N, dim))
    first = jnp.array([True, False, False, True, False, False])
    within = causal_mask(N) if masked else jnp.ones((N, N), bool)

    def step(m, xs):
        q, kv, f = xs
        out, m = layer(jnp.where(f, 0.0, m), q, kv, within if masked else None)
        return m, out

    memory0 = jnp.zeros((heads, dim // heads, dim // heads))
    _, recurrent = jax.lax.scan(step, memory0, (q_in, kv_in, first))
    np.testing.assert_allclose(recurrent, dense_retention(layer, q_in, kv_in, first, within), atol=2e-5)


@pytest.fixture(scope="module")
def policy() -> RetentivePolicy:
    return RetentivePolicy(D, A, dim=16, blocks=2, heads=2, key=jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def rollout(policy):
    """Sample T steps agent by agent, carrying the memory (reset at episode starts), then
    replay the same steps teacher-forced with `sequence`, under one compiled program."""
    inputs = jax.random.normal(jax.random.PRNGKey(1), (T, N, D))
    avail = jnp.ones((T, N, A), bool).at[:, :, 0].set(False)
    first = jnp.array([True, False, False, False, True, False])
    order = jnp.array([2, 0, 1])

    @jax.jit
    def run(key):
        def step(m, xs):
            k, x, av, f = xs
            m = jax.tree.map(lambda leaf: jnp.where(f, 0.0, leaf), m)
            actions, logp, values, m = policy.sample(k, m, x, av, order)
            return m, (actions, logp, values)

        m0 = policy.initial_memory()
        _, (actions, logp, values) = jax.lax.scan(step, m0, (jax.random.split(key, T), inputs, avail, first))
        logits, v2, after = policy.sequence(m0, inputs, actions, avail, first, order)
        return actions, logp, values, logits, v2

    return (inputs, avail, first, order), run(jax.random.PRNGKey(2))


def test_sequential_sampling_agrees_with_the_replayed_rollout(rollout):
    _, (actions, logp, values, logits, v2) = rollout
    assert actions.shape == (T, N) and logits.shape == (T, N, A) and v2.shape == (T, N)
    assert bool(jnp.all(actions != 0))  # unavailable actions are never sampled
    np.testing.assert_allclose(logp, fz.log_prob(logits, actions), atol=1e-5)
    np.testing.assert_allclose(values, v2, atol=1e-5)


def test_memory_reaches_back_within_an_episode_but_not_across_episodes(policy, rollout):
    (inputs, avail, first, order), (actions, *_rest) = rollout
    replay = jax.jit(lambda x: policy.sequence(policy.initial_memory(), x, actions, avail, first, order)[0])
    base = replay(inputs)
    changed = replay(inputs.at[1].add(1.0))  # perturb step 1 of the first episode (steps 0-3)
    np.testing.assert_allclose(changed[:1], base[:1], atol=1e-6)  # the past is untouched
    assert float(jnp.abs(changed[2:4] - base[2:4]).max()) > 1e-5  # later steps remember it
    np.testing.assert_allclose(changed[4:], base[4:], atol=1e-6)  # the next episode does not


def test_decoder_is_causal_over_agents_within_a_step(policy, rollout):
    (inputs, avail, first, order), (actions, *_rest) = rollout
    memory = policy.initial_memory()
    step = jax.jit(lambda a: policy.step_logits(memory, inputs[0], a, avail[0], order)[0])
    logits = step(actions[0])
    for j in range(N):
        later = order[j:]
        other = step(actions[0].at[later].set(actions[0][later] % (A - 1) + 1))  # another available action
        np.testing.assert_allclose(other[order[: j + 1]], logits[order[: j + 1]], atol=1e-6)
        if j + 1 < N:
            assert float(jnp.abs(other[order[j + 1]] - logits[order[j + 1]]).max()) > 1e-6
