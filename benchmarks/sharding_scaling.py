"""Data-parallel training on 1, 2 and 4 forced host devices, same total batch: steps/s, and how
closely the sharded runs agree with the single-device run.

    python benchmarks/sharding_scaling.py          # results/sharding_scaling.{json,md}

Each measurement is a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=D
(JAX fixes its devices at start-up) training through `marlspec.train.runner.run` with
`train.devices: D`. Throughput: MAPPO on CoordSum 3x10-30, 64 environments x 32 steps per
update, 2 seeds vmapped, 24 updates (steps/s over training, compilation excluded; the
device counts are interleaved over two rounds so that they share the machine's load alike).
Agreement: a smaller MAPPO and QMIX run (8 environments) at D = 2 and 4 against D = 1, the
largest absolute difference of any learner parameter after training and the largest relative
difference of any number in metrics.jsonl.

Forced host devices are slices of the same CPU cores, so on this 2-core machine more devices
cannot be faster; the point is that the sharded code path is correct and what it costs. On a
machine with several GPUs the same spec field shards over real devices (`nox -s gpu` runs the
test and a short version of this benchmark).
"""

from __future__ import annotations

import os
import sys

if "--one" in sys.argv:  # the device count must be fixed before JAX is imported
    _mode, _devices = sys.argv[sys.argv.index("--one") + 1], int(sys.argv[sys.argv.index("--one") + 2])
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={_devices}"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, in_subprocess, write  # noqa: E402

THROUGHPUT = """
name: shard_throughput
env: {kind: coordsum, task: 3x10-30}
algorithm: {kind: mappo, num_minibatches: 4, epochs: 2}
network: {kind: mlp, hidden: [64, 64]}
train: {total_env_steps: 49152, num_envs: 64, rollout_length: 32, seeds: [0, 1]}
eval: {interval: 16384, episodes: 8}
log: {progress: false, checkpoint: false, plot: false}
"""
AGREEMENT = """
name: shard_{algo}
env: {{kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}}
algorithm: {{kind: {algo}, {extra}}}
network: {network}
train: {{total_env_steps: 512, num_envs: 8, rollout_length: 16, seeds: [0, 1]}}
eval: {{interval: 128, episodes: 4}}
log: {{progress: false, plot: false}}
"""
ALGOS = {"mappo": ("num_minibatches: 2, epochs: 2", "{kind: mlp, hidden: [16]}"),
         "qmix": ("batch_size: 8, buffer_size: 128", "{kind: gru, fc: 16, hidden: 16}")}


def one(mode: str, devices: int) -> dict[str, Any]:
    import tempfile

    import equinox as eqx
    import jax
    import numpy as np

    import marlspec.train.runner as runner
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import parse_spec

    runner.enable_compilation_cache()
    assert jax.device_count() == devices, jax.devices()
    out = Path(tempfile.mkdtemp())
    if mode == "throughput":
        spec = parse_spec(THROUGHPUT, overrides=[f"train.devices={devices}"])
        rundir = runner.run(spec, out / "t")
        summary = json.loads((rundir.path / "summary.json").read_text())
        return {"devices": devices, "sps": summary["sps"], "compile_seconds": summary["compile_seconds"]}
    result: dict[str, Any] = {"devices": devices}
    for algo, (extra, network) in ALGOS.items():
        text = AGREEMENT.format(algo=algo, extra=extra, network=network)
        leaves, records = {}, {}
        for d in sorted({1, devices}):
            spec = parse_spec(text, overrides=[f"train.devices={d}"])
            experiment = compile_spec(spec)
            rundir = runner.run(spec, out / f"{algo}{d}", experiment=experiment)
            template = runner.init_states(experiment, [0, 1]).learner
            leaves[d] = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(rundir.load_checkpoint(template), eqx.is_array))]
            records[d] = rundir.read_metrics()
        param = max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) for a, b in zip(leaves[1], leaves[devices], strict=True) if a.size)
        metric = max((abs(v - b[k]) / max(1.0, abs(v)) for a, b in zip(records[1], records[devices], strict=True)
                      for k, v in a.items() if k not in ("wall_time", "sps") and isinstance(v, float) and np.isfinite(v)),
                     default=0.0)
        result[algo] = {"max_param_abs_diff": param, "max_metric_rel_diff": metric}
    return result


def gpu() -> None:
    """`nox -s gpu`: the throughput spec on one GPU and on every GPU (same total batch)."""
    import tempfile

    import jax

    import marlspec.train.runner as runner
    from marlspec.spec import parse_spec

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        sys.exit(f"sharding_scaling.py --gpu: no GPU visible to JAX (jax.devices() = {jax.devices()})")
    runner.enable_compilation_cache()
    rows = []
    for d in sorted({1, len(gpus)}):
        spec = parse_spec(THROUGHPUT, overrides=[f"train.devices={d}", "train.num_envs=256"])
        rundir = runner.run(spec, Path(tempfile.mkdtemp()) / "g")
        summary = json.loads((rundir.path / "summary.json").read_text())
        rows.append({"GPUs": d, "steps/s": summary["sps"], "compile s": summary["compile_seconds"]})
    write("sharding_gpu", {"spec": THROUGHPUT, "num_envs": 256, "device": str(gpus[0].device_kind)}, rows,
          "Same spec and total batch (256 environments) on one GPU and on all of them. Regenerate: "
          "`nox -s gpu` (or `python benchmarks/sharding_scaling.py --gpu`).")
    print((RESULTS / "sharding_gpu.md").read_text())


def main() -> None:
    here = str(Path(__file__).resolve())
    rounds = [[in_subprocess(here, ["throughput", str(d)], timeout=2400) for d in (1, 2, 4)] for _ in range(2)]
    agreement = [in_subprocess(here, ["agreement", str(d)], timeout=2400) for d in (2, 4)]
    rows = []
    for i, d in enumerate((1, 2, 4)):
        sps = [r[i]["sps"] for r in rounds]
        rows.append({"devices": d, "steps/s round 1": sps[0], "steps/s round 2": sps[1],
                     "ratio to 1 device (mean of rounds)": sum(s / r[0]["sps"] for s, r in zip(sps, rounds, strict=True)) / 2,
                     "compile s": rounds[0][i]["compile_seconds"]})
    agree_lines = ["| devices | algorithm | max abs parameter difference | max relative metric difference |",
                   "|---|---|---|---|"]
    for a in agreement:
        for algo in ALGOS:
            agree_lines.append(f"| {a['devices']} vs 1 | {algo} | {a[algo]['max_param_abs_diff']:.2e} | "
                               f"{a[algo]['max_metric_rel_diff']:.2e} |")
    notes = ("Same total batch on every row (64 environments x 32 steps x 2 seeds per update); the environment batch "
             "is split over the devices, parameters replicated, gradients all-reduced inside the compiled update. "
             "Forced host devices share this machine's 2 cores (and the machine was shared with other jobs), so the "
             "ratios show the cost of the sharded program on one CPU, not a speed-up.\n\n"
             "## Sharded vs single-device agreement\n\n" + "\n".join(agree_lines) + "\n\n"
             "Differences are float32 summation order (the sharded program sums partial gradients across devices).\n\n"
             "Regenerate: `python benchmarks/sharding_scaling.py`.")
    write("sharding_scaling", {"throughput_rounds": rounds, "agreement": agreement,
                               "throughput_spec": THROUGHPUT, "agreement_spec": AGREEMENT}, rows, notes)
    print((RESULTS / "sharding_scaling.md").read_text())


if __name__ == "__main__":
    if "--one" in sys.argv:
        print(json.dumps(one(_mode, _devices)))
    elif "--gpu" in sys.argv:
        gpu()
    else:
        main()
