"""AgentMixer (paper 000): the Policy Modifier, IGC inside the deep module, the update's replay of
the behaviour policy, the no-mixer reduction to MAPPO, and bad input.

Every test runs on tiny environments (a one-step matrix game, a one-step continuous game) and
shares the compiled experiments through module fixtures."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.algorithms.agentmixer import AgentMixer
from marlspec.compile import _agentmixer, make_torso
from marlspec.compile import compile as compile_spec
from marlspec.envs.base import Env, EnvInfo, TimeStep, all_available, scalar
from marlspec.nn.policy_modifier import PolicyModifier
from marlspec.primitives import igc
from marlspec.spec import parse_spec
from marlspec.train.experiment import Experiment
from marlspec.train.rollout import rollout
from tests.test_spec_errors import check_one_line

DISCRETE = """
env: {kind: coordsum, agents: 3, actions: 4, max_target: 8, time_limit: 6}
algorithm: {kind: agentmixer, num_minibatches: 2, epochs: 1, head_noise: 1.0}
network: {kind: gru, fc: 16, hidden: 16}
train: {total_env_steps: 4096, num_envs: 4, rollout_length: 10}
eval: {episodes: 4}
"""


class _ContinuousGame(Env):
    """One-step game with 3 agents and 2-dimensional actions; reward -|a - 0.3|^2."""

    info: EnvInfo = eqx.field(static=True)

    def __init__(self):
        self.info = EnvInfo(name="test/continuous", num_agents=3, obs_dim=2, state_dim=3, action_type="continuous",
                            num_actions=2, max_steps=1)

    def _ts(self, obs, reward, done):
        return TimeStep(obs=obs, state=obs[:, 0], avail_actions=all_available(3, 2), agent_mask=jnp.ones((3,), bool),
                        reward=scalar(reward), terminated=scalar(done, bool), truncated=scalar(False, bool), info={})

    def reset(self, key):
        obs = jax.random.normal(key, (3, 2))
        return obs, self._ts(obs, 0.0, False)

    def step(self, key, state, actions):
        return state, self._ts(state, -jnp.sum((actions - 0.3) ** 2), True)


def continuous_experiment(covariance: str, **algo: object) -> Experiment:
    extra = "".join(f", {k}: {v}" for k, v in algo.items())
    rank = ", rank: 2" if covariance == "lowrank" else ""
    spec = parse_spec(f"""
env: {{kind: mabrax, scenario: ant_4x2}}
algorithm: {{kind: agentmixer, num_minibatches: 1, epochs: 1, covariance: {covariance}{rank}{extra}}}
train: {{total_env_steps: 4096, num_envs: 8, rollout_length: 1}}
""")  # validated as a continuous spec; the builder `compile` uses then runs on our small game
    env = _ContinuousGame()
    algorithm = _agentmixer(spec, env.info, make_torso(spec.network))
    return Experiment(env=env, algorithm=algorithm, num_envs=8, rollout_length=1, eval_episodes=4, greedy=True)


@pytest.fixture(scope="module")
def discrete():
    exp = compile_spec(parse_spec(DISCRETE))
    rs = exp.init(jax.random.PRNGKey(0))
    # Two rollouts: the second starts mid-episode with a non-zero recurrent state.
    actors, _, _ = rollout(exp.train_env, exp.algorithm, rs.learner, rs.actors, jax.random.PRNGKey(1), 7)
    _, traj, _ = rollout(exp.train_env, exp.algorithm, rs.learner, actors, jax.random.PRNGKey(2), 10)
    return exp, rs.learner, traj


# ---------------------------------------------------------------- Policy Modifier


def test_policy_modifier_shapes_and_agent_equivariance():
    """Permuting the agents together with the agent-mixing weights and the id embedding permutes
    the output: no other part of the module depends on agent positions. A module that mixed
    agents in any other way (e.g. a reshape that mixes features across agents) fails this."""
    n, width = 4, 8
    pm = PolicyModifier(n, 5, 3, 6, 6, width=width, agent_hidden=7, channel_hidden=16, blocks=2, key=jax.random.PRNGKey(0))
    pm = eqx.tree_at(lambda m: m.head, pm, eqx.nn.Linear(width, 6, key=jax.random.PRNGKey(9)))  # a non-tiny head
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    state, obs, pol = jax.random.normal(k1, (5,)), jax.random.normal(k2, (n, 3)), jax.random.uniform(k3, (n, 6))
    out = pm(state, obs, pol)
    assert out.shape == (n, 6)
    perm = jnp.array([2, 0, 3, 1])

    def permute(m: PolicyModifier) -> PolicyModifier:
        m = eqx.tree_at(lambda x: x.agent_embedding, m, m.agent_embedding[perm])
        for i in range(len(m.blocks)):
            first = m.blocks[i].agent_mlp.first
            second = m.blocks[i].agent_mlp.second
            m = eqx.tree_at(lambda x, i=i: x.blocks[i].agent_mlp.first.weight, m, first.weight[:, perm])
            m = eqx.tree_at(lambda x, i=i: (x.blocks[i].agent_mlp.second.weight, x.blocks[i].agent_mlp.second.bias),
                            m, (second.weight[perm], second.bias[perm]))
        return m

    np.testing.assert_allclose(permute(pm)(state, obs[perm], pol[perm]), out[perm], rtol=1e-5, atol=1e-5)
    # The agent-mixing really mixes: changing one agent's input moves the other agents' rows.
    moved = pm(state, obs.at[0].add(1.0), pol)
    assert float(jnp.abs(moved[1:] - out[1:]).max()) > 1e-4


# ---------------------------------------------------------------- IGC in the deep module


def test_discrete_igc_joint_mode_matches_individual_policy_in_the_sampling_sense(discrete):
    """IGC (claim 9, sampling sense): when the modifier's head is random with sigmoid(h) ~ U(0, 1),
    the joint policy's mode argmax_a (l_i + g(h_i))_a is distributed as the individual policy
    softmax(l_i) (Gumbel-max), so its most frequent action is the individual mode. Here l_i come
    from the real actor on a real observation, h from the real modifier (zeroed head) plus the
    random part, and the joint logits from `AgentMixer.joint_policy`."""
    exp, learner, traj = discrete
    algo: AgentMixer = exp.algorithm
    ts = jax.tree.map(lambda x: x[3, 0], traj)
    h0 = jax.tree.map(lambda x: x[0], traj.init_carry)
    _, out = jax.vmap(learner.actor)(h0[0], algo.ppo.actor_inputs(ts.obs), jnp.zeros(3, bool))
    out = 3.0 * out / jnp.maximum(jnp.abs(out).max(), 1e-6)  # spread the individual policy out
    individual = algo.ppo.policy(learner.log_std, out, ts.avail_actions)
    modifier = eqx.tree_at(lambda m: (m.head.weight, m.head.bias), learner.modifier,
                           (jnp.zeros_like(learner.modifier.head.weight), jnp.zeros_like(learner.modifier.head.bias)))
    draws = 40_000
    u = jax.random.uniform(jax.random.PRNGKey(5), (draws, 3, 4), minval=1e-7, maxval=1 - 1e-7)
    noise = jnp.log(u) - jnp.log1p(-u)  # logit(U): sigmoid(h) is uniform (head_noise is 1 in DISCRETE)
    joint = jax.vmap(lambda e: algo.joint_policy(modifier, individual, ts.obs, ts.state, e, ts.avail_actions,
                                                 jnp.asarray(0.05))["logits"])(noise)
    freq = jax.vmap(lambda a: jnp.bincount(a, length=4) / draws, in_axes=1)(jnp.argmax(joint, -1))
    target = jax.nn.softmax(individual["logits"], -1)
    # 40k draws: a frequency's standard error is at most 0.0025; 0.015 is six of them.
    np.testing.assert_allclose(freq, target, atol=0.015)
    np.testing.assert_array_equal(jnp.argmax(freq, -1), jnp.argmax(target, -1))


@pytest.mark.parametrize("covariance", ["diagonal", "lowrank"])
def test_continuous_igc_joint_mean_is_the_individual_mean(covariance):
    """Continuous IGC on the real network: with random parameters and a non-trivial modifier head
    (so the spread differs per agent and, for `lowrank`, correlates them), the mean of many joint
    actions sampled by `act(mode="behaviour")` equals the individual means (`act(mode="execution",
    greedy)`), within 5 standard errors. A shifted joint mean fails."""
    # The low-rank case also runs heterogeneous agents (one actor per agent, stacked).
    exp = continuous_experiment(covariance, **({"share_parameters": "false"} if covariance == "lowrank" else {}))
    algo: AgentMixer = exp.algorithm
    assert algo.stacked == (covariance == "lowrank")
    learner = algo.init(jax.random.PRNGKey(0))
    big_head = eqx.tree_at(lambda m: m.head.weight, learner.modifier, 50.0 * learner.modifier.head.weight)
    learner = eqx.tree_at(lambda s: s.modifier, learner, big_head)
    _, ts = exp.env.reset(jax.random.PRNGKey(1))
    carry = algo.initial_carry()
    means, _, _ = algo.act(learner, ts, carry, jax.random.PRNGKey(2), "execution", greedy=True)
    draws = 20_000
    keys = jax.random.split(jax.random.PRNGKey(3), draws)
    actions, _, extras = jax.vmap(lambda k: algo.act(learner, ts, carry, k, "behaviour"))(keys)
    spread = actions.std(0)
    assert float(spread.max() / spread.min()) > 1.5, "the head must make the spreads differ"
    if covariance == "lowrank":
        flat = actions.reshape(draws, -1)
        corr = jnp.corrcoef(flat.T)
        assert float(jnp.abs(corr - jnp.eye(6)).max()) > 0.1, "the low-rank factor must correlate the agents"
    np.testing.assert_array_less(jnp.abs(actions.mean(0) - means), 5 * spread / np.sqrt(draws))
    assert bool(jnp.all(jnp.isfinite(extras["joint_log_prob"])))
    # One update on a real rollout moves every part (the stacked actors included) and stays finite.
    rs = exp.init(jax.random.PRNGKey(4))
    _, traj, _ = rollout(exp.train_env, algo, rs.learner, rs.actors, jax.random.PRNGKey(5), 1)
    new, metrics = algo.update(rs.learner, traj, jax.random.PRNGKey(6))
    assert all(bool(jnp.isfinite(v)) for v in metrics.values())
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: jnp.abs(a - b).max(), eqx.filter(new.actor, eqx.is_array),
                                         eqx.filter(rs.learner.actor, eqx.is_array)))
    assert max(float(x) for x in moved) > 0


# ---------------------------------------------------------------- the update


def joint_log_prob_in_update(exp: Experiment, learner, traj, noise):
    """The joint log-probs the update's loss computes for the rollout's actions (`AgentMixer.replay`),
    with the parameters the rollout was collected with."""
    algo: AgentMixer = exp.algorithm
    _, dist = algo.replay(learner.actor, learner.log_std, learner.modifier, traj.init_carry[0], traj.obs, traj.state,
                          traj.avail_actions, traj.first, noise, algo.tau(learner.env_steps))
    return algo.log_prob_entropy(dist, traj.actions, traj.agent_mask.astype(jnp.float32))[2]


def test_update_replays_the_behaviour_policy(discrete):
    """The update's joint log-probs equal the stored behaviour ones (a recurrent actor replayed
    across an episode reset, the stored head noise reused), so the first PPO ratio is exactly 1.
    Drawing fresh noise instead of reusing the stored one breaks it."""
    exp, learner, traj = discrete
    assert bool(traj.first[1:].any()) and float(jnp.abs(traj.init_carry[0]).max()) > 0
    stored = traj.extras["joint_log_prob"]
    np.testing.assert_allclose(joint_log_prob_in_update(exp, learner, traj, traj.extras["noise"]), stored,
                               rtol=1e-5, atol=1e-5)
    fresh = jax.random.normal(jax.random.PRNGKey(7), traj.extras["noise"].shape)
    assert float(jnp.abs(joint_log_prob_in_update(exp, learner, traj, fresh) - stored).max()) > 1e-3


def test_update_moves_actors_critic_and_modifier(discrete):
    exp, learner, traj = discrete
    new, metrics = eqx.filter_jit(exp.algorithm.update)(learner, traj, jax.random.PRNGKey(3))
    for name in ("actor", "critic", "modifier"):
        before = jax.tree.leaves(eqx.filter(getattr(learner, name), eqx.is_inexact_array))
        after = jax.tree.leaves(eqx.filter(getattr(new, name), eqx.is_inexact_array))
        assert max(float(jnp.abs(a - b).max()) for a, b in zip(after, before, strict=True)) > 0, name
    assert all(bool(jnp.isfinite(v)) for v in metrics.values())
    assert int(new.env_steps) == traj.reward.size
    assert float(metrics["tau"]) == pytest.approx(1.0)


def test_without_mixer_and_with_per_agent_ratios_it_is_mappo():
    """`mixer: false, ratio: per_agent` is MAPPO: the same initial parameters, rollouts and
    updates from the same key."""
    mappo = compile_spec(parse_spec(DISCRETE.replace(
        "kind: agentmixer, num_minibatches: 2, epochs: 1, head_noise: 1.0", "kind: mappo, num_minibatches: 2, epochs: 1")))
    mixer_off = compile_spec(parse_spec(DISCRETE.replace("head_noise: 1.0", "mixer: false, ratio: per_agent")))
    a, _ = eqx.filter_jit(mappo.train)(jax.random.PRNGKey(4), 3)
    b, _ = eqx.filter_jit(mixer_off.train)(jax.random.PRNGKey(4), 3)
    for x, y in zip(jax.tree.leaves((a.learner.actor, a.learner.critic)),
                    jax.tree.leaves((b.learner.actor, b.learner.critic)), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    # ... and the joint ratio is a different algorithm: the same start, different parameters.
    joint = compile_spec(parse_spec(DISCRETE.replace("head_noise: 1.0", "mixer: false")))
    c, _ = eqx.filter_jit(joint.train)(jax.random.PRNGKey(4), 3)
    assert max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a.learner.actor),
                                                          jax.tree.leaves(c.learner.actor), strict=True)) > 1e-4


def test_lowrank_log_prob_matches_dense_gaussian():
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    mean, x = jax.random.normal(k[0], (6,)), jax.random.normal(k[1], (6,))
    std, factor = jnp.exp(0.3 * jax.random.normal(k[2], (6,))), jax.random.normal(k[3], (6, 2))
    cov = jnp.diag(std**2) + factor @ factor.T
    np.testing.assert_allclose(igc.lowrank_gaussian_log_prob(x, mean, std, factor),
                               jax.scipy.stats.multivariate_normal.logpdf(x, mean, cov), rtol=1e-5)
    np.testing.assert_allclose(igc.lowrank_gaussian_entropy(std, factor),
                               0.5 * (6 * (1 + np.log(2 * np.pi)) + jnp.linalg.slogdet(cov)[1]), rtol=1e-5)


# ---------------------------------------------------------------- bad input

BAD = {
    "tau_rises": ("algorithm: {kind: agentmixer, tau_start: 0.1, tau_end: 0.5}", "algorithm.tau_end", "tau_end <= tau_start"),
    "discrete_option_on_continuous": ("env: {kind: mabrax, scenario: ant_4x2}\nalgorithm: {kind: agentmixer, tau_end: 0.1}",
                                      "algorithm.tau_end", "only to discrete"),
    "continuous_option_on_discrete": ("algorithm: {kind: agentmixer, covariance: lowrank}", "algorithm.covariance",
                                      "only to continuous"),
    "rank_without_lowrank": ("env: {kind: mabrax, scenario: ant_4x2}\nalgorithm: {kind: agentmixer, rank: 3}",
                             "algorithm.rank", "covariance: lowrank"),
    "mixer_option_without_mixer": ("algorithm: {kind: agentmixer, mixer: false, width: 32}", "algorithm.width",
                                   "mixer: true"),
    "no_igc_without_mixer": ("algorithm: {kind: agentmixer, mixer: false, igc: false}", "algorithm.igc", "mixer: true"),
    "lowrank_per_agent": ("env: {kind: mabrax, scenario: ant_4x2}\nalgorithm: {kind: agentmixer, covariance: lowrank,"
                          " ratio: per_agent}", "algorithm.ratio", "ratio: joint"),
    "mixer_width_too_small": ("algorithm: {kind: agentmixer, width: 1}", "algorithm.width", ">= 2"),
    "gumbel_c_above_one": ("algorithm: {kind: agentmixer, gumbel_c: 2}", "algorithm.gumbel_c", "<= 1"),
    "imitation_with_igc": ("algorithm: {kind: agentmixer, imitation_coef: 2}", "algorithm.imitation_coef", "igc: false"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_agentmixer_input_is_one_line(case, tmp_path):
    from typer.testing import CliRunner

    from marlspec.cli import app

    body, *needles = BAD[case]
    text = body if body.startswith("env:") else "env: {kind: coordsum}\n" + body
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    check_one_line(CliRunner().invoke(app, ["validate", str(path)]), *needles)
