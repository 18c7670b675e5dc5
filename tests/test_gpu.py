"""GPU path (`nox -s gpu`, marker `gpu`; deselected from the CPU suite).

These run only on a machine where JAX sees a CUDA device. They check that training
really runs there (the compiled programs' outputs live on the GPU), that a tiny
MAPPO / QMIX run gives finite results through the one runner, and that the GPU and
the CPU agree on the first update of the same seed up to float32 reduction order.
"""

from __future__ import annotations

import functools
import json

import equinox as eqx
import jax
import numpy as np
import pytest

from marlspec.compile import compile as compile_spec
from marlspec.spec import parse_spec
from marlspec.train.runner import init_states, run

pytestmark = pytest.mark.gpu

TINY = """
name: gpu_{algo}
env: {{kind: coordsum, task: 3x10-30}}
algorithm: {{kind: {algo}}}
network: {{kind: mlp, hidden: [32], activation: tanh}}
train: {{total_env_steps: 2048, num_envs: 8, rollout_length: 32, seeds: [0, 1]}}
eval: {{interval: 1024, episodes: 4}}
log: {{progress: false}}
"""


def _gpu() -> jax.Device:
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.fail(f"the gpu marker needs a CUDA device; jax.devices() = {jax.devices()}")
    return gpus[0]


def test_jax_sees_a_gpu_and_uses_it_by_default() -> None:
    gpu = _gpu()
    assert jax.default_backend() == "gpu"
    assert jax.numpy.ones(3).devices() == {gpu}


def _first_update(device: jax.Device) -> tuple[dict, list[np.ndarray]]:
    with jax.default_device(device):
        exp = compile_spec(parse_spec(TINY.format(algo="mappo")))
        rs = init_states(exp, [0, 1])
        step = eqx.filter_jit(eqx.filter_vmap(functools.partial(exp.train_chunk, num_updates=1)))
        rs, metrics = step(rs)
        leaves = [x for x in jax.tree.leaves(eqx.filter(rs.learner, eqx.is_array))]
        assert all(x.devices() == {device} for x in leaves), "the learner state left the device"
        return jax.tree.map(np.asarray, metrics), [np.asarray(x) for x in leaves]


def test_mappo_update_on_gpu_matches_cpu() -> None:
    gpu_metrics, gpu_leaves = _first_update(_gpu())
    cpu_metrics, cpu_leaves = _first_update(jax.devices("cpu")[0])
    for name, value in gpu_metrics.items():
        if not name.startswith("train_episode"):  # episode means are NaN until an episode ends
            assert np.isfinite(value).all(), name
    for name in gpu_metrics:
        np.testing.assert_allclose(gpu_metrics[name], cpu_metrics[name], rtol=1e-3, atol=1e-4, err_msg=name)
    # The same seed gives the same rollout (integer env, same PRNG); parameters after one
    # update differ only by float32 summation order.
    for g, c in zip(gpu_leaves, cpu_leaves, strict=True):
        np.testing.assert_allclose(g, c, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("algo", ["mappo", "qmix"])
def test_tiny_run_through_the_runner_on_gpu(algo: str, tmp_path) -> None:
    _gpu()
    spec = parse_spec(TINY.format(algo=algo) if algo != "qmix" else TINY.format(algo=algo).replace(
        "network: {kind: mlp, hidden: [32], activation: tanh}", "network: {kind: gru, fc: 32, hidden: 32}"))
    run(spec, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert all(np.isfinite(v) for v in summary["final_return_per_seed"].values()), summary
