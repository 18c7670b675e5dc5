"""MIPI as a trainable algorithm: padded agent slots change no loss or metric, the soft TD
target of eq. 16 is wired as written, and held-out team compositions are evaluated and
reported on their own by the runner."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import Array

from marlspec.algorithms.mipi import MIPI, MIPIConfig, last
from marlspec.algorithms.off_policy import OffPolicyConfig
from marlspec.envs.base import EnvInfo
from marlspec.nn import TorsoFactory
from marlspec.nn.entity import EntityNetConfig
from marlspec.primitives import factorization as fz
from marlspec.primitives import mi
from marlspec.spec import load_spec
from marlspec.train.replay import Episodes
from marlspec.train.runner import run

# A synthetic dynamic team: 3 agent slots and 2 enemy slots (5 global entities); each agent sees
# the 2 other allies and the 2 enemies (4 rows of 3 features) and 2 features of its own.
N, ENEMIES, D, OWN, A, L = 3, 2, 3, 2, 4, 3
G = N + ENEMIES
E = G - 1
INFO = EnvInfo(
    name="synthetic/teams", num_agents=N, obs_dim=E * D + OWN, state_dim=G * D, action_type="discrete",
    num_actions=A, max_steps=L, n_entities=E, entity_dim=D, own_features=(E * D, E * D + 1),
    entity_ids=tuple(tuple([j for j in range(N) if j != i] + [N, N + 1]) for i in range(N)), state_entity_dim=D,
    dynamic_team=True,
)


def mipi(regularizer: str = "mi", **over) -> MIPI:
    config = OffPolicyConfig(
        gamma=0.9, td_lambda=over.pop("td_lambda", 0.8), buffer_size=8, batch_size=32, train_steps=1,
        target_update_interval=200, target_update_unit="episodes", reward_scale=1.0, optimizer="adam", lr=5e-4,
        max_grad_norm=10.0, epsilon_start=1.0, epsilon_end=0.05, epsilon_anneal_steps=50_000, alpha_start=0.5,
        alpha_end=0.05, alpha_anneal_steps=200_000, last_action=True, agent_id=False, num_envs=1, double_q=None,
        mixing_embed=8, hypernet_embed=None, dependency_embed=None, attention_heads=2, mixing=None,
        first_agent_correction=None, normalize_state=True)
    cfg = dict(regularizer=regularizer, ba_iterations=2, imagine=True, imagine_lambda=0.5, shared_torso=True,
               actor_utility="q", attack_head="entity") | over
    return MIPI(info=INFO, config=config, make_torso=TorsoFactory("gru", (8,), 8, "relu"),
                net=EntityNetConfig(embed=8, heads=2, hidden=8, recurrent=True, activation="relu"), mipi=MIPIConfig(**cfg))


def team_episodes(batch: int = 4, seed: int = 0) -> Episodes:
    """Random episodes of a team with agent slot 2 and enemy slot 1 (global 4) absent: their rows
    are zero in every observation and in the state, as an environment writes them."""
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    L1 = L + 1
    present_global = jnp.array([True, True, False, True, False])
    ids = jnp.asarray(INFO.entity_ids)
    rows = jax.random.normal(k[0], (batch, L1, N, E, D)) * present_global[ids][None, None, :, :, None]
    own = jax.random.normal(k[1], (batch, L1, N, OWN))
    obs = jnp.concatenate([rows.reshape(batch, L1, N, E * D), own], -1)
    state = (jax.random.normal(k[2], (batch, L1, G, D)) * present_global[None, None, :, None]).reshape(batch, L1, -1)
    length = jnp.array([L, 1, 2, L])[:batch]
    avail = (jax.random.uniform(k[3], (batch, L1, N, A)) > 0.3).at[..., 0].set(True)
    return Episodes(
        obs=obs, state=state, avail_actions=avail,
        agent_mask=jnp.broadcast_to(jnp.array([True, True, False]), (batch, L1, N)),
        actions=jax.random.randint(k[4], (batch, L1, N), 0, A), reward=jax.random.normal(k[5], (batch, L1)),
        terminated=jnp.arange(L1)[None, :] == (length[:, None] - 1), truncated=jnp.zeros((batch, L1), bool),
        length=length,
    )


def scramble_padded_slot(ep: Episodes, seed: int) -> Episodes:
    """Everything of agent slot 2 (absent) replaced by garbage: its observation, action and
    available actions (at least one stays available)."""
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    obs = ep.obs.at[:, :, 2].set(jax.random.normal(k[0], ep.obs[:, :, 2].shape) * 5)
    actions = ep.actions.at[:, :, 2].set(jax.random.randint(k[1], ep.actions[:, :, 2].shape, 0, A))
    avail = ep.avail_actions.at[:, :, 2].set(jax.random.uniform(k[2], ep.avail_actions[:, :, 2].shape) > 0.5)
    avail = avail.at[:, :, 2, 0].set(True)
    return eqx.tree_at(lambda e: (e.obs, e.actions, e.avail_actions), ep, (obs, actions, avail))


@pytest.fixture(scope="module")
def algo_and_params():
    """MIPI with every term (MI regulariser, marginal, imagined loss); one compilation."""
    algo = mipi("mi")
    params = algo.init_params(jax.random.PRNGKey(0))
    target = algo.init_params(jax.random.PRNGKey(1))
    alpha = jnp.asarray(0.3)
    losses = eqx.filter_jit(lambda p, t, b, k: algo.losses(p, t, b, k, alpha))
    return algo, params, target, losses


def test_padded_agent_slots_change_no_loss_or_metric(algo_and_params):
    """Every loss and metric MIPI reports is the same whatever an absent agent's slot holds."""
    algo, params, target, losses = algo_and_params
    ep = team_episodes()
    base = losses(params, target, ep, jax.random.PRNGKey(3))
    assert {"critic_loss", "imagined_loss", "policy_loss", "entropy"} <= set(base)
    for seed in range(2):
        other = losses(params, target, scramble_padded_slot(ep, seed), jax.random.PRNGKey(3))
        for name, value in base.items():
            assert np.isfinite(float(value)), name
            np.testing.assert_allclose(float(other[name]), float(value), rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_check_sees_a_slot_that_is_present(algo_and_params):
    """The same perturbation on a PRESENT agent (slot 1) does change the losses: the invariance
    above is not vacuous."""
    algo, params, target, losses = algo_and_params
    ep = team_episodes()
    base = losses(params, target, ep, jax.random.PRNGKey(3))
    swapped = eqx.tree_at(lambda e: e.agent_mask, ep, ep.agent_mask.at[:, :, 2].set(True).at[:, :, 1].set(False))
    moved = losses(params, target, scramble_padded_slot(swapped, 0), jax.random.PRNGKey(3))
    assert abs(float(moved["critic_loss"]) - float(base["critic_loss"])) > 1e-6


def test_padded_slots_get_no_mixing_weight():
    algo = mipi("mi")
    critic = algo.init_params(jax.random.PRNGKey(0))[0]
    ep = team_episodes()
    x = algo.entity_inputs(jax.tree.map(lambda v: v[0], ep))
    w, _ = jax.vmap(critic.mixer)(x["srows"], x["spresent"], ep.agent_mask[0])
    assert float(jnp.abs(w[:, 2]).max()) == 0.0
    assert float(w[:, :2].min()) >= 0.0 and float(w[:, :2].max()) > 0.0


def test_eq16_target_is_the_mi_augmented_soft_bootstrap():
    """A one-step, truncated episode: the critic's target is r + gamma (Qhat_jt(s', u') - alpha
    sum_i [log pi_i(u'_i|s') - log pibar_i(u'_i|s'+)]), with u' the policy's (made deterministic
    here) action, Qhat from the target critic and mixer, and only present agents in the sum."""
    algo = mipi("mi", td_lambda=0.0)
    critic, policy, marginal = algo.init_params(jax.random.PRNGKey(0))
    bias = jnp.zeros(A).at[1].set(40.0)  # pi_i puts all its mass on action 1
    policy = eqx.tree_at(lambda p: (p.head.weight, p.head.bias), policy, (jnp.zeros_like(policy.head.weight), bias))
    target = algo.init_params(jax.random.PRNGKey(5))
    ep = jax.tree.map(lambda v: v[:1], team_episodes())
    ep = eqx.tree_at(lambda e: (e.length, e.terminated, e.truncated, e.avail_actions),
                     ep, (jnp.ones(1, jnp.int32), jnp.zeros_like(ep.terminated), ep.truncated.at[:, 0].set(True),
                          jnp.ones_like(ep.avail_actions)))
    alpha = 0.3
    terms, _ = algo.critic_terms((critic, policy, marginal), target, jax.tree.map(lambda v: v[0], ep),
                                 jax.random.PRNGKey(2), jnp.asarray(alpha))
    one = jax.tree.map(lambda v: v[0], ep)
    x = algo.entity_inputs(one)
    u_next = jnp.ones((L + 1, N), jnp.int32)
    tq = jnp.take_along_axis(jax.vmap(jax.vmap(target[0].q_head))(
        algo.unroll(target[0].torso, x["own"], x["rows"], x["present"])), u_next[..., None], -1)[..., 0]
    q_next, _ = algo._mix(target[0].mixer, x, tq, one)
    log_marginal = jax.nn.log_softmax(algo.marginal_logits(marginal, x), -1)[1, :, 1]
    live = one.agent_mask[1].astype(jnp.float32)
    y = one.reward[0] + 0.9 * (q_next[1] - alpha * jnp.sum(live * (0.0 - log_marginal)))
    q = jax.vmap(jax.vmap(critic.q_head))(algo.unroll(critic.torso, x["own"], x["rows"], x["present"]))
    q_jt, _ = algo._mix(critic.mixer, x, jnp.take_along_axis(q, one.actions[..., None], -1)[..., 0], one)
    np.testing.assert_allclose(float(terms["critic"][0]), float((q_jt[0] - y) ** 2), rtol=2e-4, atol=1e-5)


def test_eq17_marginal_fits_the_policy_under_the_imagined_composition(algo_and_params):
    """Eq. 17's target is pi_i(.|s+, s*), with s* the within-group view of REFIL's split: the same
    policy on observations whose out-of-group rows are zeroed, which is how an environment writes
    an absent entity. A marginal fitted to the policy on the real s- is caught (the two differ)."""
    algo, params, target, _ = algo_and_params
    critic, policy, marginal = params
    policy = eqx.tree_at(lambda p: p.head.weight, policy, policy.head.weight * 300)  # both far from uniform
    marginal = eqx.tree_at(lambda m: m.head.weight, marginal, marginal.head.weight * 300)
    ep = team_episodes()
    aux = algo.critic_loss(critic, (policy, marginal), target, ep, jax.random.PRNGKey(3), jnp.asarray(0.3))[1][1]
    assert bool((aux["within"] != aux["present"]).any()), "the split must hide some entity for this check"
    B, L1 = ep.obs.shape[:2]
    rows = ep.obs[..., : E * D].reshape(B, L1, N, E, D) * aux["within"][..., None]
    imagined_ep = eqx.tree_at(lambda e: e.obs, ep, jnp.concatenate([rows.reshape(B, L1, N, E * D), ep.obs[..., E * D:]], -1))

    def nll(episodes: Episodes) -> Array:
        def one(e: Episodes) -> Array:
            x = algo.entity_inputs(e)
            probs = jax.nn.softmax(fz.mask_logits(
                last(policy.head, algo.unroll(critic.torso, x["own"], x["rows"], x["present"])), e.avail_actions))
            return jax.vmap(jax.vmap(mi.marginal_nll))(probs, algo.marginal_logits(marginal, x), e.avail_actions)
        return algo._means({"m": jax.vmap(one)(episodes)}, episodes)["m"]

    got = float(algo.marginal_loss(marginal, policy, aux, ep))
    np.testing.assert_allclose(got, float(nll(imagined_ep)), rtol=1e-5, atol=1e-6)
    assert abs(got - float(nll(ep))) > 1e-5  # the real view gives another loss


def test_ba_iterations_alternate_marginal_and_policy_steps():
    """One `gradient_step` with 2 Blahut-Arimoto iterations moves the marginal and the policy
    twice (two optimiser steps each); the critic once; with regularizer `none` no marginal exists."""
    algo = mipi("mi")
    params = algo.init_params(jax.random.PRNGKey(0))
    opt = algo.optimizer()
    states = tuple(opt.init(eqx.filter(g, eqx.is_inexact_array)) for g in params)
    new, new_states, metrics = eqx.filter_jit(algo.gradient_step)(params, states, params, team_episodes(),
                                                                  jax.random.PRNGKey(1), jnp.asarray(0.3))
    adam = lambda s: [x for x in jax.tree.leaves(s, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
                      if isinstance(x, optax.ScaleByAdamState)]
    assert [int(adam(s)[0].count) for s in new_states] == [1, 2, 2]
    assert {"marginal_loss", "policy_loss", "mi", "critic_loss"} <= set(metrics)
    assert mipi("none").init_params(jax.random.PRNGKey(0))[2] is None


# --------------------------------------------------------------------- runner, held-out compositions

TINY = """name: mipi_tiny
env: {kind: team_matrix, teams: [AB, BA]}
algorithm: {kind: mipi, alpha: 0.5, batch_size: 8, buffer_size: 16, optimizer: adam}
network: {kind: entity, embed: 8, heads: 2, hidden: 8, recurrent: false}
train: {total_env_steps: 64, num_envs: 4, rollout_length: 1, seeds: [0, 1]}
eval: {interval: 32, episodes: 4, compositions: {BB: {teams: [BB]}, AA: {teams: [AA]}}}
log: {progress: false, checkpoint: false}
"""


@pytest.fixture(scope="module")
def composition_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mipi_run")
    (folder / "spec.yaml").write_text(TINY)
    return run(load_spec(folder / "spec.yaml"), folder / "run").path


def test_runner_reports_every_composition_separately(composition_run):
    records = [json.loads(x) for x in (composition_run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3 * 2  # 3 evaluations x 2 seeds
    for r in records:
        assert set(r["compositions"]) == {"BB", "AA"}
        assert r["eval_return"] in (1.0, 0.5, 1.5)  # greedy: one joint action of the AB/BA table
        for name in ("BB", "AA"):  # and of the same-type teams' table (marlspec/envs/team_matrix.py)
            assert r["compositions"][name]["eval_return"] in (1.0, 1.25, -1.0)
    summary = json.loads((composition_run / "summary.json").read_text())
    assert set(summary["compositions"]) == {"BB", "AA"}
    assert set(summary["compositions"]["BB"]["final_return_per_seed"]) == {"0", "1"}
    marl = json.loads((composition_run / "marl_eval.json").read_text())["team_matrix"]
    assert set(marl) == {"AB+BA", "AB+BA@BB", "AB+BA@AA"}
    assert "absolute_metrics" in marl["AB+BA@BB"]["mipi"]["seed_0"]
    for name in ("learning_curve.png", "learning_curve_BB.png", "learning_curve_AA.png"):
        assert (composition_run / "plots" / name).exists()
