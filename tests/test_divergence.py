"""The NaN/Inf guard: a run whose loss terms or learner state stop being finite stops, names
the seed, the update, the environment step and the term, keeps the last checkpoint that was
finite, writes `status: diverged`, and `marlspec run` exits with code 3.

Divergence is forced with a learning rate of 1e30 for one algorithm of each family: PPO
(MAPPO), value decomposition (QMIX), soft actor-critics (FOP) and MAGPO. The guard knows no
algorithm by name: it reads every `*_loss` metric and `learner_finite`.
"""

from __future__ import annotations

import json
import re

import equinox as eqx
import jax
import numpy as np
import pytest
from typer.testing import CliRunner

import marlspec.train.runner as runner
from marlspec.cli import EXIT_DIVERGED, app
from marlspec.compile import compile as compile_spec
from marlspec.spec import parse_spec
from marlspec.train.experiment import FINITE_METRIC
from marlspec.train.guard import Diverged, first_nonfinite, guarded_terms

ENV = "env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}\n"
TAIL = """network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 512, num_envs: 4, rollout_length: 16, seeds: [0, 1], lr: 1.0e+30}
eval: {interval: 64, episodes: 2}
log: {progress: false, plot: false}
"""
FAMILIES = {
    "ppo": "algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}\n",
    "value_decomposition": "algorithm: {kind: qmix, buffer_size: 40, batch_size: 4, mixing_embed: 8, hypernet_embed: 8}\n",
    "soft_actor_critic": "algorithm: {kind: fop, buffer_size: 40, batch_size: 4, mixing_embed: 8, hypernet_embed: 8,"
                         " attention_heads: 1}\n",
    "magpo": "algorithm: {kind: magpo, num_minibatches: 2, epochs: 2, joint_policy: {embed_dim: 8}}\n",
}
MESSAGE = re.compile(r"^seed (\d+), update (\d+) \(env step ([\d,]+)\): (.+); training stopped, the last finite"
                     r" checkpoint \(env step ([\d,]+)\) is kept")


@pytest.fixture(autouse=True, scope="module")
def quick_compile():
    """These programs run for milliseconds; compile them with XLA's slow optimisations off."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def _finite(tree) -> bool:
    return all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array)))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_forced_divergence_stops_with_a_finite_checkpoint(family: str, tmp_path) -> None:
    spec = parse_spec(ENV + FAMILIES[family] + TAIL)
    with pytest.raises(Diverged) as caught:
        runner.run(spec, tmp_path / family)
    err = caught.value
    match = MESSAGE.match(str(err))
    assert match, str(err)
    seed, update, steps, what, kept = match.groups()
    assert int(seed) in (0, 1) and int(update) >= 1
    assert int(steps.replace(",", "")) == int(update) * spec.train.steps_per_update
    assert err.term.endswith("_loss") or err.term == FINITE_METRIC
    assert what.startswith(err.term) or err.term == FINITE_METRIC
    out = tmp_path / family
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["diverged"] == err.describe()
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["env_steps"] == int(kept.replace(",", "")) < err.env_steps
    # the checkpoint on disk is finite and is the state after the last logged evaluation
    state = runner.RunDir(out).load_state(runner.init_states(compile_spec(spec), [0, 1]))
    assert _finite(state)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["env_steps"] for r in rows) == meta["env_steps"]
    assert not any(k == FINITE_METRIC for r in rows for k in r)  # the guard's own flag is not logged


def test_cli_exit_code_and_one_line(tmp_path) -> None:
    spec = tmp_path / "diverge.yaml"
    spec.write_text(ENV + FAMILIES["ppo"] + TAIL)
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == EXIT_DIVERGED == 3, result.output
    text = result.output.strip()
    assert "\n" not in text and "Traceback" not in text
    assert text.startswith("error: training diverged: seed ") and "policy_loss" in text
    again = CliRunner().invoke(app, ["run", "--resume", str(tmp_path / "run")])
    assert again.exit_code == 2 and "diverged" in again.output and "\n" not in again.output.strip()


# ------------------------------------------------------------- the guard alone


def _metrics(**arrays):
    return {k: np.asarray(v, np.float32) for k, v in arrays.items()}


def test_guard_reads_every_loss_term_and_the_learner_state() -> None:
    ok = np.ones((2, 3))
    assert guarded_terms(_metrics(td_loss=ok, critic_loss=ok, entropy=ok, learner_finite=ok)) == \
        ["critic_loss", "td_loss", FINITE_METRIC]
    assert first_nonfinite(_metrics(td_loss=ok, entropy=ok * np.nan, learner_finite=ok), [0, 1], 0, 10) is None
    bad = ok.copy()
    bad[1, 2] = np.inf
    found = first_nonfinite(_metrics(policy_loss=ok, td_loss=bad, learner_finite=ok), [7, 9], 4, 10)
    assert (found.seed, found.update, found.env_steps, found.term, found.value) == (9, 7, 70, "td_loss", float("inf"))
    state = ok.copy()
    state[0, 1] = 0.0
    found = first_nonfinite(_metrics(td_loss=bad, learner_finite=state), [7, 9], 4, 10)
    assert (found.seed, found.update, found.term) == (7, 6, FINITE_METRIC)  # the earliest update wins
    assert "learner state" in str(found)


def test_learner_finite_reads_every_float_but_the_replay() -> None:
    import jax.numpy as jnp

    from marlspec.train.experiment import learner_finite

    class Learner(eqx.Module):
        params: tuple
        steps: jax.Array
        replay: jax.Array | None

    ok = Learner((jnp.ones(3), {"w": jnp.zeros((2, 2))}), jnp.asarray(3), jnp.full(4, jnp.nan))
    assert float(learner_finite(ok)) == 1.0  # a replay may hold anything
    bad = eqx.tree_at(lambda t: t.params[1]["w"], ok, jnp.zeros((2, 2)).at[1, 0].set(jnp.inf))
    assert float(jax.jit(learner_finite)(bad)) == 0.0
    assert float(learner_finite(eqx.tree_at(lambda t: t.params[0], ok, jnp.array([0.0, jnp.nan, 1.0])))) == 0.0
