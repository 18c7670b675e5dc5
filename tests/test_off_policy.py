"""The off-policy family through the one runner, and MACPF's gradient routing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.algorithms.macpf import MACPF
from marlspec.compile import compile as compile_spec
from marlspec.compile import off_policy_config
from marlspec.envs.matrix import MatrixGame, penalty
from marlspec.nn import TorsoFactory
from marlspec.spec import SpecError, load_spec
from marlspec.train.replay import Episodes
from marlspec.train.runner import evaluate_run, init_states, run

# ------------------------------------------------------------------ gradient routing

ROOT = Path(__file__).resolve().parent.parent
MACPF_CONFIG = off_policy_config(load_spec(ROOT / "specs" / "matrix" / "macpf_penalty.yaml"))
"""The off-policy config of a shipped MACPF spec (every default from the spec)."""


def random_episodes(info, batch: int, seed: int = 0) -> Episodes:
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    L1, n, a = info.max_steps + 1, info.num_agents, info.num_actions
    length = jnp.array([info.max_steps, 1, 2, info.max_steps])[:batch]
    terminated = jnp.arange(L1)[None, :] == (length[:, None] - 1)
    return Episodes(
        obs=jax.random.normal(k[0], (batch, L1, n, info.obs_dim)),
        state=jax.random.normal(k[1], (batch, L1, info.state_dim)),
        avail_actions=jnp.ones((batch, L1, n, a), bool),
        agent_mask=jnp.ones((batch, L1, n), bool),
        actions=jax.random.randint(k[2], (batch, L1, n), 0, a),
        reward=jax.random.normal(k[3], (batch, L1)) * 10,
        terminated=terminated,
        truncated=jnp.zeros((batch, L1), bool),
        length=length,
    )


def nonzero(tree) -> bool:
    leaves = jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))
    return any(bool(jnp.any(leaf != 0)) for leaf in leaves)


@pytest.fixture(scope="module")
def macpf_grads():
    env = MatrixGame(penalty(-100.0), episode_length=3)
    algo = MACPF(info=env.info, config=dataclasses.replace(MACPF_CONFIG, num_envs=1, td_lambda=0.8), make_torso=TorsoFactory("gru", (16,), 16, "relu"))
    params = algo.init_params(jax.random.PRNGKey(0))
    target = algo.init_params(jax.random.PRNGKey(1))
    batch = random_episodes(env.info, 4)

    @eqx.filter_jit
    def grads(params):
        def one(name):
            return eqx.filter_grad(lambda p: algo.losses(p, target, batch, jax.random.PRNGKey(2), jnp.asarray(0.3))[name])(params)

        return {name: one(name) for name in ("policy_loss", "dep_policy_loss", "critic_loss", "dep_critic_loss")}

    return grads(params)


@pytest.mark.parametrize(
    ("loss", "updated"),
    [
        ("policy_loss", {"policy"}),  # J^ind (eq. 19) trains pi^ind only
        ("dep_policy_loss", {"policy_correction"}),  # J^dep (eq. 18) trains b^dep only
        ("critic_loss", {"critic", "mixer"}),  # L^ind (eq. 17): Q^ind and the mixer
        ("dep_critic_loss", {"critic_correction", "mixer"}),  # L^dep (eq. 16): c^dep and the mixer
    ],
)
def test_macpf_routes_each_loss_to_its_own_modules(macpf_grads, loss, updated):
    (actor, critic) = macpf_grads[loss]
    modules = {
        "policy": actor.policy, "policy_correction": actor.correction,
        "critic": critic.critic, "critic_correction": critic.correction, "mixer": critic.mixer,
    }
    assert {name for name, m in modules.items() if nonzero(m)} == updated


# ------------------------------------------------------------------ end to end

SEED = ["train.seeds=[0]", "algorithm.batch_size=8", "log.plot=false", "log.checkpoint=true"]
RECURRENT = ["network.kind=gru", "network.hidden=16", "network.fc=16", "env.episode_length=3"]

CASES = {
    "vdn": ("specs/matrix/vdn_penalty.yaml", []),
    "qmix": ("specs/matrix/qmix_penalty.yaml", ["algorithm.td_lambda=0.6"]),
    "fop": ("specs/matrix/fop_penalty.yaml", []),
    "macpf": ("specs/matrix/macpf_penalty.yaml", RECURRENT + ["algorithm.td_lambda=0.8"]),
    "macpf_control": ("specs/matrix/macpf_penalty.yaml", ["algorithm.kind=macpf_control"]),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_tiny_training_run_through_the_runner(kind, tiny_overrides, tmp_path):
    path, extra = CASES[kind]
    spec = load_spec(path, [*tiny_overrides, *SEED, *extra])
    assert spec.algorithm.kind == kind
    rundir = run(spec, tmp_path / kind, progress=False)
    summary = json.loads((rundir.path / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["env_steps_per_seed"] == 256
    rows = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert last["learning"] > 0  # the replay filled and gradient steps ran
    losses = [k for k in last if k.endswith("loss")]
    assert losses and all(np.isfinite(last[k]) for k in losses)
    assert ("behaviour_return" in last) == (kind == "macpf")  # MACPF reports its dependent policy too
    assert -100.0 <= last["eval_return"] <= 10.0 * (3 if "env.episode_length=3" in extra else 1)
    # checkpoint.eqx holds the training state without the replay (which has its own file), and evaluates
    meta = json.loads((rundir.path / "checkpoint.json").read_text())
    assert meta["replay"] == f"replay-{meta['updates']}.eqx" and (rundir.path / meta["replay"]).exists()
    if kind == "vdn":
        learner = init_states(compile_spec(spec), [0]).learner
        total = sum(x.nbytes for x in jax.tree.leaves(eqx.filter(learner, eqx.is_array)))
        replay = sum(x.nbytes for x in jax.tree.leaves(eqx.filter(learner.replay, eqx.is_array)))
        size = (rundir.path / "checkpoint.eqx").stat().st_size
        assert size < total - replay + 10_000, (size, total, replay)
        result = evaluate_run(rundir.path, episodes=2)
        assert result["return"] == pytest.approx(np.mean(list(result["return_per_seed"].values())))
        assert -100.0 <= result["return"] <= 10.0


def test_off_policy_spec_errors_are_one_line():
    with pytest.raises(SpecError, match=r"algorithm.batch_size: batch of 64 episodes exceeds buffer_size = 10"):
        load_spec("specs/matrix/macpf_penalty.yaml", ["algorithm.buffer_size=10"])
    with pytest.raises(SpecError, match=r"algorithm.kind: .*needs discrete actions|unknown kind"):
        load_spec("specs/matrix/macpf_penalty.yaml", ["algorithm.kind=macpff"])


def test_state_moments_match_numpy_over_all_batches():
    from marlspec.algorithms.off_policy import StateMoments

    rng = np.random.default_rng(0)
    chunks = [jnp.asarray(rng.normal(3.0, 2.0, size=(n, 4)), jnp.float32) for n in (5, 17, 8)]
    m = StateMoments(jnp.zeros(()), jnp.zeros(4), jnp.zeros(4))
    for c in chunks:
        m = m.update(c)
    everything = np.concatenate([np.asarray(c) for c in chunks])
    np.testing.assert_allclose(m.mean, everything.mean(0), rtol=1e-5)
    np.testing.assert_allclose(m.m2 / m.count, everything.var(0), rtol=1e-4)
    z = np.asarray(m.standardize(jnp.asarray(everything)))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-3)
    constant = StateMoments(jnp.zeros(()), jnp.zeros(2), jnp.zeros(2)).update(jnp.ones((3, 2)))
    np.testing.assert_allclose(constant.standardize(jnp.ones(2)), 0.0)  # constant features stay 0
