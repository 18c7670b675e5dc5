"""Data-parallel training (`train.devices`): the sharded run equals the single-device run with the
same total batch, to float tolerance, for an on-policy (MAPPO) and an off-policy (QMIX) algorithm.

JAX fixes its device count at start-up, so the sharded runs happen in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (four CPU "devices"). The subprocess trains the
same tiny spec through `marlspec.train.runner.run` with devices 1 and 4, and reports the largest
difference between the final learner states (from the checkpoints) and between every number in
metrics.jsonl, whether the environment batch really was split over four devices, and whether the
compiled chunk holds an all-reduce (the gradient averaged across the mesh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from marlspec.spec import SpecError, parse_spec

SCRIPT = textwrap.dedent('''
    import functools, json, math, sys
    import equinox as eqx, jax, numpy as np
    import marlspec.train.runner as runner
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import parse_spec
    from marlspec.train.sharding import DataParallel

    algo, out = sys.argv[1], sys.argv[2]
    runner.enable_compilation_cache()
    ppo = algo in ("mappo", "ippo")
    text = f"""
    name: shard_{algo}
    env: {{kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}}
    algorithm: {{kind: {algo}, {"num_minibatches: 2, epochs: 2" if ppo else "batch_size: 8, buffer_size: 128"}}}
    network: {"{kind: mlp, hidden: [16]}" if ppo else "{kind: gru, fc: 16, hidden: 16}"}
    train: {{total_env_steps: 256, num_envs: 8, rollout_length: 16, seeds: [0, 1]}}
    eval: {{interval: 128, episodes: 4}}
    log: {{progress: false, plot: false}}
    """
    seen = {}
    real = runner.compile_ahead

    def spy(fn, tree, donate=True, sharding=None):  # how the runner laid out the state it compiled for
        seen[jax.device_count() if sharding else 1] = sorted({s.data.shape for s in tree.actors.first.addressable_shards})
        return real(fn, tree, donate, sharding)

    runner.compile_ahead = spy
    states, records = {}, {}
    for d in (1, 4):
        spec = parse_spec(text, overrides=[f"train.devices={d}"])
        experiment = compile_spec(spec)
        assert experiment.devices == d
        rundir = runner.run(spec, f"{out}/d{d}", experiment=experiment)
        template = runner.init_states(experiment, [0, 1]).learner
        states[d] = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(rundir.load_checkpoint(template), eqx.is_array))]
        records[d] = [json.loads(line) for line in open(f"{out}/d{d}/metrics.jsonl")]
    param_diff = max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) for a, b in zip(states[1], states[4]) if a.size)
    metric_diff, compared = 0.0, 0
    for a, b in zip(records[1], records[4], strict=True):
        for k, v in a.items():
            if k in ("wall_time", "sps") or not isinstance(v, float) or not math.isfinite(v):
                continue
            metric_diff = max(metric_diff, abs(v - b[k]) / max(1.0, abs(v)))
            compared += 1
    sharding = DataParallel(4)
    rs = sharding.put(runner.init_states(experiment, [0, 1]))
    dynamic, static = eqx.partition(rs, eqx.is_array)
    chunk = eqx.filter_vmap(functools.partial(experiment.train_chunk, num_updates=1))
    inner = lambda d: eqx.partition(chunk(eqx.combine(d, static)), eqx.is_array)[0]
    hlo = jax.jit(inner, in_shardings=(sharding.of(rs),), out_shardings=(sharding.of(rs), sharding.replicated)
                  ).lower(dynamic).compile().as_text()
    print(json.dumps({"devices": jax.device_count(), "param_diff": param_diff, "metric_diff": metric_diff,
                      "compared": compared, "env_shards": seen, "all_reduce": "all-reduce(" in hlo}))
''')


def sharded_vs_single(algo: str, tmp_path) -> dict:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, algo, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("algo", ["mappo", "qmix"])
def test_sharded_run_matches_single_device(algo: str, tmp_path) -> None:
    r = sharded_vs_single(algo, tmp_path)
    assert r["devices"] == 4
    # the runner compiled the 4-device run for 2 seeds x 2 of the 8 envs per device, the other whole
    assert r["env_shards"] == {"1": [[2, 8]], "4": [[2, 2]]}, r
    assert r["all_reduce"], "no all-reduce in the sharded chunk: gradients are not combined across devices"
    assert r["compared"] > 20
    assert r["param_diff"] < 1e-5, r  # float32 summation order only
    assert r["metric_diff"] < 1e-4, r


def test_devices_field_is_checked_where_it_applies() -> None:
    base = """
    env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
    algorithm: {kind: mappo, num_minibatches: 2}
    train: {num_envs: 6, devices: 4}
    """
    with pytest.raises(SpecError, match=r"train.devices: train.num_envs = 6 does not split evenly over 4"):
        parse_spec(textwrap.dedent(base))
    with pytest.raises(SpecError, match=r"train.devices: must be >= 1"):
        parse_spec(textwrap.dedent(base).replace("devices: 4", "devices: 0"))
    with pytest.raises(SpecError, match="train.devices"):
        parse_spec(textwrap.dedent(base).replace("devices: 4", "devices: many"))
    assert parse_spec(textwrap.dedent(base).replace("devices: 4", "devices: all")).train.devices == "all"


def test_more_devices_than_jax_sees_is_rejected_by_validate(tmp_path) -> None:
    from typer.testing import CliRunner

    from marlspec.cli import app

    spec = tmp_path / "s.yaml"
    spec.write_text("env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}\n"
                    "algorithm: {kind: mappo, num_minibatches: 2}\ntrain: {num_envs: 64, devices: 64}\n")
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2 and "train.devices: 64 devices asked for, JAX sees" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_two_processes_on_localhost_train_as_one(tmp_path) -> None:
    """Multi-host on one machine: two `marlspec run --distributed` processes with two CPU devices
    each form one 4-device mesh (cross-process collectives through gloo); both end with the
    metrics of a single-device run of the same spec."""
    import socket

    import marlspec.train.runner as runner

    spec_text = textwrap.dedent("""
        name: multihost
        env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
        algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}
        network: {kind: mlp, hidden: [16]}
        train: {total_env_steps: 256, num_envs: 8, rollout_length: 16, seeds: [0, 1], devices: all}
        eval: {interval: 128, episodes: 4}
        log: {progress: false, plot: false}
        """)
    (tmp_path / "spec.yaml").write_text(spec_text)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, "-m", "marlspec", "run", str(tmp_path / "spec.yaml"), "--out",
                               str(tmp_path / f"p{i}"), "--distributed", "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i), "--quiet"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=1500) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    single = runner.run(parse_spec(spec_text, overrides=["train.devices=1"]), tmp_path / "single").read_metrics()
    for i in range(2):
        records = [json.loads(line) for line in (tmp_path / f"p{i}" / "metrics.jsonl").read_text().splitlines()]
        assert len(records) == len(single) == 6
        for a, b in zip(single, records, strict=True):
            assert a["eval_return"] == b["eval_return"]  # evaluation episodes are integer-valued here
            for k in ("policy_loss", "value_loss", "entropy"):
                if a.get(k) is not None:
                    assert abs(a[k] - b[k]) < 1e-5, (k, a[k], b[k])
