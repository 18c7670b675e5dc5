"""Environment fuzz: for every environment kind, about a thousand random episodes (short
time limits make them cheap) with random legal actions, checking that observations, global
states, rewards and the kept final observations are always finite; and that illegal actions
are handled as documented (docs/environments.md): `avail_actions` is the mask that policies
apply, and the `CheckActions` wrapper rejects an action outside it (or out of range, or a
non-finite continuous action) at run time.

Besides legal play, each jitted program also steps a second batch with arbitrary in-range
actions that ignore the mask (what a policy that forgot to mask would send): those episodes
must stay finite too. Continuous kinds get actions outside their box as well.
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
from marlspec.envs.wrappers import AutoReset, CheckActions
from marlspec.spec import EnvSpec

ENVS, STEPS = 100, 100
"""Environments and steps per program: 10,000 steps, ~1,000 episodes at a 10-step limit."""

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
    skip = pytest.mark.skip(reason="brax is not installed (pip install marlspec[mabrax])")
    return [pytest.param(k, id=k, marks=[skip] if k == "mabrax" and NO_BRAX else []) for k in KINDS]


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
    legal, any_ = AutoReset(CheckActions(env), ENVS), AutoReset(env, ENVS)

    def run(key):
        k_legal, k_any, k_steps = jax.random.split(key, 3)
        start = (legal.reset(k_legal), any_.reset(k_any))

        def step(carry, k):
            (ls, lts), (as_, ats) = carry
            k1, k2, k3, k4 = jax.random.split(k, 4)
            la = jax.vmap(lambda kk, av: random_actions(kk, env.info, av))(jax.random.split(k1, ENVS), lts.avail_actions)
            aa = jax.vmap(lambda kk: arbitrary_actions(kk, env))(jax.random.split(k3, ENVS))
            ls, lts = legal.step(k2, ls, la)
            as_, ats = any_.step(k4, as_, aa)
            out = {"legal_finite": _finite(lts), "any_finite": _finite(ats),
                   "legal_episodes": lts.done.sum(), "any_episodes": ats.done.sum(),
                   "has_illegal": jnp.any(~lts.avail_actions), "each_agent_can_act": jnp.all(lts.avail_actions.any(-1))}
            return ((ls, lts), (as_, ats)), out

        first = {"legal_finite": _finite(start[0][1]), "any_finite": _finite(start[1][1])}
        _, outs = jax.lax.scan(step, start, jax.random.split(k_steps, STEPS))
        return first, outs

    return jax.jit(run)


@pytest.mark.parametrize("name", _params())
def test_random_episodes_stay_finite_and_illegal_actions_are_rejected(name: str) -> None:
    spec = TypeAdapter(EnvSpec).validate_python(KINDS[name])
    env = make_env(spec)
    with quick_compile():
        first, outs = jax.tree.map(np.asarray, fuzz_program(env)(jax.random.PRNGKey(7)))
    assert first["legal_finite"] and first["any_finite"]
    assert outs["legal_finite"].all(), f"non-finite values under legal play at steps {np.flatnonzero(~outs['legal_finite'])}"
    assert outs["any_finite"].all(), f"non-finite values under unmasked actions at steps {np.flatnonzero(~outs['any_finite'])}"
    assert outs["each_agent_can_act"].all()
    episodes = int(outs["legal_episodes"].sum())
    assert episodes >= 900, episodes  # ~ENVS * STEPS / time limit
    assert int(outs["any_episodes"].sum()) >= 900

    # CheckActions rejects what the mask forbids: an out-of-range index or a non-finite
    # continuous action always; an in-range unavailable action where the env has one.
    checked = CheckActions(env)
    info = env.info
    state, ts = jax.jit(checked.reset)(jax.random.PRNGKey(0))
    step = eqx.filter_jit(checked.step)
    if info.discrete:
        bad = [jnp.full((info.num_agents,), info.num_actions, jnp.int32), jnp.full((info.num_agents,), -1, jnp.int32)]
        avail = np.asarray(ts.avail_actions)
        if not avail.all():
            agent, action = map(int, np.argwhere(~avail)[0])
            ok = np.asarray(random_actions(jax.random.PRNGKey(1), info, ts.avail_actions))
            ok[agent] = action
            bad.append(jnp.asarray(ok))
    else:
        nan = jnp.zeros((info.num_agents, info.num_actions)).at[0, 0].set(jnp.nan)
        bad = [nan]
    with quick_compile():
        good = random_actions(jax.random.PRNGKey(2), info, ts.avail_actions)
        step(jax.random.PRNGKey(3), state, good)  # legal actions pass
        for actions in bad:
            with pytest.raises(Exception, match="illegal action|non-finite continuous action"):
                jax.block_until_ready(step(jax.random.PRNGKey(3), state, actions))


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
