"""Built-in environments: payoffs, CoordSum's rules, and the auto-reset wrapper."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.envs import AutoReset, CoordSum, MatrixGame, penalty
from marlspec.envs.matrix import NONMONOTONIC

KEY = jax.random.PRNGKey(0)


def test_matrix_game_pays_the_joint_action():
    env = MatrixGame(penalty(-100.0))
    s, _ = env.reset(KEY)
    for a, want in [((0, 2), 10.0), ((2, 0), 10.0), ((1, 1), 2.0), ((0, 0), -100.0), ((0, 1), 0.0)]:
        _, ts = env.step(KEY, s, jnp.array(a))
        assert float(ts.reward) == want
        assert bool(ts.terminated) and not bool(ts.truncated)


def test_nonmonotonic_game_optimum():
    env = MatrixGame(NONMONOTONIC)
    s, _ = env.reset(KEY)
    assert float(env.step(KEY, s, jnp.array([0, 0]))[1].reward) == 8.0


def test_three_agent_custom_payoff_and_repeated_game():
    payoff = np.arange(8, dtype=float).reshape(2, 2, 2)
    env = MatrixGame(payoff, episode_length=3)
    s, ts = env.reset(KEY)
    assert ts.obs.shape == (3, env.info.obs_dim)
    s, ts = env.step(KEY, s, jnp.array([1, 0, 1]))
    assert float(ts.reward) == 5.0 and not bool(ts.done)
    assert np.asarray(ts.obs[0, :6]).tolist() == [0, 1, 1, 0, 0, 1]  # last joint action as one-hots
    s, ts = env.step(KEY, s, jnp.array([0, 0, 0]))
    s, ts = env.step(KEY, s, jnp.array([0, 0, 0]))
    assert bool(ts.terminated)


def _coordsum_step(env, state, actions):
    return env.step(KEY, state, jnp.array(actions, dtype=jnp.int32))


def test_coordsum_rewards_and_guesser():
    env = CoordSum(2, 10, 10, time_limit=5)
    s, ts = env.reset(KEY)
    s = type(s)(targets=jnp.full_like(s.targets, 7), t=s.t, counts=s.counts)
    s, ts = _coordsum_step(env, s, [3, 4])  # hit; no history, guess 0 != 3 -> 2
    assert float(ts.reward) == 2.0
    s, ts = _coordsum_step(env, s, [3, 4])  # hit; guess is now 3 == agent 0 -> 1
    assert float(ts.reward) == 1.0
    s, ts = _coordsum_step(env, s, [2, 4])  # miss
    assert float(ts.reward) == 0.0
    s, ts = _coordsum_step(env, s, [2, 5])  # hit; counts for target 7: {3: 2, 2: 1} -> guess 3 != 2 -> 2
    assert float(ts.reward) == 2.0
    assert ts.reward.dtype == jnp.float32
    s, ts = _coordsum_step(env, s, [0, 0])
    assert bool(ts.terminated) and int(s.t) == 5


def test_coordsum_reference_quirk_shares_rows():
    paper = CoordSum(2, 4, 10, reference_quirk=False)
    quirk = CoordSum(2, 4, 10, reference_quirk=True)
    s_p, _ = paper.reset(KEY)
    s_q, _ = quirk.reset(KEY)
    targets = jnp.array([5, 6] * 51, dtype=jnp.int32)
    s_p = type(s_p)(targets=targets, t=s_p.t, counts=s_p.counts)
    s_q = type(s_q)(targets=targets, t=s_q.t, counts=s_q.counts)
    # Target 5 with a0=2, then target 6 with a0=2: the quirk's shared row has seen 2 already.
    s_p, _ = _coordsum_step(paper, s_p, [2, 3])
    s_q, _ = _coordsum_step(quirk, s_q, [2, 3])
    _, ts_p = _coordsum_step(paper, s_p, [2, 4])
    _, ts_q = _coordsum_step(quirk, s_q, [2, 4])
    assert float(ts_p.reward) == 2.0 and float(ts_q.reward) == 1.0


def test_coordsum_observations():
    env = CoordSum(3, 10, 30)
    s, ts = env.reset(KEY)
    assert ts.obs.shape == (3, env.info.obs_dim)
    assert int(jnp.argmax(ts.obs[0, :30])) == int(s.targets[0])
    np.testing.assert_array_equal(ts.obs[:, -3:], np.eye(3))  # agent ids


@pytest.mark.parametrize("num_envs", [1, 3])
def test_autoreset_keeps_final_observation_and_restarts(num_envs):
    env = CoordSum(2, 4, 8, time_limit=3)
    wrapped = AutoReset(env, num_envs)
    state, ts = wrapped.reset(KEY)
    actions = jnp.zeros((num_envs, 2), jnp.int32)
    for t in range(3):
        prev_t = state.env_state.t
        state, ts = wrapped.step(jax.random.PRNGKey(t), state, actions)
    assert bool(ts.terminated.all())
    # final_obs carries the last step fraction (3/3); obs is the new episode's first (0/3).
    assert np.allclose(ts.info["final_obs"][:, 0, 8], 1.0)
    assert np.allclose(ts.obs[:, 0, 8], 0.0)
    assert (np.asarray(state.env_state.t) == 0).all() and (np.asarray(prev_t) == 2).all()
    assert (np.asarray(ts.info["episode_length"]) == 3).all()
    assert (np.asarray(state.stats.length) == 0).all()
