"""The episode replay: whole episodes assembled from consecutive rollouts of
auto-resetting environments, the final observation kept, only finished episodes sampled."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.algorithms.base import Trajectory
from marlspec.envs.base import EnvInfo
from marlspec.train.replay import EpisodeReplay

N, A, OBS, MAX = 2, 3, 1, 4
INFO = EnvInfo(name="test", num_agents=N, obs_dim=OBS, state_dim=1, action_type="discrete", num_actions=A, max_steps=MAX)


def make_stream(lengths: list[int], total: int):
    """One environment's steps: episodes of the given lengths back to back. The
    observation encodes (episode, step) as 10 * episode + step; the final
    observation of an episode is 10 * episode + length."""
    obs, nxt, done, ep_of = [], [], [], []
    e = 0
    while len(obs) < total:
        for t in range(lengths[e % len(lengths)]):
            obs.append(10 * e + t)
            nxt.append(10 * e + t + 1)
            done.append(t == lengths[e % len(lengths)] - 1)
            ep_of.append(e)
        e += 1
    return np.array(obs[:total], np.float32), np.array(nxt[:total], np.float32), np.array(done[:total]), ep_of[:total]


def trajectory(streams: list, start: int, T: int) -> Trajectory:
    o = np.stack([s[0][start:start + T] for s in streams], 1)  # [T, E]
    nx = np.stack([s[1][start:start + T] for s in streams], 1)
    d = np.stack([s[2][start:start + T] for s in streams], 1)
    Tn, E = o.shape
    obs = jnp.asarray(np.broadcast_to(o[..., None, None], (Tn, E, N, OBS)))
    nobs = jnp.asarray(np.broadcast_to(nx[..., None, None], (Tn, E, N, OBS)))
    return Trajectory(
        obs=obs, state=obs[:, :, 0], avail_actions=jnp.ones((Tn, E, N, A), bool), agent_mask=jnp.ones((Tn, E, N), bool),
        actions=jnp.asarray(np.broadcast_to(o[..., None] % A, (Tn, E, N)).astype(np.int32)),
        reward=jnp.asarray(o), terminated=jnp.asarray(d), truncated=jnp.zeros((Tn, E), bool),
        next_obs=nobs, next_state=nobs[:, :, 0], next_avail_actions=jnp.ones((Tn, E, N, A), bool),
        first=jnp.zeros((Tn, E), bool), extras={}, init_carry=(),
    )


def test_episodes_are_assembled_across_rollouts_and_keep_the_final_observation():
    replay = EpisodeReplay(capacity=16, max_steps=MAX, num_envs=2)
    streams = [make_stream([3, 1, 4], 12), make_stream([2], 12)]
    rs = replay.init(INFO)
    add = jax.jit(replay.add)
    for start in range(0, 12, 5):  # rollouts of 5, 5 and 2 steps cut episodes anywhere
        rs = add(rs, trajectory(streams, start, min(5, 12 - start)))
    complete = np.asarray(rs.complete)
    lengths = np.asarray(rs.episodes.length)
    obs = np.asarray(rs.episodes.obs[:, :, 0, 0])
    found = sorted((int(obs[s, 0]) // 10, int(lengths[s]), int(obs[s, 0]) % 10) for s in np.flatnonzero(complete))
    # in 12 steps env 0 finishes episodes of lengths 3, 1, 4, 3, 1; env 1 six of length 2.
    assert int(rs.added) == 5 + 6 == complete.sum()
    assert sorted(length for _, length, _ in found) == sorted([3, 1, 4, 3, 1] + [2] * 6)
    assert all(step0 == 0 for *_, step0 in found)  # every stored episode starts at its first step
    for s in np.flatnonzero(complete):
        n = lengths[s]
        np.testing.assert_array_equal(obs[s, : n + 1] - obs[s, 0], np.arange(n + 1))  # steps then the final obs
        assert bool(rs.episodes.terminated[s, n - 1]) and not np.any(np.asarray(rs.episodes.terminated[s, : n - 1]))
        np.testing.assert_array_equal(rs.episodes.reward[s, :n], obs[s, :n])


def test_the_ring_overwrites_the_oldest_episodes_and_never_one_being_written():
    replay = EpisodeReplay(capacity=10, max_steps=MAX, num_envs=2)
    streams = [make_stream([3, 1, 4], 30), make_stream([2], 30)]
    rs = replay.init(INFO)
    add = jax.jit(replay.add)
    for start in range(0, 30, 6):
        rs = add(rs, trajectory(streams, start, 6))
    complete = np.asarray(rs.complete)
    assert not complete[np.asarray(rs.slot)].any()
    assert complete.sum() == 10 - 2
    obs = np.asarray(rs.episodes.obs[:, :, 0, 0])
    for s in np.flatnonzero(complete):  # every surviving episode is whole and consistent
        n = int(rs.episodes.length[s])
        np.testing.assert_array_equal(obs[s, : n + 1] - obs[s, 0], np.arange(n + 1))
        assert obs[s, 0] % 10 == 0
    newest = sorted(obs[np.flatnonzero(complete), 0] // 10)
    assert max(newest) >= 14  # env 1 finished episodes 0..14 of length 2: the latest ones survive


def test_sampling_returns_distinct_complete_episodes():
    replay = EpisodeReplay(capacity=12, max_steps=MAX, num_envs=2)
    rs = jax.jit(replay.add)(replay.init(INFO), trajectory([make_stream([3], 7), make_stream([2], 7)], 0, 7))
    assert int(rs.complete.sum()) == 2 + 3
    assert bool(replay.can_sample(rs, 5)) and not bool(replay.can_sample(rs, 6))
    batch = jax.jit(replay.sample, static_argnums=2)(rs, jax.random.PRNGKey(0), 5)
    assert batch.obs.shape == (5, MAX + 1, N, OBS)
    firsts = np.asarray(batch.obs[:, 0, 0, 0])
    assert len(set(zip(firsts.tolist(), np.asarray(batch.length).tolist(), strict=True))) == 5  # distinct episodes
    assert np.all(firsts % 10 == 0)
    np.testing.assert_array_equal(np.asarray(batch.filled).sum(-1), np.asarray(batch.length))


def test_a_buffer_too_small_for_its_environments_is_refused():
    with pytest.raises(ValueError, match="buffer_size"):
        EpisodeReplay(capacity=8, max_steps=MAX, num_envs=2)
