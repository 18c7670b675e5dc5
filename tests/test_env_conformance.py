"""Every environment kind against the one protocol (`marlspec.envs.base`).

For each kind (one small preset each) a single jitted, seed-vmapped program resets a
batch through `AutoReset(CheckActions(env))` and steps it with random legal actions;
the checks below read its output. One compiled program per kind keeps this fast. The
host environment (PettingZoo) runs the same checks through `HostAutoReset`.

Checked: shapes and dtypes against `EnvInfo`; jit and vmap (the program is both); the
same key gives the same trajectory, another key another; auto-reset keeps the final
observation and state and counts returns and lengths right; terminated and truncated
never coincide, truncation happens exactly at the step limit, and kinds that have both
show both; random legal actions never trip `CheckActions`; every agent always has a
legal action; `agent_mask` is constant within an episode; `info` has the same keys
(and shapes) at reset and at step.
"""

from __future__ import annotations

import contextlib
import importlib.util

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

SEEDS, ENVS = 2, 2

CASES: dict[str, tuple[dict, int, set[str]]] = {
    # kind: (env spec, steps to run, episode ends that must occur)
    "matrix": ({"kind": "matrix", "game": "penalty", "episode_length": 3}, 10, {"terminated"}),
    "coordsum": ({"kind": "coordsum", "task": "3x10-30", "time_limit": 6}, 14, {"terminated"}),
    "mpe": ({"kind": "mpe", "scenario": "simple_speaker_listener", "max_steps": 8}, 18, {"truncated"}),
    "smax": ({"kind": "smax", "map": "3m", "max_steps": 16}, 40, {"terminated", "truncated"}),
    "smax_teams": ({"kind": "smax_teams", "allies": [2, 4], "slots": 4, "max_steps": 16}, 40, {"truncated"}),
    "team_matrix": ({"kind": "team_matrix", "teams": ["AB", "BA", "BB"]}, 6, {"terminated"}),
    "lbf": ({"kind": "lbf", "task": "8x8-2p-2f-coop", "time_limit": 10}, 24, {"truncated"}),
    "rware": ({"kind": "rware", "task": "tiny-2ag", "time_limit": 15}, 40, {"truncated"}),
    "connector": ({"kind": "connector", "task": "con-5x5x3a", "time_limit": 12}, 30, {"terminated", "truncated"}),
    "mabrax": ({"kind": "mabrax", "scenario": "hopper_3x1", "episode_length": 25}, 60, {"truncated"}),
    "predator_prey": ({"kind": "predator_prey", "max_steps": 12}, 30, {"terminated", "truncated"}),
    "pettingzoo": ({"kind": "pettingzoo", "env": "mpe2.simple_spread_v3:parallel_env",
                    "kwargs": {"N": 3, "max_cycles": 8}}, 20, {"truncated"}),
}

NO_BRAX = importlib.util.find_spec("brax") is None

REPEATED_OBSERVATIONS = {"team_matrix"}
"""Kinds whose observation is only the episode's team composition (one-step episodes): the next
episode's first observation equals the last one whenever the same composition is drawn, so only
some episode ends can show that the final observation is not the next episode's."""


def _params() -> list:
    out = []
    for name in CASES:
        marks = [pytest.mark.skip(reason="brax is not installed (pip install marlspec[mabrax])")] \
            if name == "mabrax" and NO_BRAX else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def _spec(name: str):
    return TypeAdapter(EnvSpec).validate_python(CASES[name][0])


def _run_jax(env: Env, steps: int):
    batch = AutoReset(CheckActions(env), ENVS)

    def one_seed(key):
        state, first = batch.reset(key)

        def step(carry, k):
            state, ts = carry
            k_act, k_env = jax.random.split(k)
            acts = jax.vmap(lambda kk, av: random_actions(kk, env.info, av))(
                jax.random.split(k_act, ENVS), ts.avail_actions)
            state, ts = batch.step(k_env, state, acts)
            return (state, ts), ts

        _, traj = jax.lax.scan(step, (state, first), jax.random.split(key, steps))
        return first, traj

    program = jax.jit(jax.vmap(one_seed))
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    out = jax.tree.map(np.asarray, program(keys))
    again = jax.tree.map(np.asarray, program(keys))
    other = jax.tree.map(np.asarray, program(jax.random.split(jax.random.PRNGKey(1), SEEDS)))
    reset_shape = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    step_shape = jax.eval_shape(env.step, jax.random.PRNGKey(0), reset_shape[0], _action_shape(env))
    return out, again, other, (reset_shape[1], step_shape[1])


def _action_shape(env: Env):
    info = env.info
    if info.discrete:
        return jax.ShapeDtypeStruct((info.num_agents,), np.int32)
    return jax.ShapeDtypeStruct((info.num_agents, info.num_actions), np.float32)


def _run_host(name: str, steps: int):
    spec = _spec(name)
    info = make_env(spec).info

    def play(key):
        batch = HostAutoReset(lambda: make_env(spec), ENVS)
        first = batch.reset(key)
        rng = np.random.default_rng(0)
        ts, traj = first, []
        for t in range(steps):
            avail = np.asarray(ts.avail_actions)
            acts = np.stack([[rng.choice(np.flatnonzero(row)) for row in env_rows] for env_rows in avail])
            ts = batch.step(jax.random.PRNGKey(t), acts)
            traj.append(ts)
        stack = lambda *xs: np.stack([np.asarray(x) for x in xs])  # noqa: E731
        return jax.tree.map(np.asarray, first), jax.tree.map(stack, *traj)

    def seeds(base):
        runs = [play(k) for k in jax.random.split(jax.random.PRNGKey(base), SEEDS)]
        return jax.tree.map(lambda *xs: np.stack(xs), *runs)

    return info, seeds(0), seeds(0), seeds(1)


@contextlib.contextmanager
def quick_compile():
    """Compile with XLA's expensive optimisations off: these programs run for
    milliseconds, so compiling them 3-4x faster is what matters."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="module", params=_params())
def run(request):
    name = request.param
    spec, steps, ends = CASES[name]
    if name == "pettingzoo":
        info, out, again, other = _run_host(name, steps)
        shapes = None
    else:
        env = make_env(_spec(name))
        info = env.info
        with quick_compile():
            out, again, other, shapes = _run_jax(env, steps)
    return name, info, out, again, other, shapes, ends


def test_shapes_and_dtypes_match_env_info(run):
    _, info, (first, traj), *_ = run
    n, a = info.num_agents, info.num_actions
    for ts, lead in ((first, (SEEDS, ENVS)), (traj, (SEEDS, None, ENVS))):
        lead = tuple(x if x is not None else traj.reward.shape[1] for x in lead)
        assert ts.obs.shape == (*lead, n, info.obs_dim) and ts.obs.dtype == np.float32
        assert ts.state.shape == (*lead, info.state_dim) and ts.state.dtype == np.float32
        assert ts.avail_actions.shape == (*lead, n, a) and ts.avail_actions.dtype == np.bool_
        assert ts.agent_mask.shape == (*lead, n) and ts.agent_mask.dtype == np.bool_
        assert ts.reward.shape == lead and ts.reward.dtype == np.float32
        assert ts.terminated.dtype == np.bool_ and ts.truncated.dtype == np.bool_
        assert np.all(np.isfinite(ts.obs)) and np.all(np.isfinite(ts.state)) and np.all(np.isfinite(ts.reward))
    assert traj.info["final_obs"].shape == traj.obs.shape
    assert traj.info["final_state"].shape == traj.state.shape


def test_info_has_the_same_keys_at_reset_and_step(run):
    _, _, (first, traj), _, _, shapes, _ = run
    assert sorted(first.info) == sorted(traj.info)
    if shapes is not None:  # the unwrapped env: the whole TimeStep has one structure and dtype
        reset_ts, step_ts = shapes
        assert jax.tree.structure(reset_ts) == jax.tree.structure(step_ts)
        for r, s in zip(jax.tree.leaves(reset_ts), jax.tree.leaves(step_ts), strict=True):
            assert (r.shape, r.dtype) == (s.shape, s.dtype)


def test_same_key_same_trajectory(run):
    _, _, out, again, other, *_ = run
    for x, y in zip(jax.tree.leaves(out), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(out[1].obs, other[1].obs), "another key must give another trajectory"
    assert not np.array_equal(out[1].obs[0], out[1].obs[1]), "seeds (vmapped) must differ"


def test_auto_reset_keeps_the_final_observation(run):
    name, _, (first, traj), *_ = run
    done = traj.terminated | traj.truncated
    assert done.any(), "some episode must end within the run"
    for key_final, key_now in (("final_obs", "obs"), ("final_state", "state")):
        final, now = traj.info[key_final], getattr(traj, key_now)
        np.testing.assert_array_equal(final[~done], now[~done])
        differs = np.any((final != now).reshape(*done.shape, -1), axis=-1)
        seen = differs[done].any() if name in REPEATED_OBSERVATIONS else differs[done].all()
        assert seen, f"{key_final} must be the last observation, not the next episode's first"
    # the last step's action mask is kept too (a bootstrap max over next actions needs it)
    final_avail = traj.info["final_avail_actions"]
    assert final_avail.dtype == traj.avail_actions.dtype and final_avail.shape == traj.avail_actions.shape
    np.testing.assert_array_equal(final_avail[~done], traj.avail_actions[~done])
    # returns and lengths of finished episodes are counted from the episode's own steps
    s_idx, t_idx, e_idx = np.nonzero(done)
    for s, t, e in zip(s_idx, t_idx, e_idx, strict=True):
        ended = np.flatnonzero(done[s, :t, e])
        start = ended[-1] + 1 if ended.size else 0
        assert traj.info["episode_length"][s, t, e] == t - start + 1
        np.testing.assert_allclose(traj.info["episode_return"][s, t, e], traj.reward[s, start:t + 1, e].sum(), rtol=1e-5, atol=1e-5)


def test_terminated_and_truncated_are_distinct(run):
    _, info, (first, traj), _, _, _, ends = run
    assert not np.any(traj.terminated & traj.truncated)
    lengths = traj.info["episode_length"]
    assert np.all(lengths[traj.truncated] == info.max_steps), "truncation happens exactly at the step limit"
    assert np.all(lengths[traj.terminated] <= info.max_steps)
    assert np.all(lengths <= info.max_steps)
    seen = {name for name, flag in (("terminated", traj.terminated), ("truncated", traj.truncated)) if flag.any()}
    assert ends <= seen, f"expected {ends} episode ends in this run, saw {seen}"


def test_every_agent_always_has_a_legal_action(run):
    _, info, (first, traj), *_ = run
    # the run itself went through CheckActions: no random legal action was rejected
    for ts in (first, traj):
        assert ts.avail_actions.any(axis=-1).all()


def test_agent_mask_is_constant_within_an_episode(run):
    _, _, (first, traj), *_ = run
    masks = np.concatenate([first.agent_mask[:, None], traj.agent_mask], axis=1)
    starts = np.concatenate([np.ones_like(traj.terminated[:, :1]), traj.terminated | traj.truncated], axis=1)
    assert masks.any(axis=-1).all(), "every step has at least one agent"
    changed = np.any(masks[:, 1:] != masks[:, :-1], axis=-1)
    assert not np.any(changed & ~starts[:, 1:]), "agent_mask may change only when a new episode starts"


def test_agent_id_option_appends_one_hot_ids():
    spec = TypeAdapter(EnvSpec).validate_python({"kind": "predator_prey", "agent_id": True})
    env = make_env(spec)
    plain = make_env(spec.model_copy(update={"agent_id": False}))
    assert env.info.obs_dim == plain.info.obs_dim + env.info.num_agents
    _, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
    _, ts_plain = jax.jit(plain.reset)(jax.random.PRNGKey(0))
    n = env.info.num_agents
    np.testing.assert_array_equal(np.asarray(ts.obs[:, -n:]), np.eye(n))
    np.testing.assert_array_equal(np.asarray(ts.obs[:, :-n]), np.asarray(ts_plain.obs))


@pytest.mark.parametrize("num_envs", [16, 128])
def test_partial_reset_gives_the_same_trajectory_as_a_full_reset(num_envs: int):
    """AutoReset resets only the finished environments when few are; nothing else changes."""
    env = make_env(TypeAdapter(EnvSpec).validate_python({"kind": "predator_prey", "max_steps": 30}))

    def play(partial: bool):
        batch = AutoReset(env, num_envs, partial_reset=partial)

        def run(key):
            state, ts = batch.reset(key)

            def step(c, k):
                state, ts = c
                k1, k2 = jax.random.split(k)
                acts = jax.vmap(lambda kk, av: random_actions(kk, env.info, av))(jax.random.split(k1, num_envs),
                                                                                  ts.avail_actions)
                state, ts = batch.step(k2, state, acts)
                return (state, ts), (ts, jnp.sum(ts.done))

            return jax.lax.scan(step, (state, ts), jax.random.split(key, 40))[1]

        with quick_compile():
            return jax.tree.map(np.asarray, jax.jit(run)(jax.random.PRNGKey(3)))

    (full, done_counts), (partial, _) = play(False), play(True)
    levels = [n for n in (num_envs // 64, num_envs // 8) if n >= 1]
    bounds = [0, *levels, num_envs]
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):  # every reset path ran
        assert ((done_counts > low) & (done_counts <= high)).any(), (low, high, done_counts)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(partial), strict=True):
        np.testing.assert_array_equal(a, b)
