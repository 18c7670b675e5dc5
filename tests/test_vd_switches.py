"""The off-policy switches and diagnostics added for issue 22: the observed return-to-go,
`reward_scale`, `target_update_unit`, and the gradient norm before clipping."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from marlspec.compile import compile as compile_spec
from marlspec.primitives.returns import discounted_return
from marlspec.spec import load_spec

# One-step penalty game, 4 environments, one step per update: each update finishes exactly
# 4 episodes, and a batch of 4 is every finished episode once the first update is in.
TINY = ["train.num_envs=4", "train.rollout_length=1", "train.total_env_steps=64", "train.seeds=[0]",
        "algorithm.batch_size=4", "algorithm.buffer_size=8", "algorithm.normalize_state=false",
        "network.hidden=[8]", "log.progress=false"]


def reference_return(r, term, trunc, gamma):
    out, g = np.zeros_like(r), 0.0
    for t in reversed(range(len(r))):
        if term[t] or trunc[t] or t == len(r) - 1:
            g = 0.0
        g = r[t] + gamma * g
        out[t] = g
    return out


@pytest.mark.parametrize("seed", range(4))
def test_discounted_return_matches_reference_loop(seed):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=15).astype(np.float32)
    term = rng.random(15) < 0.15
    trunc = (rng.random(15) < 0.15) & ~term
    got = discounted_return(jnp.asarray(r), jnp.asarray(term), jnp.asarray(trunc), 0.9)
    np.testing.assert_allclose(got, reference_return(r, term, trunc, 0.9), rtol=1e-5, atol=1e-5)


def experiment(extra: list[str]):
    spec = load_spec("specs/matrix/qmix_penalty.yaml", [*TINY, *extra])
    exp = compile_spec(spec)
    return exp, exp.init(jax.random.PRNGKey(0)), eqx.filter_jit(exp.update)


def same(a, b) -> bool:
    la, lb = (jax.tree.leaves(eqx.filter(x, eqx.is_inexact_array)) for x in (a, b))
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(la, lb, strict=True))


@pytest.mark.parametrize(
    ("unit", "interval", "train_steps", "copies"),
    [
        # 5 gradient steps per update: clock 5, 10, 15, ... (the episode clock 4, 8, 12, ... would copy
        # at updates 3 and 6 instead)
        ("gradient_steps", 10, 5, [False, True, False, True, False, True]),
        # 4 episodes per update: clock 4, 8, 12, ... (the gradient-step clock 3, 6, 9, ... would copy
        # at updates 4 and 8 instead)
        ("episodes", 12, 3, [False, False, True, False, False, True]),
    ],
)
def test_target_copies_follow_the_chosen_clock(unit, interval, train_steps, copies):
    _, rs, update = experiment([f"algorithm.target_update_unit={unit}",
                                f"algorithm.target_update_interval={interval}", f"algorithm.train_steps={train_steps}"])
    seen = []
    for _ in copies:
        rs, _ = update(rs)
        seen.append(same(rs.learner.target, rs.learner.params))
    assert seen == copies


def test_reward_scale_reaches_the_replay_but_not_the_reported_returns():
    _, rs, update = experiment(["algorithm.reward_scale=10"])
    rs, metrics = update(rs)
    replay = rs.learner.replay
    stored = np.asarray(replay.episodes.reward[np.asarray(replay.complete), 0])
    assert stored.shape == (4,)
    assert float(metrics["train_episode_return"]) != 0.0
    np.testing.assert_allclose(stored.mean(), 10.0 * float(metrics["train_episode_return"]), rtol=1e-5)


def test_gradient_norm_is_measured_before_clipping():
    exp, rs, update = experiment(["algorithm.max_grad_norm=1e-4", "algorithm.td_lambda=0.6", "algorithm.train_steps=1"])
    before = rs.learner
    rs, metrics = update(rs)
    replay = rs.learner.replay
    # the one batch of the first update is every finished episode (the loss is a mean over
    # episodes, so their order does not matter)
    episodes = jax.tree.map(lambda x: x[np.asarray(replay.complete)], replay.episodes)
    algo = exp.algorithm
    grads, aux = eqx.filter_grad(algo.loss, has_aux=True)(before.params, before.target, episodes,
                                                         jax.random.PRNGKey(0), jnp.zeros(()))
    norm = float(optax.global_norm(eqx.filter(grads[0], eqx.is_inexact_array)))
    assert norm > 1e-3  # far above the clip, so a clipped norm would be caught
    assert float(metrics["grad_norm_0"]) == pytest.approx(norm, rel=1e-4)
    # the diagnostics: return-to-go of one-step episodes is their reward (in learner units)
    rewards = np.asarray(episodes.reward[:, 0])
    assert float(metrics["return"]) == pytest.approx(rewards.mean(), rel=1e-5)
    assert float(aux["q_tot"]) == pytest.approx(float(metrics["q_tot"]), rel=1e-5)


@pytest.mark.parametrize(
    ("line", "needles"),
    [
        ("reward_scale: 0", ["algorithm.reward_scale", "> 0"]),
        ("reward_scale: -10", ["algorithm.reward_scale", "> 0"]),
        ("reward_scale: .inf", ["algorithm.reward_scale", "finite"]),
        ("target_update_unit: episode", ["algorithm.target_update_unit", "did you mean 'episodes'"]),
        ("target_update_unit: updates", ["algorithm.target_update_unit", "gradient_steps"]),
    ],
)
def test_bad_switch_values_get_one_line(tmp_path, line, needles):
    from typer.testing import CliRunner

    from marlspec.cli import app

    f = tmp_path / "bad.yaml"
    f.write_text(f"env: {{kind: matrix, game: penalty, k: -100}}\nalgorithm:\n  kind: qmix\n  {line}\n")
    result = CliRunner().invoke(app, ["validate", str(f)])
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)
