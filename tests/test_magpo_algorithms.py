"""MAT, MAGPO, CTDS and HAPPO end to end: one tiny run of each through the one runner
(`marlspec.train.runner.run`), plus the properties that tell the algorithms apart, and
MAGPO with Sable's retentive guider (its memory carried across rollouts and reset at
episode starts)."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlspec.train.runner as runner
from marlspec.compile import compile as compile_spec
from marlspec.primitives import factorization as fz
from marlspec.primitives import gpo, objectives
from marlspec.spec import SpecError, parse_spec
from marlspec.train.rollout import rollout

SPEC = """
name: tiny_{kind}
env: {{kind: coordsum, agents: 3, actions: 4, max_target: 8, time_limit: 8}}
algorithm: {{kind: {kind}, epochs: 2, num_minibatches: 2{extra}}}
network: {network}
"""

NETWORKS = {"mat": "{kind: mlp, hidden: [16]}", "magpo": "{kind: gru, fc: 16, hidden: 16}",
            "ctds": "{kind: gru, fc: 16, hidden: 16}", "happo": "{kind: mlp, hidden: [16]}"}
JOINT = ", joint_policy: {embed_dim: 16}"
EXTRA = {"mat": JOINT, "magpo": JOINT + ", delta: 1.2, rl_coef: 2.0", "ctds": JOINT, "happo": ""}


def tiny_spec(kind: str, overrides: list[str]):
    text = SPEC.format(kind=kind, extra=EXTRA[kind], network=NETWORKS[kind])
    return parse_spec(text, overrides=[*overrides, "train.seeds=[0, 1]", "log.plot=false"])


@pytest.fixture(scope="module", params=["mat", "magpo", "ctds", "happo"])
def tiny_run(request, tiny_overrides, tmp_path_factory):
    spec = tiny_spec(request.param, tiny_overrides)
    return spec, runner.run(spec, tmp_path_factory.mktemp(request.param) / "run")


def test_tiny_run_completes_with_finite_metrics(tiny_run):
    spec, rundir = tiny_run
    summary = json.loads((rundir.path / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["env_steps_per_seed"] == 256
    records = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["env_steps"] == 256]
    assert len(last) == 2
    assert all(np.isfinite(r["policy_loss"]) and np.isfinite(r["value_loss"]) for r in last)
    assert all(0.0 <= r["eval_return"] <= 16.0 for r in last)  # best return is 2 * time_limit
    guided = spec.algorithm.kind in ("magpo", "ctds")
    # Guided algorithms report the guider (behaviour) beside the learners (execution).
    assert all(("behaviour_return" in r) == guided for r in last)
    if guided:
        assert summary["final_behaviour_return"] is not None
        assert all(np.isfinite(r["learner_kl"]) and 0.0 <= r["kl_mask_fraction"] <= 1.0 for r in last)
        if spec.algorithm.kind == "ctds":  # no delta constraint: the mask never fires
            assert all(r["kl_mask_fraction"] == 0.0 and r["guider_kl"] == 0.0 for r in last)


def test_distinct_behaviour_flags(tiny_overrides):
    flags = {k: compile_spec(tiny_spec(k, tiny_overrides)).algorithm.distinct_behaviour for k in EXTRA}
    assert flags == {"mat": False, "magpo": True, "ctds": True, "happo": False}


def _one_update(kind: str, overrides: list[str]):
    """The learner state before and after one compiled `Experiment.update` (a rollout, then every
    epoch and minibatch of the algorithm's update) from the state that PRNGKey(0) initialises."""
    exp = compile_spec(tiny_spec(kind, overrides))
    rs = exp.init(jax.random.PRNGKey(0))
    new, _ = eqx.filter_jit(exp.update)(rs)
    return rs.learner, new.learner


def _max_abs_diff(a, b) -> float:
    la, lb = (jax.tree.leaves(eqx.filter(x, eqx.is_inexact_array)) for x in (a, b))
    return max(float(jnp.abs(x - y).max()) for x, y in zip(la, lb, strict=True))


def test_ctds_is_magpo_without_the_constraint(tiny_overrides, monkeypatch):
    """CTDS is MAGPO with the delta constraint removed and lambda = 0, checked on behaviour.

    From the same initial state, one full update of the compiled CTDS (delta = inf) equals the
    update of MAGPO (lambda = 0, delta = 1.2) whose guider loss has the constraint cut out by hand
    (plain PPO clip on mu / mu_old, no double clip, no masked KL; `objectives.ppo_clip`), to float32
    rounding (1e-6). MAGPO with a binding constraint (delta = 1.01) makes a different update, so the
    comparison can fail."""
    ctds_before, ctds_after = _one_update("ctds", tiny_overrides)
    tight_before, tight_after = _one_update("magpo", [*tiny_overrides, "algorithm.rl_coef=0", "algorithm.delta=1.01"])

    def guider_objective_without_constraint(g_logits, l_logits, log_g, log_l, log_b, adv, clip_eps, delta):
        surrogate = objectives.ppo_clip(log_g, log_b, adv, clip_eps)
        return surrogate, surrogate, jnp.zeros_like(surrogate)

    monkeypatch.setattr(gpo, "guider_objective", guider_objective_without_constraint)
    free_before, free_after = _one_update("magpo", [*tiny_overrides, "algorithm.rl_coef=0", "algorithm.delta=1.2"])
    assert _max_abs_diff(ctds_before, free_before) == 0.0 and _max_abs_diff(ctds_before, tight_before) == 0.0
    assert _max_abs_diff(ctds_before, ctds_after) > 1e-4  # the update moved the parameters
    assert _max_abs_diff(ctds_after, free_after) <= 1e-6
    assert _max_abs_diff(ctds_after, tight_after) > 1e-4


def test_happo_actors_are_per_agent(tiny_overrides):
    algo = compile_spec(tiny_spec("happo", tiny_overrides)).algorithm
    state = eqx.filter_jit(algo.init)(jax.random.PRNGKey(0))
    w = state.actors.torso.layers[0].weight
    assert w.shape[0] == 3  # leading agent axis
    assert not jnp.allclose(w[0], w[1])  # distinct initial parameters per agent


def test_happo_refuses_shared_parameters(tiny_overrides):
    with pytest.raises(SpecError, match="algorithm.share_parameters"):
        parse_spec(SPEC.format(kind="happo", extra=", share_parameters: true", network=NETWORKS["happo"]))


def test_happo_critic_step_is_weighted_by_vf_coef(tiny_overrides):
    """The critic's loss is scaled by `vf_coef`: with 0 the critic's Adam sees zero gradients
    and leaves it unchanged; with the default it moves."""
    moved = {}
    for vf in (0.0, 0.5):
        exp = compile_spec(tiny_spec("happo", [*tiny_overrides, f"algorithm.vf_coef={vf}"]))
        rs = exp.init(jax.random.PRNGKey(0))
        new, metrics = eqx.filter_jit(exp.update)(rs)
        assert float(metrics["value_loss"]) > 0.0
        before, after = (eqx.filter(s.learner.critic, eqx.is_inexact_array) for s in (rs, new))
        moved[vf] = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True))
    assert moved[0.0] == 0.0
    assert moved[0.5] > 1e-6


# ----------------------------------------------------------------------------- Sable guider
SABLE = ", joint_policy: {embed_dim: 16, heads: 2, architecture: sable, shuffle_agents: false}"


@pytest.fixture(scope="module")
def sable_rollout(tiny_overrides):
    """MAGPO with Sable's retentive guider: two behaviour rollouts, so that the second starts
    mid-episode with a non-zero guider memory in its carry."""
    text = SPEC.format(kind="magpo", extra=SABLE, network=NETWORKS["magpo"])
    exp = compile_spec(parse_spec(text, overrides=[*tiny_overrides, "train.num_envs=4"]))
    rs = exp.init(jax.random.PRNGKey(0))
    actors, _, _ = rollout(exp.train_env, exp.algorithm, rs.learner, rs.actors, jax.random.PRNGKey(1), 5)
    _, traj, _ = rollout(exp.train_env, exp.algorithm, rs.learner, actors, jax.random.PRNGKey(2), 9)
    return exp, rs, traj


def replay_guider_log_prob(exp, learner, traj, first):
    memory = traj.init_carry[1]
    logits, _ = exp.algorithm.joint.logits_values(learner.guider, memory, traj.obs, traj.state, traj.actions,
                                                  traj.avail_actions, first, jnp.arange(exp.algorithm.info.num_agents))
    return fz.log_prob(logits, traj.actions)


def test_sable_replay_reproduces_the_guiders_behaviour_log_probs(sable_rollout):
    exp, rs, traj = sable_rollout
    assert bool(traj.first[1:].any()), "the rollout must cross an episode boundary"
    assert float(jnp.abs(traj.init_carry[1][0]).max()) > 0, "the rollout must start with a guider memory"
    replayed = jax.jit(lambda t: replay_guider_log_prob(exp, rs.learner, t, t.first))(traj)
    np.testing.assert_allclose(replayed, traj.extras["log_prob"], atol=2e-5)


def test_sable_replay_without_resets_differs(sable_rollout):
    """The check above can fail: carrying the memory across episode starts changes the log-probs."""
    exp, rs, traj = sable_rollout
    replayed = jax.jit(lambda t: replay_guider_log_prob(exp, rs.learner, t, jnp.zeros_like(t.first)))(traj)
    assert float(jnp.abs(replayed - traj.extras["log_prob"]).max()) > 1e-4


def test_sable_guided_update_moves_both_networks_with_finite_losses(sable_rollout):
    exp, rs, _ = sable_rollout
    new, metrics = eqx.filter_jit(exp.update)(rs)
    assert all(np.isfinite(float(v)) for v in metrics.values() if jnp.ndim(v) == 0)
    for net in ("guider", "learner"):
        before, after = (eqx.filter(getattr(s.learner, net), eqx.is_inexact_array) for s in (rs, new))
        assert max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after),
                                                                strict=True)) > 1e-6, net


def test_sable_as_the_ctce_baseline_updates_with_finite_losses(tiny_overrides):
    """`mat` with `architecture: sable` is the Sable baseline: PPO on the retentive joint
    policy, its memory the carry of acting and the replay start of the update."""
    text = SPEC.format(kind="mat", extra=SABLE, network=NETWORKS["mat"])
    exp = compile_spec(parse_spec(text, overrides=tiny_overrides))
    rs = exp.init(jax.random.PRNGKey(0))
    assert jax.tree.structure(rs.actors.carry) == jax.tree.structure(exp.algorithm.initial_carry())
    new, metrics = eqx.filter_jit(exp.update)(rs)
    assert np.isfinite(float(metrics["policy_loss"])) and np.isfinite(float(metrics["value_loss"]))
    assert float(jnp.abs(new.actors.carry[0]).max()) > 0  # the memory advanced during the rollout
