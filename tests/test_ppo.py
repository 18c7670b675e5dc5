"""PPO internals: recurrent replay with episode resets, values at truncation, continuous actions."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.compile import compile as compile_spec
from marlspec.envs.base import Env, EnvInfo, TimeStep, all_available, scalar
from marlspec.primitives import factorization as fz
from marlspec.spec import parse_spec
from marlspec.train.experiment import Experiment
from marlspec.train.rollout import rollout

GRU_SPEC = """
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 5}
algorithm: {kind: mappo, num_minibatches: 2, epochs: 1}
network: {kind: gru, fc: 16, hidden: 8}
train: {total_env_steps: 1000, num_envs: 4, rollout_length: 12}
eval: {episodes: 2}
"""


@pytest.fixture(scope="module")
def gru_rollout():
    exp = compile_spec(parse_spec(GRU_SPEC))
    rs = exp.init(jax.random.PRNGKey(0))
    # Two rollouts, so the second starts mid-episode with a non-zero carry.
    actors, _, _ = rollout(exp.train_env, exp.algorithm, rs.learner, rs.actors, jax.random.PRNGKey(1), 7)
    _, traj, _ = rollout(exp.train_env, exp.algorithm, rs.learner, actors, jax.random.PRNGKey(2), 12)
    return exp, rs.learner, traj


def replay_log_prob(exp: Experiment, learner, traj, first):
    algo = exp.algorithm
    _, out = algo._unroll(learner.actor, traj.init_carry[0], algo.actor_inputs(traj.obs), first)
    return fz.log_prob(fz.mask_logits(out, traj.avail_actions), traj.actions)


def test_gru_replay_reproduces_rollout_log_probs(gru_rollout):
    exp, learner, traj = gru_rollout
    assert bool(traj.first[1:].any()), "the rollout must cross an episode boundary"
    assert float(jnp.abs(traj.init_carry[0]).max()) > 0, "the rollout must start mid-episode"
    replayed = replay_log_prob(exp, learner, traj, traj.first)
    np.testing.assert_allclose(replayed, traj.extras["log_prob"], rtol=1e-5, atol=1e-5)


def test_gru_replay_without_resets_differs(gru_rollout):
    """The check above can fail: ignoring episode starts changes the log-probs."""
    exp, learner, traj = gru_rollout
    replayed = replay_log_prob(exp, learner, traj, jnp.zeros_like(traj.first))
    assert float(jnp.abs(replayed - traj.extras["log_prob"]).max()) > 1e-4


def test_values_bootstrap_from_final_observation(gru_rollout):
    exp, learner, traj = gru_rollout
    values, next_values = exp.algorithm._values(learner.critic, traj)
    # Where an episode did not end, V(s'_t) must equal V(s_{t+1}) in the same stream.
    same = ~(traj.terminated | traj.truncated)[:-1]
    diff = jnp.abs(next_values[:-1] - values[1:]).max(axis=-1)
    assert float(jnp.where(same, diff, 0.0).max()) < 1e-5
    # Where it ended, V(s'_t) is evaluated on the final observation, not the reset one.
    ended = ~same
    assert bool(ended.any())
    assert float(jnp.where(ended, diff, 0.0).max()) > 1e-6


class _TargetGame(Env):
    """One-step continuous game: reward = -sum_i (a_i - 0.5)^2; optimum 0."""

    info: EnvInfo = eqx.field(static=True)

    def __init__(self):
        self.info = EnvInfo(name="test/target", num_agents=2, obs_dim=1, state_dim=1, action_type="continuous",
                            num_actions=1, max_steps=1)

    def _ts(self, reward, done):
        return TimeStep(obs=jnp.ones((2, 1)), state=jnp.ones((1,)), avail_actions=all_available(2, 1),
                        agent_mask=jnp.ones((2,), bool), reward=scalar(reward), terminated=scalar(done, bool),
                        truncated=scalar(False, bool), info={})

    def reset(self, key):
        return jnp.zeros(()), self._ts(0.0, False)

    def step(self, key, state, actions):
        return state, self._ts(-jnp.sum((actions[:, 0] - 0.5) ** 2), True)


def test_continuous_ppo_learns_a_target():
    spec = parse_spec("""
env: {kind: coordsum}
algorithm: {kind: ippo, ent_coef: 0.0, num_minibatches: 1}
train: {total_env_steps: 4096, num_envs: 16, rollout_length: 16, lr: 0.01}
eval: {episodes: 8}
""")
    base = compile_spec(spec)
    algo = type(base.algorithm)(info=_TargetGame().info, config=base.algorithm.config, make_torso=base.algorithm.make_torso)
    exp = Experiment(env=_TargetGame(), algorithm=algo, num_envs=16, rollout_length=16, eval_episodes=8, greedy=True)
    before = float(exp.evaluate(exp.init(jax.random.PRNGKey(0)).learner, jax.random.PRNGKey(1), "execution")["return"].mean())
    rs, _ = eqx.filter_jit(exp.train)(jax.random.PRNGKey(0), 16)
    after = float(exp.evaluate(rs.learner, jax.random.PRNGKey(1), "execution")["return"].mean())
    assert after > -0.05, f"greedy return {after:.3f} (started at {before:.3f})"
    assert after > before
