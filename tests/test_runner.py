"""The host runner and the run directory, on one tiny MAPPO run shared by the tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

import marlspec.train.runner as runner
from marlspec.spec import parse_spec

TINY = """
name: tiny
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 192, num_envs: 4, rollout_length: 16, seeds: [0, 1]}
eval: {interval: 64, episodes: 4}
log: {progress: false}
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    spec = parse_spec(TINY)
    return spec, runner.run(spec, tmp_path_factory.mktemp("run") / "a")


def read_metrics(rundir):
    return [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]


def test_run_directory_contents(tiny_run):
    spec, rundir = tiny_run
    for name in ["spec.yaml", "metrics.jsonl", "summary.json", "checkpoint.eqx", "marl_eval.json",
                 "plots/learning_curve.png"]:
        assert (rundir.path / name).exists(), name
    records = read_metrics(rundir)
    # 192 steps / 64 per update = 3 updates, one per chunk -> evals at 0, 64, 128, 192 for each of 2 seeds.
    assert [r["env_steps"] for r in records if r["seed"] == 0] == [0, 64, 128, 192]
    assert {r["seed"] for r in records} == {0, 1}
    last = [r for r in records if r["env_steps"] == 192]
    assert all(np.isfinite(r["policy_loss"]) and np.isfinite(r["eval_return"]) for r in last)
    summary = json.loads((rundir.path / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["env_steps_per_seed"] == 192
    assert summary["final_return"] == pytest.approx(np.mean([r["eval_return"] for r in last]))
    assert summary["sps"] > 0 and summary["compile_seconds"] > 0
    marl_eval = json.loads((rundir.path / "marl_eval.json").read_text())
    seeds = marl_eval["coordsum"]["2x4-6"]["mappo"]
    assert set(seeds) == {"seed_0", "seed_1"}
    assert seeds["seed_0"]["step_3"]["step_count"] == 192
    assert len(seeds["seed_0"]["absolute_metrics"]["return"]) == 4


def test_same_spec_and_seed_give_identical_metrics(tiny_run, tmp_path):
    spec, rundir = tiny_run
    again = runner.run(spec, tmp_path / "b")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("wall_time", "sps")} for r in rs]
    assert strip(read_metrics(again)) == strip(read_metrics(rundir))


def test_eval_reloads_the_checkpoint(tiny_run):
    _, rundir = tiny_run
    result = runner.evaluate_run(rundir.path, episodes=3)
    assert set(result["return_per_seed"]) == {0, 1}
    assert np.isfinite(result["return"])


def test_failed_run_keeps_metrics_and_checkpoint(tmp_path, monkeypatch):
    spec = parse_spec(TINY)
    real = runner.compile_ahead
    calls = {"n": 0}

    def flaky(fn, tree, donate=True, **kwargs):
        compiled, seconds = real(fn, tree, donate, **kwargs)

        def call(t):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("simulated crash in chunk 2")
            return compiled(t)

        return call, seconds

    monkeypatch.setattr(runner, "compile_ahead", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        runner.run(spec, tmp_path / "c")
    out = tmp_path / "c"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"].startswith("failed: RuntimeError")
    assert summary["env_steps_per_seed"] == 64
    assert (out / "checkpoint.eqx").exists()
    assert json.loads((out / "checkpoint.json").read_text())["env_steps"] == 64
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4  # evals at 0 and 64, two seeds


def test_progress_prints_full_lines_when_not_a_terminal(capsys):
    bar = runner.Progress(1000, "tiny [mappo on coordsum]", enabled=True, live=False)
    bar.update(0, 0.0, float("nan"), None)
    bar.update(250, 5000.0, 12.5, 0.4)
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tiny [mappo on coordsum] | 0/1,000 steps (0%) | 0 sps") and lines[0].endswith("eta -")
    assert "250/1,000 steps (25%) | 5,000 sps | return 12.5 | win 40% | elapsed " in lines[1]
    assert bar.line(250, 5000.0, 12.5, None, elapsed=10.0).endswith("elapsed 00:00:10 | eta 00:00:30")


def test_disabled_progress_prints_nothing(capsys):
    bar = runner.Progress(1000, "quiet", enabled=False, live=False)
    bar.update(500, 1.0, 1.0, None)
    bar.close()
    assert capsys.readouterr().out == ""


def test_progress_line_counts_hours_past_a_day():
    bar = runner.Progress(2, "long", enabled=True, live=False)
    assert bar.line(1, 1.0, 0.0, None, elapsed=90000.0).endswith("elapsed 25:00:00 | eta 25:00:00")


def test_a_padded_last_chunk_runs_on_an_environment_that_holds_arrays(tmp_path):
    """A budget that is not a multiple of the chunk runs its last chunk through `lax.cond`; the
    matrix game keeps its payoffs as arrays, which once made the experiment unhashable there."""
    spec = parse_spec("""
name: padded_matrix
env: {kind: matrix, game: penalty, k: -100}
algorithm: {kind: mappo, num_minibatches: 2}
network: {kind: mlp, hidden: [8]}
train: {total_env_steps: 96, num_envs: 4, rollout_length: 8, seeds: [0]}
eval: {interval: 64, episodes: 2}
log: {progress: false, plot: false, checkpoint: false}
""")
    summary = json.loads((runner.run(spec, tmp_path / "p").path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["env_steps_per_seed"] == 96
def test_one_seed_runs_unvmapped_with_the_same_results():
    """`over_seeds` runs a one-seed state without the seed vmap (issue 21: a vmap of size 1 turns
    every state-dependent `lax.cond` into a select of both branches); the results must be those
    of the vmapped program, with the seed axis kept on every output, for a plain and a padded chunk."""
    import equinox as eqx
    import jax

    spec = parse_spec(TINY.replace("seeds: [0, 1]", "seeds: [0]"))
    from marlspec.compile import compile as compile_spec

    experiment = compile_spec(spec)
    rs = runner.init_states(experiment, [0])
    vmapped = eqx.filter_jit(eqx.filter_vmap(lambda s: experiment.train_chunk(s, 2)))(rs)
    direct = eqx.filter_jit(runner.over_seeds(lambda s: experiment.train_chunk(s, 2)))(rs)
    padded = eqx.filter_jit(runner.over_seeds(lambda s, n: experiment.train_chunk(s, 2, n)))(rs, jax.numpy.asarray(1))
    a, b = (jax.tree.leaves(eqx.filter(t, eqx.is_array)) for t in (vmapped, direct))
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-5, atol=1e-6)
    assert padded[1]["policy_loss"].shape == (1, 2) and float(padded[1]["policy_loss"][0, 1]) == 0.0
    assert int(padded[0].updates[0]) == 1
    # ... and it is run without the vmap: the auto-reset's `lax.cond`s stay conds (a vmapped
    # program has turned those with a state-dependent predicate into selects).
    dynamic, static = eqx.partition(rs, eqx.is_array)
    conds = lambda f: str(jax.make_jaxpr(lambda d: eqx.filter(f(eqx.combine(d, static)), eqx.is_array))(dynamic)).count(" cond[")
    assert conds(runner.over_seeds(lambda s: experiment.train_chunk(s, 2))) > conds(
        eqx.filter_vmap(lambda s: experiment.train_chunk(s, 2)))
