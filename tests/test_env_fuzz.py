"""Environment fuzz: for every environment kind, about a thousand random episodes (short
time limits make them cheap), checking that observations, global states, rewards and the
kept final observations are always finite; and that illegal actions are handled as
documented (docs/environments.md): `avail_actions` is the mask that policies apply (the
uniform legal sampler never picks an action it forbids), and the `CheckActions` wrapper
rejects an action outside it (or out of range, or a non-finite continuous action).

Half of each batch plays random legal actions; the other half plays arbitrary in-range
actions that ignore the mask (what a policy that forgot to mask would send), or, for
continuous kinds, actions outside the box: those episodes must stay finite too.
"""

from __future__ import annotations

import contextlib
import importlib.util

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import TypeAdapter

from marlspec.compile import make_env
from marlspec.envs.base import Env, random_actions
from marlspec.envs.host import HostAutoReset
from marlspec.envs.wrappers import AutoReset, CheckActions, CheckedState
from marlspec.spec import EnvSpec

ENVS, STEPS = 64, 160
"""One jitted program per kind: 64 environments (32 playing legal actions, 32 arbitrary ones)
for 160 steps, about 1,000 episodes at a 10-step limit."""
HALF = ENVS // 2

KINDS: dict[str, dict] = {
    "matrix": {"kind": "matrix", "game": "climbing", "episode_length": 1},
    "coordsum": {"kind": "coordsum", "task": "3x10-30", "time_limit": 10},
    "mpe": {"kind": "mpe", "scenario": "simple_spread", "max_steps": 10},
    "mpe_continuous": {"kind": "mpe", "scenario": "simple_facmac_3a", "max_steps": 10},
    "smax": {"kind": "smax", "map": "3m", "max_steps": 10},
    "lbf": {"kind": "lbf", "task": "8x8-2p-2f-coop", "time_limit": 10},
    "rware": {"kind": "rware", "task": "tiny-2ag", "time_limit": 10},
    "connector": {"kind": "connector", "task": "con-5x5x3a", "time_limit": 10},
    "mabrax": {"kind": "mabrax", "scenario": "hopper_3x1", "episode_length": 10},
    "predator_prey": {"kind": "predator_prey", "max_steps": 10},
}
NO_BRAX = importlib.util.find_spec("brax") is None


def _params() -> list:
    """MABrax is slow-marked: compiling Brax's step dominates (about 3 minutes on a loaded 2-core
    CPU); the fast suite still steps it in tests/test_env_conformance.py."""
    skip = pytest.mark.skip(reason="brax is not installed (pip install marlspec[mabrax])")
    out = []
    for k in KINDS:
        marks = [pytest.mark.slow] if k == "mabrax" else []
        out.append(pytest.param(k, id=k, marks=marks + ([skip] if k == "mabrax" and NO_BRAX else [])))
    return out


@contextlib.contextmanager
def quick_compile():
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


def _finite(ts) -> jax.Array:
    parts = [ts.obs, ts.state, ts.reward, ts.info["final_obs"], ts.info["final_state"]]
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in parts]))


def arbitrary_actions(key, env: Env):
    """In-range actions that ignore `avail_actions` (discrete), or actions up to twice the
    box's size (continuous)."""
    info = env.info
    if info.discrete:
        return jax.random.randint(key, (info.num_agents,), 0, info.num_actions)
    span = info.action_high - info.action_low
    return jax.random.uniform(key, (info.num_agents, info.num_actions), minval=info.action_low - span / 2,
                              maxval=info.action_high + span / 2)


def fuzz_program(env: Env):
    """Environments 0..HALF-1 play uniformly random legal actions, the others arbitrary ones;
    per step: finite flags, finished episodes and whether the legal actions were legal, per half."""
    batch = AutoReset(env, ENVS)
    info = env.info

    def halves(x):
        return x[:HALF], x[HALF:]

    def run(key):
        k_reset, k_steps = jax.random.split(key)
        start = batch.reset(k_reset)

        def step(carry, k):
            state, ts = carry
            k1, k2, k3 = jax.random.split(k, 3)
            legal = jax.vmap(lambda kk, av: random_actions(kk, info, av))(jax.random.split(k1, ENVS), ts.avail_actions)
            arbitrary = jax.vmap(lambda kk: arbitrary_actions(kk, env))(jax.random.split(k2, ENVS))
            actions = jnp.concatenate([legal[:HALF], arbitrary[HALF:]])
            if info.discrete:
                chosen = jnp.take_along_axis(ts.avail_actions, actions[..., None], axis=-1)[..., 0]
                respected = jnp.all(chosen[:HALF])
            else:
                respected = jnp.all((legal >= info.action_low) & (legal <= info.action_high))
            state, ts = batch.step(k3, state, actions)
            (l_ts, a_ts) = (jax.tree.map(lambda x: halves(x)[0], ts), jax.tree.map(lambda x: halves(x)[1], ts))
            out = {"legal_finite": _finite(l_ts), "any_finite": _finite(a_ts), "legal_respected": respected,
                   "legal_episodes": l_ts.done.sum(), "any_episodes": a_ts.done.sum(),
                   "each_agent_can_act": jnp.all(ts.avail_actions.any(-1))}
            return (state, ts), out

        first = {"finite": _finite(start[1]), "avail_actions": start[1].avail_actions[0]}
        _, outs = jax.lax.scan(step, start, jax.random.split(k_steps, STEPS))
        return first, outs

    return eqx.filter_jit(run)


@pytest.mark.parametrize("name", _params())
def test_random_episodes_stay_finite_and_illegal_actions_are_rejected(name: str) -> None:
    spec = TypeAdapter(EnvSpec).validate_python(KINDS[name])
    env = make_env(spec)
    with quick_compile():
        first, outs = jax.tree.map(np.asarray, fuzz_program(env)(jax.random.PRNGKey(7)))
    assert first["finite"]
    assert outs["legal_finite"].all(), f"non-finite values under legal play at steps {np.flatnonzero(~outs['legal_finite'])}"
    assert outs["any_finite"].all(), f"non-finite values under unmasked actions at steps {np.flatnonzero(~outs['any_finite'])}"
    assert outs["legal_respected"].all(), "random_actions chose an action that avail_actions forbids"
    assert outs["each_agent_can_act"].all()
    assert int(outs["legal_episodes"].sum()) >= 450 and int(outs["any_episodes"].sum()) >= 450  # ~HALF * STEPS / limit

    # CheckActions rejects what the mask forbids: an out-of-range index always; an in-range
    # unavailable action where the env has one; a non-finite continuous action. Called
    # eagerly, the check raises before the environment is stepped (nothing to compile).
    info = env.info
    checked = CheckActions(env)
    avail = first["avail_actions"]  # the first observation's mask; the check reads nothing else of the state
    state = CheckedState(None, jnp.asarray(avail))
    if info.discrete:
        bad = [jnp.full((info.num_agents,), info.num_actions, jnp.int32), jnp.full((info.num_agents,), -1, jnp.int32)]
        if not avail.all():
            agent, action = map(int, np.argwhere(~avail)[0])
            ok = np.array(random_actions(jax.random.PRNGKey(1), info, jnp.asarray(avail)))
            ok[agent] = action
            bad.append(jnp.asarray(ok))
    else:
        bad = [jnp.zeros((info.num_agents, info.num_actions)).at[0, 0].set(jnp.nan)]
    for actions in bad:
        with pytest.raises(Exception, match="illegal action|non-finite continuous action"):
            jax.block_until_ready(checked.step(jax.random.PRNGKey(3), state, actions))


def test_pettingzoo_random_episodes_stay_finite() -> None:
    """The host kind (mpe2's simple_spread through PettingZoo), with random legal actions."""
    spec = TypeAdapter(EnvSpec).validate_python(
        {"kind": "pettingzoo", "env": "mpe2.simple_spread_v3:parallel_env", "kwargs": {"N": 2, "max_cycles": 5}})
    batch = HostAutoReset(lambda: make_env(spec), 20)
    ts = batch.reset(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    episodes = 0
    for t in range(50):
        avail = np.asarray(ts.avail_actions)
        acts = np.stack([[rng.choice(np.flatnonzero(row)) for row in env_rows] for env_rows in avail])
        ts = batch.step(jax.random.PRNGKey(t), acts)
        for x in (ts.obs, ts.state, ts.reward, ts.info["final_obs"], ts.info["final_state"]):
            assert np.isfinite(np.asarray(x)).all()
        episodes += int(np.asarray(ts.done).sum())
    assert episodes == 200  # 20 environments x 50 steps / 5
