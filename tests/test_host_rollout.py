"""The host loop (`marlspec.train.host`) against the jitted loop (`marlspec.train.rollout`).

A JAX environment driven through the host interface (`JaxOnHost`) must give exactly
the trajectory, episode statistics and evaluation results of the jitted rollout with
the same keys: then algorithms cannot tell a host environment from a JAX one. The
PettingZoo adapter is checked on mpe2's simple_spread against JaxMARL's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.algorithms.ppo import PPO
from marlspec.compile import ppo_config
from marlspec.envs.coordsum import CoordSum
from marlspec.envs.host import HostAutoReset, JaxOnHost
from marlspec.envs.pettingzoo import PettingZooEnv
from marlspec.envs.wrappers import AutoReset
from marlspec.nn import TorsoFactory
from marlspec.spec import parse_spec
from marlspec.train.host import host_evaluate, host_rollout, host_start
from marlspec.train.rollout import evaluate, rollout, start

E, T = 3, 12


@pytest.fixture(scope="module")
def setup():
    env = CoordSum(2, 4, 6, time_limit=5)
    config = ppo_config(parse_spec("""
name: host_rollout
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 5}
algorithm: {kind: ippo}
"""))
    algorithm = PPO(info=env.info, config=config, make_torso=TorsoFactory(kind="gru", hidden=(8,), fc=8))
    learner = algorithm.init(jax.random.PRNGKey(0))
    return env, algorithm, learner


def _seed_axis(tree):
    return jax.tree.map(lambda x: x[None], tree)


def test_host_rollout_matches_jitted_rollout(setup):
    env, algorithm, learner = setup
    k_env, k_roll = jax.random.split(jax.random.PRNGKey(1))
    actors = start(AutoReset(env, E), algorithm, k_env)
    _, traj, episodes = jax.jit(lambda a, k: rollout(AutoReset(env, E), algorithm, learner, a, k, T))(actors, k_roll)

    host_actors = host_start([JaxOnHost(env, E)], algorithm, k_env[None])
    _, host_traj, host_episodes = host_rollout(algorithm, _seed_axis(learner), host_actors, k_roll[None], T)

    assert jax.tree.structure(traj) == jax.tree.structure(host_traj)
    for a, b in zip(jax.tree.leaves(traj), jax.tree.leaves(host_traj), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[0])
    for name in episodes:
        np.testing.assert_array_equal(np.asarray(episodes[name]), np.asarray(host_episodes[name])[0])
    assert bool(traj.first[1:].any()), "episodes must end inside the rollout for this test to mean anything"


def test_host_evaluate_matches_jitted_evaluate(setup):
    env, algorithm, learner = setup
    key = jax.random.PRNGKey(2)
    ref = jax.jit(lambda k: evaluate(env, algorithm, learner, k, 4, "execution", False))(key)
    out = host_evaluate(algorithm, _seed_axis(learner), [JaxOnHost(env, 4, auto_reset=False)], key[None],
                        "execution", False, env.info.max_steps)
    for name in ref:
        np.testing.assert_allclose(np.asarray(ref[name]), out[name][0])


@pytest.fixture(scope="module")
def spread():
    return PettingZooEnv("mpe2.simple_spread_v3:parallel_env", {"N": 3, "max_cycles": 25})


def test_pettingzoo_spread_matches_jaxmarl_sizes(spread):
    from marlspec.envs.mpe import MPE

    jax_info = MPE("simple_spread").info
    info = spread.info
    assert (info.num_agents, info.obs_dim, info.state_dim, info.num_actions, info.max_steps) == (
        jax_info.num_agents, jax_info.obs_dim, jax_info.state_dim, jax_info.num_actions, jax_info.max_steps)
    assert info.action_type == "discrete"


def test_pettingzoo_batch_auto_resets_and_keeps_final_obs(spread):
    batch = HostAutoReset(lambda: PettingZooEnv("mpe2.simple_spread_v3:parallel_env", {"N": 3, "max_cycles": 25}), 2)
    ts = batch.reset(jax.random.PRNGKey(0))
    assert ts.obs.shape == (2, 3, 18) and ts.obs.dtype == jnp.float32
    rng = np.random.default_rng(0)
    for t in range(25):
        before = ts
        ts = batch.step(jax.random.PRNGKey(t), rng.integers(0, 5, (2, 3)))
        assert sorted(ts.info) == sorted(before.info)
    assert bool(ts.truncated.all()) and not bool(ts.terminated.any())
    assert np.asarray(ts.info["episode_length"]).tolist() == [25, 25]
    assert not np.allclose(np.asarray(ts.info["final_obs"]), np.asarray(ts.obs))
    ts = batch.step(jax.random.PRNGKey(99), rng.integers(0, 5, (2, 3)))
    np.testing.assert_array_equal(np.asarray(ts.info["final_obs"]), np.asarray(ts.obs))


def test_docs_worked_example_runs(tmp_path, monkeypatch):
    """The bring-your-own-environment example in docs/environments.md, as written there."""
    import re
    import sys
    from pathlib import Path

    from marlspec.spec import parse_spec

    doc = (Path(__file__).resolve().parent.parent / "docs" / "environments.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", doc, re.S) if block.startswith("# my_envs.py"))
    (tmp_path / "my_envs.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_envs", raising=False)
    spec = parse_spec("env: {kind: pettingzoo, env: 'my_envs:Relay', kwargs: {episode_length: 10}, max_steps: 10}\n"
                      "algorithm: {kind: ippo}\n")
    batch = HostAutoReset(lambda: PettingZooEnv(spec.env.env, spec.env.kwargs, spec.env.max_steps), 2)
    ts = batch.reset(jax.random.PRNGKey(0))
    assert batch.info.num_agents == 2 and batch.info.obs_dim == 3 and batch.info.num_actions == 3
    total = np.zeros(2)
    for t in range(10):
        target = np.asarray(ts.obs)[:, 0].argmax(-1)  # the sender's observation is the target
        said = np.asarray(ts.obs)[:, 1].argmax(-1)
        ts = batch.step(jax.random.PRNGKey(t), np.stack([target, said], axis=-1))
        total += np.asarray(ts.reward)
    assert np.asarray(ts.truncated).all()
    # relaying the target scores on every step but the first (the receiver has heard nothing yet)
    assert (total == 9).all() and (np.asarray(ts.info["episode_return"]) == total).all()
