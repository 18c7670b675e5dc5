"""SMAX with a random team per episode (`marlspec.envs.smax_teams`): every composition in one
compiled program, absent units invisible and inert, padded agent slots change nothing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.envs.base import entity_view, random_actions, state_entities
from marlspec.envs.smax_teams import SMAX_UNIT_TYPES, SMAXTeams

SLOTS = 5


@pytest.fixture(scope="module")
def env():
    return SMAXTeams((2, 4), None, ("stalker", "zealot"), SLOTS, max_steps=20)


@pytest.fixture(scope="module")
def resets(env):
    """64 resets in one compiled program (vmapped keys)."""
    return jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 64))


def test_team_sizes_and_types_are_drawn_per_episode(env, resets):
    state, ts = resets
    allies, enemies = np.asarray(state.allies), np.asarray(state.enemies)
    assert set(allies) == {2, 3, 4} and np.array_equal(allies, enemies)  # same size both sides by default
    np.testing.assert_array_equal(np.asarray(ts.agent_mask), np.arange(SLOTS)[None] < allies[:, None])
    alive = np.asarray(state.raw.state.unit_alive)
    np.testing.assert_array_equal(alive[:, :SLOTS], np.arange(SLOTS)[None] < allies[:, None])
    np.testing.assert_array_equal(alive[:, SLOTS:], np.arange(SLOTS)[None] < enemies[:, None])
    types = np.asarray(state.raw.state.unit_types)[alive]
    assert set(types) == {SMAX_UNIT_TYPES.index("stalker"), SMAX_UNIT_TYPES.index("zealot")}


def test_absent_units_are_invisible_and_padded_agents_can_only_stop(env, resets):
    state, ts = resets
    alive = np.asarray(state.raw.state.unit_alive)
    ids = np.asarray(env.info.entity_ids)
    _, _, present = jax.vmap(jax.vmap(lambda o: entity_view(o, env.info)))(ts.obs)
    assert not np.any(np.asarray(present) & ~alive[:, ids])  # a row is present only for a unit that exists
    _, state_present = jax.vmap(lambda s: state_entities(s, env.info))(ts.state)
    np.testing.assert_array_equal(np.asarray(state_present), alive)
    padded = ~np.asarray(ts.agent_mask)
    avail = np.asarray(ts.avail_actions)
    assert np.all(avail[padded][:, 4]) and not np.any(np.delete(avail[padded], 4, axis=-1))
    assert not np.any(np.asarray(ts.obs)[padded])  # a padded slot observes nothing
    enemy_attacks = avail[..., 5:]  # attacks on absent enemies are never available
    assert not np.any(enemy_attacks & ~alive[:, None, SLOTS:])


def test_padded_agents_actions_change_nothing(env):
    """Two rollouts whose actions differ only in the padded agent slots give identical states,
    observations, rewards and flags."""
    state, ts = env.reset(jax.random.PRNGKey(3))
    n = int(state.allies)
    assert n < SLOTS

    @jax.jit
    def roll(key, other):
        def step(c, k):
            st, t = c
            k_a, k_b, k_env = jax.random.split(k, 3)
            acts = random_actions(k_a, env.info, t.avail_actions)
            noise = jax.random.randint(k_b, acts.shape, 0, env.info.num_actions)
            acts = jnp.where(jnp.arange(SLOTS) < st.allies, acts, jnp.where(other, noise, 4))
            st, t = env.step(k_env, st, acts)
            return (st, t), (t.obs, t.state, t.reward, t.terminated, t.truncated)

        return jax.lax.scan(step, (state, ts), jax.random.split(key, 12))[1]

    a, b = roll(jax.random.PRNGKey(4), False), roll(jax.random.PRNGKey(4), True)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_reward_is_smaxs_damage_reward_rescaled_to_the_episodes_enemy_count(env):
    """Allies walk east and shoot the first enemy in range; at every step without a win, our
    reward x enemies in the episode = JaxMARL's reward (normalised by its slot count) x slots."""
    state, ts = env.reset(jax.random.PRNGKey(7))

    @jax.jit
    def step(key, st, avail):
        attack = jnp.argmax(avail[:, 5:], axis=-1) + 5
        acts = jnp.where(jnp.any(avail[:, 5:], axis=-1), attack, 1)  # action 1 moves east
        acts = jnp.where(jnp.arange(SLOTS) < st.allies, acts, 4)
        ours = env.step(key, st, acts)
        theirs = env.raw.step_env(key, st.raw, {a: acts[i] for i, a in enumerate(env.raw.agents)})
        return ours, theirs[2][env.raw.agents[0]]

    damage_steps = 0
    for t in range(60):
        (state, ts), smax_reward = step(jax.random.PRNGKey(100 + t), state, ts.avail_actions)
        if bool(ts.info["won"]) or bool(ts.done):
            break
        np.testing.assert_allclose(float(ts.reward) * int(state.enemies), float(smax_reward) * SLOTS, rtol=1e-5,
                                   atol=1e-6)
        damage_steps += float(ts.reward) > 0
    assert damage_steps > 0  # the check above met real damage
