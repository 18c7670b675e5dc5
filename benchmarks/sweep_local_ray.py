"""A 2 algorithms x 3 values x 3 seeds sweep at a tiny budget, run locally and on a local Ray
instance, and `marlspec report` over both into one table.

    python benchmarks/sweep_local_ray.py        # results/sweep_local_ray.{json,md}, sweep_runs/, sweep_report/

The grid: `algorithm.kind=[mappo,ippo]` x `algorithm.clip_eps=[0.1,0.2,0.3]`, seeds 0..2, on a
small CoordSum (2 agents, 4 actions, targets below 6, 8-step episodes; best return 16) for 4,096
steps per seed: this checks the code path, not the algorithms. (At this budget PPO's ratio
rarely leaves [1 - 0.1, 1 + 0.1], so the three clip_eps values can give identical runs; the
recorded ones do, which is a fact about the budget, not a bug in the grid: each run directory's
spec.yaml holds its own clip_eps.) The local sweep runs the six configurations one after another in this
process; the Ray sweep starts `ray.init(num_cpus=2)` and submits each configuration as a task
requesting one CPU. Same spec and seed on the same machine must give the same numbers on both
engines; the script records whether they do. Earlier sweep folders are removed first, so both
sweeps run in full (a second call with the folders in place would skip every configuration).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, write  # noqa: E402

SPEC = """
name: sweep_demo
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}
network: {kind: mlp, hidden: [32]}
train: {total_env_steps: 4096, num_envs: 8, rollout_length: 32, seeds: [0]}
eval: {interval: 1024, episodes: 16, greedy: false}
log: {progress: false, checkpoint: false, plot: false}
"""
GRID = {"algorithm.kind": ["mappo", "ippo"], "algorithm.clip_eps": [0.1, 0.2, 0.3]}
SEEDS = [0, 1, 2]


def main() -> None:
    import ray

    from marlspec.io import report as R
    from marlspec.sweep import sweep
    from marlspec.train.runner import enable_compilation_cache

    enable_compilation_cache()
    runs = RESULTS / "sweep_runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    spec = runs / "sweep_demo.yaml"
    spec.write_text(SPEC.lstrip())
    seconds = {}
    t0 = time.perf_counter()
    local = sweep(spec, GRID, SEEDS, runs / "local")
    seconds["local"] = time.perf_counter() - t0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        t0 = time.perf_counter()
        remote = sweep(spec, GRID, SEEDS, runs / "ray", ray_address="auto", cpus=1)
        seconds["ray"] = time.perf_counter() - t0
    finally:
        ray.shutdown()
    loaded, skipped = R.load_runs([runs / "local", runs / "ray"])
    rep = R.write_runs(loaded, RESULTS / "sweep_report", skipped=skipped)
    task = rep["tasks"]["coordsum/2x4-6"]["algorithms"]
    rows, agree = [], True
    for c in local:
        lo, ra = task.get(f"{c.label}@local"), task.get(f"{c.label}@ray")
        same = lo is not None and ra is not None and lo["execution"]["final_return"]["per_seed"] == \
            ra["execution"]["final_return"]["per_seed"]
        agree &= same
        cell = lambda e: "" if e is None else f"{e['execution']['final_return']['value']:.1f} [{e['execution']['final_return']['ci95'][0]:.1f}, {e['execution']['final_return']['ci95'][1]:.1f}]"  # noqa: E731
        rows.append({"configuration": c.label, "seeds": len(SEEDS), "local IQM [95% CI]": cell(lo),
                     "Ray IQM [95% CI]": cell(ra), "per-seed finals identical": "yes" if same else "NO"})
    status = {"local": {c.label: c.status for c in local}, "ray": {c.label: c.status for c in remote}}
    notes = (f"Both sweeps: {sum(c.status == 'completed' for c in local)}/6 configurations completed locally in "
             f"{seconds['local']:.0f} s, {sum(c.status == 'completed' for c in remote)}/6 on Ray (2 CPUs, one per task) in "
             f"{seconds['ray']:.0f} s; wall times are of one run on a shared 2-core machine, with the compilation cache "
             f"warm for the Ray half, so they are not a speed comparison. Final execution return (16 sampled episodes "
             f"per seed) as the IQM over 3 seeds with a stratified-bootstrap 95% CI, from `marlspec report "
             f"benchmarks/results/sweep_runs/local benchmarks/results/sweep_runs/ray` (full report: "
             f"results/sweep_report/report.md; labels get `@local` / `@ray` because the two sweeps share seeds). "
             f"Per-seed finals identical on both engines: {'all' if agree else 'NOT all'} configurations.")
    write("sweep_local_ray", {"grid": GRID, "seeds": SEEDS, "status": status, "seconds": seconds,
                              "identical_on_both_engines": agree, "spec": SPEC}, rows, notes)
    print((RESULTS / "sweep_local_ray.md").read_text())


if __name__ == "__main__":
    main()
