"""The autoregressive joint policy (`nn.AutoregressivePolicy`) and its sampler
(`primitives.factorization.autoregressive_sample`): shapes, causality of the decoder,
agreement of sequential sampling with parallel (teacher-forced) evaluation, and a
hand-written autoregressive policy that must always coordinate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.nn import AutoregressivePolicy
from marlspec.primitives import factorization as fz

N, A, D = 4, 5, 7


@pytest.fixture(scope="module")
def policy() -> AutoregressivePolicy:
    return AutoregressivePolicy(D, A, dim=16, blocks=1, heads=2, key=jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def inputs() -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(1), (N, D))


def test_shapes(policy, inputs):
    avail = jnp.ones((N, A), bool)
    order = jnp.array([2, 0, 3, 1])
    rep, values = policy.encode(inputs)
    assert rep.shape == (N, 16) and values.shape == (N,)
    actions, logp, v = policy.sample(jax.random.PRNGKey(2), inputs, avail, order)
    assert actions.shape == (N,) and actions.dtype == jnp.int32 and logp.shape == (N,)
    logits, v2 = policy.conditional_logits(inputs, actions, avail, order)
    assert logits.shape == (N, A)
    np.testing.assert_allclose(v, v2, rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agent_logits_do_not_depend_on_later_agents_actions(policy, inputs, seed):
    key = jax.random.PRNGKey(10 + seed)
    k_order, k_a, k_b = jax.random.split(key, 3)
    order = jax.random.permutation(k_order, N)
    avail = jnp.ones((N, A), bool)
    actions = jax.random.randint(k_a, (N,), 0, A)
    evaluate = jax.jit(lambda a: policy.conditional_logits(inputs, a, avail, order)[0])
    logits = evaluate(actions)
    for j in range(N):
        later = order[j:]
        changed = actions.at[later].set((actions[later] + 1 + jax.random.randint(k_b, later.shape, 0, A - 1)) % A)
        other = evaluate(changed)
        # Agents at positions 0..j see none of the changed actions.
        np.testing.assert_allclose(other[order[: j + 1]], logits[order[: j + 1]], atol=1e-6)
        if j + 1 < N:  # ...while the next agent does condition on agent order[j]'s action.
            assert float(jnp.abs(other[order[j + 1]] - logits[order[j + 1]]).max()) > 1e-6


def test_sequential_sampling_agrees_with_parallel_evaluation(policy, inputs):
    avail = jnp.ones((N, A), bool).at[:, 0].set(False)
    order = jnp.array([3, 1, 0, 2])
    @jax.jit
    def sample_then_evaluate(keys):
        actions, logp, _ = jax.vmap(lambda k: policy.sample(k, inputs, avail, order))(keys)
        logits, _ = jax.vmap(lambda a: policy.conditional_logits(inputs, a, avail, order))(actions)
        greedy, _, _ = policy.sample(keys[0], inputs, avail, order, greedy=True)
        return actions, logp, fz.log_prob(logits, actions), greedy, policy.conditional_logits(inputs, greedy, avail, order)[0]

    actions, logp, parallel_logp, greedy, g_logits = sample_then_evaluate(jax.random.split(jax.random.PRNGKey(3), 8))
    np.testing.assert_allclose(logp, parallel_logp, atol=1e-5)
    assert bool(jnp.all(actions != 0))  # unavailable actions are never sampled
    np.testing.assert_array_equal(greedy, jnp.argmax(g_logits, -1))


def test_autoregressive_sample_coordinates_a_hand_written_policy():
    """MAGPO section 3: the first agent in the order plays 3 or 4 at random, the second always
    3, and the last completes the sum to 10. Any order must always hit the target."""
    order = jnp.array([2, 0, 1])
    values = jnp.arange(8)

    def conditional_logits(actions):
        first, second, last = order
        logits = jnp.full((3, 8), -1e9)
        logits = logits.at[first, 3].set(0.0).at[first, 4].set(0.0)
        logits = logits.at[second, 3].set(0.0)
        return logits.at[last].set(jnp.where(values == 10 - actions[first] - actions[second], 0.0, -1e9))

    draw = jax.jit(jax.vmap(lambda k: fz.autoregressive_sample(k, conditional_logits, order)))
    actions, logp = draw(jax.random.split(jax.random.PRNGKey(4), 256))
    assert bool(jnp.all(actions.sum(-1) == 10))
    np.testing.assert_allclose(logp[:, 1], 0.0, atol=1e-6)  # the completing agent is deterministic
    np.testing.assert_allclose(logp[:, 2], np.log(0.5), atol=1e-5)
    assert 0.35 < float((actions[:, 2] == 3).mean()) < 0.65
