"""Issue 21 benchmark: marlspec at JaxMARL's own default configurations (specs/bench/).

For every spec in specs/bench/, at 1 seed and 8 vmapped seeds, in one fresh process per row:
training steps/s with compilation excluded (the whole budget compiled ahead of time as one
program, the runner's `train_chunk` over seeds (`runner.over_seeds`), exactly what `marlspec run` executes
between two evaluations), random-action env-only steps/s for the same number of environments,
their ratio, compile seconds, and peak memory (the process's peak resident set, and the
compiled program's own buffers from XLA's memory analysis).

Each row that has a comparison runs it in the SAME process, interleaved round by round with
ours (ours, theirs, theirs, ours, ...), and records the ratio of the two measured in each
round with the 1-minute load average beside it, because this machine is shared:
- with `--jaxmarl DIR` (a JaxMARL checkout kept outside this repository), JaxMARL's own
  baseline script at the same configuration and the same number of environment steps, also
  compiled ahead of time (benchmarks/_jaxmarl_peer.py);
- MACPF against JaxMARL's QMIX (issue 21 compares MACPF with the peer's QMIX);
- MAGPO against our MAPPO at the same shape (issue 21's MAGPO target).
Without `--jaxmarl`, the peer figures measured elsewhere (REFERENCE_FACTS.md) are recorded.

    python benchmarks/peer_configs.py                          # ours only
    python benchmarks/peer_configs.py --jaxmarl /path/JaxMARL  # with the peer, same process
    python benchmarks/peer_configs.py --rows ippo_ff_mpe --seeds 1 --rounds 3 --jaxmarl DIR
    python benchmarks/peer_configs.py --gpu                    # GPU variant (nox -s gpu)

Writes benchmarks/results/peer_configs.{json,md} (peer_configs_gpu.* with --gpu).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import in_subprocess, machine, peak_rss_mb, write  # noqa: E402

BENCH = ROOT / "specs" / "bench"

ROWS: dict[str, dict[str, Any]] = {
    # spec in specs/bench, updates timed per seed count, what it is compared with.
    "ippo_ff_mpe": {"spec": "ippo_ff_mpe_spread.yaml", "updates": {1: 32, 8: 8}, "peer": "ippo_ff_mpe"},
    "mappo_rnn_mpe": {"spec": "mappo_rnn_mpe_spread.yaml", "updates": {1: 16, 8: 4}, "peer": "mappo_rnn_mpe"},
    "mappo_rnn_smax": {"spec": "mappo_rnn_smax_3m.yaml", "updates": {1: 3, 8: 1}, "peer": "mappo_rnn_smax"},
    "qmix_rnn_smax": {"spec": "qmix_rnn_smax_3m.yaml", "updates": {1: 8, 8: 2}, "peer": "qmix_rnn_smax"},
    "macpf_rnn_smax": {"spec": "macpf_rnn_smax_3m.yaml", "updates": {1: 8, 8: 2}, "peer": "qmix_rnn_smax"},
    "magpo_coordsum": {"spec": "magpo_coordsum_5x20-80.yaml", "updates": {1: 8, 8: 2},
                       "ours": "mappo_coordsum_5x20-80.yaml"},
    "mappo_coordsum": {"spec": "mappo_coordsum_5x20-80.yaml", "updates": {1: 8, 8: 2}},
    # Training / env-only at 1,024 environments (issue 21: >= 30% feed-forward, >= 15% recurrent).
    "ippo_ff_mpe_1024": {"spec": "ippo_ff_mpe_spread.yaml", "updates": {1: 2, 8: 1}, "num_envs": 1024},
    "mappo_rnn_mpe_1024": {"spec": "mappo_rnn_mpe_spread.yaml", "updates": {1: 1, 8: 1}, "num_envs": 1024},
}

PEER_MEASURED_ELSEWHERE = [
    # REFERENCE_FACTS.md, "Peer figures measured on this machine class": JaxMARL c793d09, its default
    # configurations, each program compiled ahead of time, two interleaved rounds on 2026-12-03.
    {"script": "ippo_ff_mpe, 1 seed", "config": "MPE spread, 16 envs x 128", "train_sps": "32.6k / 35.0k",
     "compile_s": "9.9 / 8.6"},
    {"script": "mappo_rnn_mpe, 1 seed", "config": "MPE spread, 16 envs x 128", "train_sps": "1.95k",
     "compile_s": "16.8"},
    {"script": "mappo_rnn_smax, 1 seed", "config": "SMAX 3m, 128 envs x 128", "train_sps": "2.35k / 2.32k",
     "compile_s": "22.8 / 23.9"},
    {"script": "qmix_rnn (ql_rnn_smax), 1 seed", "config": "SMAX 3m, 16 envs x 128, GRU 512",
     "train_sps": "567 / 584", "compile_s": "22.0 / 23.3"},
]


def load() -> float:
    return os.getloadavg()[0]


def ours_program(spec_file: str, n_seeds: int, updates: int, num_envs: int | None) -> dict[str, Any]:
    """Our training program for `updates` updates of `n_seeds` vmapped seeds, compiled ahead of time."""
    import equinox as eqx
    import jax

    from marlspec.compile import compile as compile_spec
    from marlspec.spec import load_spec
    from marlspec.train.runner import init_states, over_seeds

    overrides = [f"train.seeds={list(range(n_seeds))}"]
    if num_envs:
        overrides.append(f"train.num_envs={num_envs}")
    spec = load_spec(BENCH / spec_file, overrides=overrides)
    overrides.append(f"train.total_env_steps={updates * spec.train.steps_per_update}")
    spec = load_spec(BENCH / spec_file, overrides=overrides)
    experiment = compile_spec(spec)
    seeds = list(range(n_seeds))
    rs = init_states(experiment, seeds)
    fn = over_seeds(functools.partial(experiment.train_chunk, num_updates=updates))
    dynamic, static = eqx.partition(rs, eqx.is_array)
    t0 = time.perf_counter()
    compiled = jax.jit(lambda d: eqx.filter(fn(eqx.combine(d, static))[0], eqx.is_array)).lower(dynamic).compile()
    compile_s = time.perf_counter() - t0
    # The first (untimed) execution's final state is where every timed one starts: past the
    # off-policy learners' wait for a full replay batch, so timings are of training steps.
    state = {"start": dynamic}

    def run() -> Any:
        out = compiled(state["start"])
        state.setdefault("warm", out)
        state["start"] = state["warm"]
        return out

    return {"run": run, "compile_s": compile_s, "memory": _memory(compiled),
            "steps": updates * spec.train.steps_per_update * n_seeds, "experiment": experiment, "spec": spec}


def peer_program(root: Path, script: str, n_seeds: int, total_steps: int) -> dict[str, Any]:
    """JaxMARL's `script` at its defaults for `total_steps` steps per seed, compiled ahead of time.

    JaxMARL's QMIX samples its flashbax trajectory buffer only once it holds BUFFER_BATCH_SIZE
    (32) rollouts per environment, so its first 32 updates (65,536 steps at 16 x 128) take no
    gradient step. Its training speed is therefore timed as a difference: the same script at
    32 + U updates minus at 32 updates, both compiled ahead of time, U = our timed updates."""
    import jax

    from benchmarks._jaxmarl_peer import peer_train

    def build(steps: int) -> tuple[Any, dict[str, Any], float]:
        train, config = peer_train(root, script, steps, n_seeds)
        t0 = time.perf_counter()
        compiled = jax.jit(train).lower(rng).compile()
        return compiled, config, time.perf_counter() - t0

    vmapped = n_seeds > 1 or script in ("ippo_ff_mpe", "qmix_rnn_smax")
    rng = jax.random.split(jax.random.PRNGKey(0), n_seeds) if vmapped else jax.random.PRNGKey(0)
    if script != "qmix_rnn_smax":
        compiled, config, compile_s = build(total_steps)
        steps = int(config["NUM_UPDATES"]) * int(config["NUM_ENVS"]) * int(config["NUM_STEPS"]) * n_seeds
        return {"run": lambda: compiled(rng), "compile_s": compile_s, "memory": _memory(compiled), "steps": steps,
                "config": {k: v for k, v in config.items() if isinstance(v, int | float | str)}}
    from benchmarks._jaxmarl_peer import read_config

    base = read_config(root, script)
    per_update = int(base["NUM_ENVS"]) * int(base["NUM_STEPS"])
    filled = int(base["BUFFER_BATCH_SIZE"]) * per_update
    short, _, short_s = build(filled)
    long, config, compile_s = build(filled + total_steps)

    def difference() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(long(rng))
        t_long = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(short(rng))
        return t_long - (time.perf_counter() - t0)

    return {"seconds": difference, "compile_s": compile_s, "memory": _memory(long), "steps": total_steps * n_seeds,
            "note": f"timed as ({filled + total_steps} - {filled}) steps: after the buffer can be sampled",
            "config": {k: v for k, v in config.items() if isinstance(v, int | float | str)}}


def _memory(compiled: Any) -> float | None:
    """MiB of buffers the compiled program needs (arguments + outputs + temporaries)."""
    try:
        m = compiled.memory_analysis()
        return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes) / 2**20
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def timed_once(program: dict[str, Any]) -> float:
    import jax

    if "seconds" in program:  # timed as a difference of two programs (peer_program)
        return program["seconds"]()
    t0 = time.perf_counter()
    jax.block_until_ready(program["run"]())
    return time.perf_counter() - t0


def env_only(experiment: Any, n_seeds: int) -> float:
    """Random legal actions through an AutoReset batch of num_envs x seeds environments."""
    from benchmarks._common import env_only_sps
    from marlspec.envs.wrappers import AutoReset

    batch = AutoReset(experiment.env, experiment.num_envs * n_seeds)
    return env_only_sps(batch, experiment.env.info, experiment.rollout_length)


def one(row: str, n_seeds: int, rounds: int, jaxmarl: str | None) -> dict[str, Any]:
    cfg = ROWS[row]
    updates = cfg["updates"][n_seeds]
    out: dict[str, Any] = {"row": row, "spec": f"specs/bench/{cfg['spec']}", "seeds": n_seeds}
    ours = ours_program(cfg["spec"], n_seeds, updates, cfg.get("num_envs"))
    spec = ours["spec"]
    out.update(num_envs=spec.train.num_envs, rollout=spec.train.rollout_length, updates=updates,
               steps=ours["steps"], compile_s=ours["compile_s"], program_mib=ours["memory"])
    other: dict[str, Any] | None = None
    if "ours" in cfg:
        other = ours_program(cfg["ours"], n_seeds, updates, cfg.get("num_envs"))
        out["against"] = f"marlspec {cfg['ours']}"
    elif jaxmarl and "peer" in cfg:
        per_seed = ours["steps"] // n_seeds
        other = peer_program(Path(jaxmarl), cfg["peer"], n_seeds, per_seed)
        out["against"] = f"JaxMARL {cfg['peer']}"
        out["peer_config"] = other["config"]
        if "note" in other:
            out["peer_note"] = other["note"]
    if other is not None:
        out.update(against_compile_s=other["compile_s"], against_program_mib=other["memory"],
                   against_steps=other["steps"])
    timed_once(ours)  # first execution (allocations, thread pools) is not timed
    if other is not None:
        timed_once(other)
    samples = []
    for r in range(rounds):
        pair: dict[str, Any] = {}
        for side in (("ours", "other") if r % 2 == 0 else ("other", "ours")):
            if side == "other" and other is None:
                continue
            program = ours if side == "ours" else other
            pair[f"{side}_load"] = load()
            pair[f"{side}_s"] = timed_once(program)
            pair[f"{side}_sps"] = program["steps"] / pair[f"{side}_s"]
        if other is not None:
            pair["ratio"] = pair["ours_sps"] / pair["other_sps"]
        samples.append(pair)
        print(json.dumps({"row": row, "seeds": n_seeds, "round": r, **pair}), file=sys.stderr, flush=True)
    out["rounds"] = samples
    out["train_sps"] = statistics.median(p["ours_sps"] for p in samples)
    out["seconds_per_update"] = statistics.median(p["ours_s"] for p in samples) / updates
    if other is not None:
        out["against_sps"] = statistics.median(p["other_sps"] for p in samples)
        out["ratio"] = statistics.median(p["ratio"] for p in samples)
    out["env_load"] = load()
    out["env_only_sps"] = env_only(ours["experiment"], n_seeds)
    out["train_over_env"] = out["train_sps"] / out["env_only_sps"]
    out["peak_rss_mib"] = peak_rss_mb()
    out["load_after"] = load()
    return out


def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cols = []
    for r in rows:
        loads = [v for p in r["rounds"] for k, v in p.items() if k.endswith("_load")]
        ratios = [p["ratio"] for p in r["rounds"] if "ratio" in p]
        cols.append({
            "row": r["row"], "seeds": r["seeds"], "envs": r["num_envs"], "train_sps": r["train_sps"],
            "env_only_sps": r["env_only_sps"], "train/env": r["train_over_env"], "compile_s": r["compile_s"],
            "peak_rss_mib": r["peak_rss_mib"], "program_mib": r["program_mib"],
            "against": r.get("against", "-"), "against_sps": r.get("against_sps", "-"),
            "ratio (median)": r.get("ratio", "-"),
            "ratio per round": " / ".join(f"{x:.2f}" for x in ratios) or "-",
            "against_compile_s": r.get("against_compile_s", "-"),
            "load": f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-",
        })
    return cols


def seeds_factor(rows: list[dict[str, Any]]) -> list[str]:
    """Wall time per update of 8 vmapped seeds over that of 1 seed (issue 21: <= 4)."""
    lines = []
    by = {(r["row"], r["seeds"]): r for r in rows}
    for (row, s), r in sorted(by.items()):
        if s == 8 and (row, 1) in by:
            f = r["seconds_per_update"] / by[row, 1]["seconds_per_update"]
            lines.append(f"- {row}: {r['seconds_per_update']:.3f} s per update with 8 seeds vs "
                         f"{by[row, 1]['seconds_per_update']:.3f} s with 1: {f:.2f}x")
    return lines


def measured_parts() -> list[str]:
    """The profiles (benchmarks/profile_update.py --write) and one-process before/after ratios
    (benchmarks/before_after.py --write) found in benchmarks/results, as markdown lines."""
    from benchmarks._common import RESULTS

    lines = []
    for f in sorted(RESULTS.glob("profile_*.json")):
        d = json.loads(f.read_text())
        shares = ", ".join(f"{k} {v:.2f}" for k, v in d["share_of_full"].items() if k != "full")
        lines.append(f"- {d['spec']}, {d['updates']} updates ({d['steps']} steps), medians of "
                     f"{len(next(iter(d['per_round'].values())))} interleaved rounds, seconds "
                     f"{json.dumps({k: round(v, 3) for k, v in d['seconds'].items()})}; share of `full`: {shares}. "
                     f"Load after: {d.get('load_after', float('nan')):.1f}. `{d['command']}`")
    for f in sorted(RESULTS.glob("before_after_*.json")):
        d = json.loads(f.read_text())
        rounds = " / ".join(f"{r:.2f}" for r in d["speedup_per_round"])
        lines.append(f"- {d['spec']}: before (files {', '.join(d['files'])} at {d['rev']}) / after = "
                     f"{d['speedup_median']:.2f}x median ({rounds} per round), {d['steps']} steps, {d['seeds']} seed(s); "
                     f"compile s before/after {d['compile_s']['before']:.0f}/{d['compile_s']['after']:.0f}; "
                     f"learner max |after - before| {d['learner_max_abs_diff']:.2g} (max |param| "
                     f"{d['learner_max_abs']:.2g}). `{d['command']}`")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jaxmarl", help="a JaxMARL checkout (kept outside this repository)")
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 8], choices=[1, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-seeds", nargs="*", type=int, default=[1],
                        help="seed counts at which the JaxMARL peer also runs (default 1)")
    parser.add_argument("--gpu", action="store_true", help="run on the GPU and write peer_configs_gpu.*")
    parser.add_argument("--name", default=None, help="results file name (default peer_configs[_gpu])")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows already in the results file that this run does not measure "
                             "(with --rows and no row: only rewrite the markdown)")
    parser.add_argument("--from-log", default=None,
                        help="with --merge: also rows from the stdout of an earlier run cut short (their "
                             "per-round figures are not printed there, so those rows have none)")
    parser.add_argument("--one", nargs=4, metavar=("ROW", "SEEDS", "ROUNDS", "JAXMARL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        row, seeds, rounds, jaxmarl = args.one
        result = one(row, int(seeds), int(rounds), None if jaxmarl == "-" else jaxmarl)
        from benchmarks._common import RESULTS

        (RESULTS / "peer_configs_rows").mkdir(parents=True, exist_ok=True)  # kept if the whole run is cut short
        (RESULTS / "peer_configs_rows" / f"{row}_{seeds}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result))
        return
    if args.gpu:
        import jax

        if not any(d.platform == "gpu" for d in jax.devices()):
            sys.exit(f"peer_configs.py --gpu: no GPU visible to JAX (jax.devices() = {jax.devices()})")
    rows = []
    t_start = time.time()
    for row in args.rows:
        for s in args.seeds:
            if s not in ROWS[row]["updates"]:
                continue
            peer = args.jaxmarl if (args.jaxmarl and s in args.peer_seeds) else "-"
            t0 = time.time()
            result = in_subprocess(__file__, [row, str(s), str(args.rounds), peer], timeout=7200)
            print(json.dumps({k: v for k, v in result.items() if k != "rounds"}), f"({time.time() - t0:.0f}s)",
                  flush=True)
            rows.append(result)
    name = args.name or ("peer_configs_gpu" if args.gpu else "peer_configs")
    command = "python benchmarks/peer_configs.py " + " ".join(sys.argv[1:])
    commands = [command]
    from benchmarks._common import RESULTS

    if args.merge:  # earlier rows: those saved one by one (newest), then the results file's
        old = json.loads((RESULTS / f"{name}.json").read_text()) if (RESULTS / f"{name}.json").exists() else {}
        saved = [json.loads(f.read_text()) for f in sorted((RESULTS / "peer_configs_rows").glob("*.json"))]
        if args.from_log:
            lines = [x for x in Path(args.from_log).read_text().splitlines() if x.startswith("{")]
            saved += [{"rounds": [], **json.loads(x[: x.rindex("}") + 1])} for x in lines]
        for r in [*saved, *old.get("rows", [])]:
            if (r["row"], r["seeds"]) not in {(x["row"], x["seeds"]) for x in rows}:
                rows.append(r)
        rows.sort(key=lambda r: (list(ROWS).index(r["row"]), r["seeds"]))
        commands = old.get("commands", [old["command"]] if old else []) + commands
    notes = "\n".join([
        "Regenerate (in this order; `--merge` keeps earlier rows): " + "; ".join(f"`{c}`" for c in commands)
        + f" (the last took {time.time() - t_start:.0f} s here). Each row ran in its own process; "
        "within it, ours and the comparison were timed alternately, round by round, on the same budget.",
        "",
        "- train_sps: environment steps per second of the whole budget compiled as one program (all seeds "
        "counted, compile excluded), median over rounds. env_only_sps: uniformly random legal actions through "
        "the same AutoReset batch at num_envs x seeds environments. train/env = train_sps / env_only_sps.",
        "- ratio: our steps/s over the comparison's, measured in the same round (median over rounds, then each "
        "round). load: the 1-minute load average before each timed execution (2 cores).",
        "- peak_rss_mib: the process's peak resident memory (both programs and their compilation). "
        "program_mib: the compiled program's arguments + outputs + temporaries (XLA memory analysis).",
        "",
        "The machine was shared while this ran (2 cores; other jobs running, see `load`): absolute steps/s are "
        "low and noisy; the ratios, measured within one process and round, are what to compare.",
        "",
        "Where the time goes and what changed (each line written by the script it names):",
        "",
        *measured_parts(),
        "",
        "8 vmapped seeds vs 1 seed (issue 21: <= 4x the wall time of 1 seed per update):",
        *seeds_factor(rows),
        "",
        "Peer figures measured elsewhere (REFERENCE_FACTS.md: JaxMARL c793d09 at its default configurations, "
        "2 cores, jax 0.10.2, each program compiled ahead of time, two interleaved rounds on 2026-12-03; "
        "compare ratios, not these absolute numbers):",
        "",
        "| JaxMARL script | config | training steps/s | compile s |",
        "|---|---|---|---|",
        *[f"| {p['script']} | {p['config']} | {p['train_sps']} | {p['compile_s']} |" for p in PEER_MEASURED_ELSEWHERE],
    ])
    write(name, {"rows": rows, "command": command, "commands": commands, "peer_measured_elsewhere": PEER_MEASURED_ELSEWHERE,
                 "machine_at_end": machine()}, table(rows), notes)


if __name__ == "__main__":
    main()
