"""The host loop: compile chunks, train, evaluate, log, checkpoint. Written once.

Between compiled chunks the host draws the progress bar, evaluates the execution
policy (and the behaviour policy where it differs), appends to metrics.jsonl and
saves a checkpoint. A run that fails keeps its metrics and last checkpoint, and its
summary says why it stopped.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from marlspec.algorithms.base import Mode
from marlspec.io.plots import learning_curve
from marlspec.io.rundir import CheckpointWriter, RunDir, RunDirError
from marlspec.spec import ExperimentSpec, dump_spec
from marlspec.train.experiment import FINITE_METRIC, AnyExperiment
from marlspec.train.experiment import over_seeds as over_seeds  # where the benchmarks and tests find it
from marlspec.train.guard import Diverged, first_nonfinite
from marlspec.train.rollout import evaluate as rollout_evaluate
from marlspec.train.sharding import DataParallel, barrier, gather

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "marlspec" / "jax"


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Use JAX's persistent compilation cache (`MARLSPEC_JAX_CACHE` or ~/.cache/marlspec/jax)."""
    where = Path(path) if path else Path(os.environ.get("MARLSPEC_JAX_CACHE", DEFAULT_CACHE))
    where.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(where))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return where


def compile_ahead(fn: Callable[[Any], Any], tree: Any, donate: bool = True,
                  sharding: DataParallel | None = None) -> tuple[Callable[[Any], Any], float]:
    """Compile `fn(tree)` now and return it with the seconds compilation took.

    Arrays in `tree` are traced; everything else (static configuration, activation
    functions) is closed over. The input buffers are donated, since the runner never
    reads a state again after stepping it. With `sharding` (data parallel), `tree` is a runner
    state whose environment batch is split over the device mesh; the output state keeps that
    layout and the metrics come back replicated.
    """
    dynamic, static = eqx.partition(tree, eqx.is_array)
    out_static: list[Any] = []

    def inner(d: Any) -> Any:
        out_dynamic, out_static_part = eqx.partition(fn(eqx.combine(d, static)), eqx.is_array)
        out_static.append(out_static_part)
        return out_dynamic

    t0 = time.perf_counter()
    placement: dict[str, Any] = {}
    if sharding is not None:
        state = tree[0] if isinstance(tree, tuple) else tree  # a padded chunk takes (state, size)
        placement = {"in_shardings": (sharding.of(tree),), "out_shardings": (sharding.of(state), sharding.replicated)}
    compiled = jax.jit(inner, donate_argnums=0 if donate else (), **placement).lower(dynamic).compile()
    seconds = time.perf_counter() - t0
    if sharding is not None:
        barrier("marlspec_compiled")

    def call(t: Any) -> Any:
        return eqx.combine(compiled(eqx.partition(t, eqx.is_array)[0]), out_static[0])

    return call, seconds


def seed_keys(seeds: list[int]) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(s) for s in seeds])


def init_states(experiment: AnyExperiment, seeds: list[int]) -> Any:
    return experiment.init_batch(seed_keys(seeds))


def make_evaluator(experiment: AnyExperiment) -> Callable[[Any, int, Mode, list[int]], dict[str, np.ndarray]]:
    """`evaluator(learners, eval_index, mode, seeds)` -> per-seed, per-episode numpy arrays."""

    compiled = functools.cache(experiment.evaluator)  # one program per mode

    def evaluator(learners: Any, index: int, mode: Mode, seeds: list[int]) -> dict[str, np.ndarray]:
        keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s + 1_000_003), index) for s in seeds])
        return jax.tree.map(np.asarray, compiled(mode)(learners, keys))

    return evaluator


class Progress:
    """Training progress: env steps, steps/s, latest return (and win rate), elapsed time and ETA.

    On a terminal this is a live `rich` bar. When stdout is not a terminal (a log file, a
    cluster job, a pipe) a live bar cannot redraw, so one plain line is printed per evaluation
    instead, with every field in full.
    """

    def __init__(self, total: int, title: str, enabled: bool, live: bool | None = None, start: int = 0):
        self.enabled, self.total, self.title, self.start = enabled, total, title, start
        self.live = sys.stdout.isatty() if live is None else live
        self.t0 = time.perf_counter()
        if not enabled or not self.live:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
            TextColumn("{task.fields[sps]} sps"), TextColumn("return {task.fields[ret]}"),
            TextColumn("{task.fields[win]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.bar.add_task(title, total=total, completed=start, sps="-", ret="-", win="")
        self.bar.start()

    def update(self, steps: int, sps: float, ret: float, win: float | None) -> None:
        if not self.enabled:
            return
        if self.live:
            f = _fields(sps, ret, win)
            self.bar.update(self.task, completed=steps, sps=f["sps"], ret=f["ret"], win=f["win"])
            return
        print(self.line(steps, sps, ret, win, time.perf_counter() - self.t0), flush=True)

    def line(self, steps: int, sps: float, ret: float, win: float | None, elapsed: float) -> str:
        """The plain progress line used when stdout is not a terminal."""
        fmt = lambda s: f"{int(s // 3600):02d}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"  # noqa: E731
        done = steps - self.start  # a resumed run times only the steps it made itself
        eta = elapsed * (self.total - steps) / done if done > 0 else float("nan")
        f = _fields(sps, ret, win)
        parts = [self.title, f"{steps:,}/{self.total:,} steps ({steps / max(self.total, 1):.0%})",
                 f"{f['sps']} sps", f"return {f['ret']}"] + ([f["win"]] if f["win"] else [])
        parts += [f"elapsed {fmt(elapsed)}", "eta " + (fmt(eta) if np.isfinite(eta) else "-")]
        return " | ".join(parts)

    def close(self) -> None:
        if self.enabled and self.live:
            self.bar.stop()


def _fields(sps: float, ret: float, win: float | None) -> dict[str, str]:
    """The progress fields as shown by both the live bar and the plain line."""
    return {"sps": f"{sps:,.0f}", "ret": f"{ret:.3g}", "win": "" if win is None else f"win {win:.0%}"}


def _mean(x: Any) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


class Schedule:
    """Where a run's chunks end: one eval interval's worth of updates each, the last one
    shorter when the budget is not a multiple (it runs in the same compiled program)."""

    def __init__(self, spec: ExperimentSpec):
        self.per_chunk, self.total = spec.updates_per_chunk, spec.train.num_updates

    @property
    def padded(self) -> bool:
        return self.total % self.per_chunk != 0

    def sizes_after(self, updates: int) -> list[int]:
        """The chunk sizes still to run once `updates` updates are done."""
        out = []
        while updates < self.total:
            out.append(min(self.per_chunk, self.total - updates))
            updates += out[-1]
        return out

    def evaluations_through(self, updates: int) -> int:
        """Evaluations made up to and including the one after `updates` updates (the first is at 0)."""
        return 1 + -(-updates // self.per_chunk)


def _compile_chunk(experiment: AnyExperiment, schedule: Schedule, rs: Any,
                   sharding: DataParallel | None = None) -> tuple[Callable[[Any, int], Any], float]:
    """The one training-chunk program: `call(state, size) -> (state, metrics)` and its compile seconds."""
    return experiment.chunk_program(rs, schedule.per_chunk, schedule.padded, sharding, compile_ahead)


def run(spec: ExperimentSpec, out: str | Path | None = None, experiment: AnyExperiment | None = None,
        progress: bool | None = None, *, resume: bool = False, overwrite: bool = False) -> RunDir:
    """Train `spec` and write its run directory. Returns the run directory.

    An existing `out` is refused (`RunDirError`) unless `overwrite` (which replaces it) or
    `resume` (which continues it from its last checkpoint, see `resume`). A run whose loss
    terms or learner state stop being finite raises `Diverged`, with `status: diverged` in
    its summary and its last finite checkpoint kept."""
    from marlspec.compile import compile as compile_spec

    if resume:
        if out is None:
            raise RunDirError("resume needs the run directory to continue")
        rundir = RunDir.open(out)
        if rundir.spec_text() != dump_spec(spec):
            raise RunDirError(f"{rundir.path}: the spec differs from the run's own {rundir.path / 'spec.yaml'};"
                              " resume continues a run with its own spec (drop the spec and --set)")
        before = rundir.read_summary() or {}
        if str(before.get("status", "")).startswith("diverged"):
            raise RunDirError(f"{rundir.path} diverged ({before.get('diverged', {}).get('term', '?')}); resuming would"
                              " diverge again: change the spec (e.g. a lower train.lr) and start a new run")
        if before.get("status") == "completed":
            return rundir
    if experiment is None:
        try:
            experiment = compile_spec(spec)
        except (ValueError, ImportError) as err:
            if not resume:
                raise
            raise RunDirError(f"{rundir.path / 'spec.yaml'}: cannot build the experiment: {err}") from None
    if resume and not experiment.resumable:
        raise RunDirError(f"{spec.env.kind} environments run on the host and their state cannot be saved, so this"
                          " run cannot be resumed; start it again with --overwrite")
    if not resume:
        rundir = RunDir.create(spec, out, overwrite=overwrite)
    else:
        rundir.attach_trackers(spec)
    seeds = list(spec.train.seeds)
    schedule = Schedule(spec)
    total_updates = schedule.total
    spu = experiment.steps_per_update
    evaluator = make_evaluator(experiment)
    held_out = CompositionEvals(spec, experiment)  # eval.compositions, each reported on its own
    modes: list[Mode] = ["execution", "behaviour"] if experiment.algorithm.distinct_behaviour else ["execution"]
    evals: dict[int, list[dict[str, Any]]] = {s: [] for s in seeds}
    history: list[dict[str, Any]] = []
    wall0 = time.perf_counter()
    compile_seconds, train_seconds, updates_done, eval_index = 0.0, 0.0, 0, 0
    status = "completed"
    diverged: Diverged | None = None
    rs: Any = None
    checkpoint_steps: int | None = None  # env steps of the checkpoint a resumed run started from
    writer = CheckpointWriter(rundir)  # checkpoints are written while the next chunk trains

    def evaluate_and_log(learners: Any, chunk_metrics: dict[str, np.ndarray] | None) -> None:
        nonlocal eval_index
        results = {mode: evaluator(learners, eval_index, mode, seeds) for mode in modes}
        held_out.evaluate(learners, eval_index, seeds, updates_done * spu)
        eval_index += 1
        steps = updates_done * spu
        records = []
        for i, seed in enumerate(seeds):
            ex = results["execution"]
            record: dict[str, Any] = {
                "env_steps": steps, "updates": updates_done, "seed": seed,
                "eval_return": float(ex["return"][i].mean()), "eval_return_std": float(ex["return"][i].std()),
                "eval_length": float(ex["length"][i].mean()),
                "eval_win_rate": float(ex["won"][i].mean()) if "won" in ex else None,
                "wall_time": time.perf_counter() - wall0,
                "sps": steps * len(seeds) / train_seconds if train_seconds > 0 else None,
            }
            if "behaviour" in results:
                be = results["behaviour"]
                record["behaviour_return"] = float(be["return"][i].mean())
                if "won" in be:
                    record["behaviour_win_rate"] = float(be["won"][i].mean())
            if chunk_metrics is not None:
                record.update({k: _mean(v[i]) for k, v in chunk_metrics.items()})
            held_out.add_to(record, i)
            records.append(record)
            entry = {"env_steps": steps, "return": ex["return"][i].tolist()}
            if "won" in ex:
                entry["win_rate"] = [float(ex["won"][i].mean())]
            evals[seed].append(entry)
        rundir.append_metrics(records)
        history.extend(records)
        win = records[0]["eval_win_rate"]
        bar.update(steps, (steps * len(seeds) / train_seconds) if train_seconds else 0.0,
                   float(np.mean([r["eval_return"] for r in records])),
                   None if win is None else float(np.mean([r["eval_win_rate"] for r in records])))

    def checkpoint(state: Any) -> None:
        """After an evaluation: marl_eval.json, then (every `log.checkpoint_every`-th evaluation,
        and at the end) the checkpoint."""
        rundir.write_marl_eval(spec, evals, held_out.evals)
        due = (eval_index - 1) % spec.log.checkpoint_every == 0 or updates_done == total_updates
        if spec.log.checkpoint and due:
            writer.save(gather(state), {
                "env_steps": updates_done * spu, "updates": updates_done, "evaluations": eval_index, "seeds": seeds,
                "train_seconds": train_seconds, "compile_seconds": compile_seconds,
            })

    sharding = DataParallel(experiment.devices) if experiment.devices > 1 else None
    start_steps = 0
    if resume:
        template = init_states(experiment, seeds)
        if rundir.has_checkpoint():
            rs = rundir.load_state(template)
            updates_done = int(np.asarray(rs.updates).reshape(-1)[0])
            meta = rundir.read_meta()
            if meta.get("updates") == updates_done:  # wall-clock totals, for steps/s
                train_seconds = float(meta.get("train_seconds") or 0.0)
                compile_seconds = float(meta.get("compile_seconds") or 0.0)
            eval_index = schedule.evaluations_through(updates_done)
            history = rundir.truncate_metrics(updates_done * spu)
            evals = rundir.read_marl_eval(spec, updates_done * spu)
            held_out.restore(rundir, spec, updates_done * spu)
            checkpoint_steps = start_steps = updates_done * spu
        else:  # stopped before its first checkpoint: start again (the same seeds give the same run)
            rs = template
            rundir.truncate_metrics(-1)
    bar = Progress(total_updates * spu, f"{spec.name} [{spec.algorithm.kind} on {spec.env.label}]",
                   spec.log.progress if progress is None else progress, start=start_steps)
    try:
        if rs is None or eval_index == 0:
            rs = rs if rs is not None else init_states(experiment, seeds)
            if sharding is not None:
                rs = sharding.put(rs)
            evaluate_and_log(rs.learner, None)
            checkpoint(rs)
        elif sharding is not None:
            rs = sharding.put(rs)
        sizes = schedule.sizes_after(updates_done)
        call = None
        for size in sizes:
            if call is None:
                call, compile_seconds_now = _compile_chunk(experiment, schedule, rs, sharding)
                compile_seconds += compile_seconds_now
            t0 = time.perf_counter()
            rs, metrics = call(rs, size)
            jax.block_until_ready(rs)
            train_seconds += time.perf_counter() - t0
            metrics_np = jax.tree.map(np.asarray, metrics)
            diverged = first_nonfinite(metrics_np, seeds, updates_done, spu)
            if diverged is not None:
                raise diverged
            metrics_np.pop(FINITE_METRIC, None)
            updates_done += size
            evaluate_and_log(rs.learner, metrics_np)
            checkpoint(rs)
        writer.wait()
    except Diverged as err:
        status = "diverged"
        err.run_dir = rundir.path  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            writer.wait()
        if writer.written is not None:
            checkpoint_steps = writer.written["env_steps"]
        kept = (f"the last finite checkpoint (env step {checkpoint_steps:,}) is kept" if checkpoint_steps is not None
                else "no checkpoint was written")
        err.args = (f"{err.args[0]}; training stopped, {kept}; lower train.lr (or tighten the gradient clip)",)
        raise
    except BaseException as err:  # keep what we have, then let the error through
        status = f"failed: {type(err).__name__}: {err}" if not isinstance(err, KeyboardInterrupt) else "interrupted"
        with contextlib.suppress(Exception):  # the checkpoint in flight is completed, not cut short
            writer.wait()
        with contextlib.suppress(AttributeError, TypeError):
            err.run_dir = rundir.path  # type: ignore[attr-defined] # for the CLI's message
        raise
    finally:
        bar.close()
        with contextlib.suppress(Exception):
            writer.close()
        with contextlib.suppress(Exception) if status != "completed" else contextlib.nullcontext():
            _finish(spec, rundir, history, evals, status, updates_done * spu, train_seconds, compile_seconds,
                    time.perf_counter() - wall0, len(seeds), diverged, held_out)
    return rundir


def resume(path: str | Path, progress: bool | None = None) -> RunDir:
    """Continue the run in `path` from its last checkpoint, with its own spec. The finished
    run is bit-identical (parameters, optimiser states, replay, environment states, RNG keys,
    metrics apart from wall-clock fields) to one that was never interrupted."""
    from marlspec.spec import SpecError, load_spec

    rundir = RunDir.open(path)
    try:
        spec = load_spec(rundir.path / "spec.yaml")
    except SpecError as err:
        raise RunDirError(f"{rundir.path / 'spec.yaml'}: {err}") from None
    return run(spec, rundir.path, progress=progress, resume=True)


def _finish(spec: ExperimentSpec, rundir: RunDir, history: list[dict[str, Any]], evals: dict[int, list[dict[str, Any]]],
            status: str, env_steps: int, train_seconds: float, compile_seconds: float, wall: float, n_seeds: int,
            diverged: Diverged | None = None, held_out: CompositionEvals | None = None) -> None:
    by_seed: dict[int, list[dict[str, Any]]] = {}
    for r in history:
        by_seed.setdefault(r["seed"], []).append(r)
    finals = {s: rs[-1]["eval_return"] for s, rs in by_seed.items()}
    bests = {s: max(r["eval_return"] for r in rs) for s, rs in by_seed.items()}
    summary: dict[str, Any] = {
        "name": spec.name, "env": spec.env.label, "algorithm": spec.algorithm.kind, "status": status,
        "seeds": list(spec.train.seeds), "env_steps_per_seed": env_steps,
        "final_return": float(np.mean(list(finals.values()))) if finals else None,
        "final_return_per_seed": finals, "best_return": float(np.mean(list(bests.values()))) if bests else None,
        "best_return_per_seed": bests,
        "sps": env_steps * n_seeds / train_seconds if train_seconds > 0 else None,
        "train_seconds": train_seconds, "compile_seconds": compile_seconds, "wall_seconds": wall,
        "eval_mode": "greedy" if spec.eval.greedy else "stochastic",
    }
    if diverged is not None:
        summary["diverged"] = diverged.describe()
    last = [rs[-1] for rs in by_seed.values()]
    if last and last[0].get("eval_win_rate") is not None:
        summary["final_win_rate"] = float(np.mean([r["eval_win_rate"] for r in last]))
    if last and last[0].get("behaviour_return") is not None:
        summary["final_behaviour_return"] = float(np.mean([r["behaviour_return"] for r in last]))
    if held_out is not None and held_out.names:
        summary["compositions"] = held_out.summary()
    rundir.write_summary(summary)
    rundir.write_marl_eval(spec, evals, held_out.evals if held_out is not None else None)
    if spec.log.plot and history:
        learning_curve(history, rundir.path / "plots" / "learning_curve.png",
                       f"{spec.algorithm.kind} on {spec.env.label}")
        if held_out is not None:
            held_out.plot(rundir.path / "plots", spec)


def evaluate_run(path: str | Path, episodes: int | None = None, mode: Mode = "execution") -> dict[str, Any]:
    """Reload a run directory's checkpoint and evaluate it (for `marlspec eval`). A directory
    that is not a run, a spec that no longer loads or builds, and a checkpoint that is
    missing, empty, truncated or written for another spec raise `RunDirError` (one line)."""
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import SpecError, load_spec

    rundir = RunDir.open(path)
    if not rundir.has_checkpoint():
        raise RunDirError(f"{rundir.path}: no checkpoint.eqx here (log.checkpoint was false, or the run stopped"
                          " before its first checkpoint)")
    try:
        spec = load_spec(rundir.path / "spec.yaml")
        if episodes is not None:
            spec = spec.model_copy(update={"eval": spec.eval.model_copy(update={"episodes": episodes})})
        if spec.train.devices != 1:  # evaluation needs no sharding, nor the devices the run trained on
            spec = spec.model_copy(update={"train": spec.train.model_copy(update={"devices": 1})})
        experiment = compile_spec(spec)
    except (SpecError, ValueError, ImportError) as err:
        raise RunDirError(f"{rundir.path / 'spec.yaml'}: {err}") from None
    seeds = list(spec.train.seeds)
    template = init_states(experiment, seeds).learner
    learners = rundir.load_checkpoint(template)
    results = make_evaluator(experiment)(learners, 10_000, mode, seeds)
    out: dict[str, Any] = {"mode": mode, "episodes": spec.eval.episodes,
                           "return_per_seed": {s: float(results["return"][i].mean()) for i, s in enumerate(seeds)}}
    out["return"] = float(np.mean(list(out["return_per_seed"].values())))
    if "won" in results:
        out["win_rate"] = float(results["won"].mean())
    return out


# --------------------------------------------------------- held-out team compositions (eval.compositions)


class CompositionEvals:
    """Evaluation on the held-out team compositions of `eval.compositions` (MIPI's zero-shot
    protocol): the learner trained on the spec's environment is evaluated, in execution mode, on
    each composition's environment, and every composition is reported on its own: a
    `compositions` entry in each metrics.jsonl record and in summary.json, a task
    `<task>@<name>` in marl_eval.json and plots/learning_curve_<name>.png."""

    def __init__(self, spec: ExperimentSpec, experiment: AnyExperiment):
        from marlspec.compile import compile as compile_spec

        self.names = list(spec.eval.compositions)
        built = {name: compile_spec(spec.model_copy(update={"env": spec.composition_env(name)})) for name in self.names}
        self.envs = {name: e.env for name, e in built.items()}
        episodes, greedy = spec.eval.episodes, spec.eval.greedy
        # One program per slot count: compositions whose environments differ only in arrays (the
        # composition is then an argument, not a constant) share it, as smax_teams and team_matrix
        # do at one slot count. A composition in another slot count (slot-independent networks,
        # `SMAXTeamsSpec.composition_frozen`) acts with the algorithm built for its environment
        # and the TRAINED learner's parameters (acting reads only the parameters).
        self._algorithms = {name: experiment.algorithm if e.env.info == experiment.env.info else e.algorithm
                            for name, e in built.items()}
        self._programs: dict[Any, Any] = {}
        for algorithm in self._algorithms.values():
            if algorithm.info not in self._programs:
                self._programs[algorithm.info] = eqx.filter_jit(eqx.filter_vmap(
                    lambda env, learner, key, algorithm=algorithm: rollout_evaluate(
                        env, algorithm, learner, key, episodes, "execution", greedy),
                    in_axes=(None, 0, 0)))
        self.latest: dict[str, dict[str, np.ndarray]] = {}
        self.evals: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in self.names}
        self.history: dict[str, list[dict[str, Any]]] = {name: [] for name in self.names}

    def evaluate(self, learners: Any, index: int, seeds: list[int], steps: int) -> None:
        keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s + 2_000_003), index) for s in seeds])
        for name, env in self.envs.items():
            out = jax.tree.map(np.asarray, self._programs[self._algorithms[name].info](env, learners, keys))
            self.latest[name] = out
            for i, seed in enumerate(seeds):
                entry: dict[str, Any] = {"env_steps": steps, "return": out["return"][i].tolist()}
                row: dict[str, Any] = {"seed": seed, "env_steps": steps, "eval_return": float(out["return"][i].mean())}
                if "won" in out:
                    entry["win_rate"] = [float(out["won"][i].mean())]
                    row["eval_win_rate"] = float(out["won"][i].mean())
                self.evals[name].setdefault(seed, []).append(entry)
                self.history[name].append(row)

    def restore(self, rundir: RunDir, spec: ExperimentSpec, env_steps: int) -> None:
        """Reload the held-out results up to `env_steps` from marl_eval.json (a resumed run)."""
        for name in self.names:
            self.evals[name] = {s: e for s, e in rundir.read_marl_eval(spec, env_steps, name).items() if e}
            self.history[name] = [
                {"seed": seed, "env_steps": e["env_steps"], "eval_return": float(np.mean(e["return"])),
                 **({"eval_win_rate": float(e["win_rate"][0])} if "win_rate" in e else {})}
                for seed, entries in self.evals[name].items() for e in entries]

    def add_to(self, record: dict[str, Any], i: int) -> None:
        """Put seed `i`'s latest held-out results into its metrics record."""
        if not self.names:
            return
        record["compositions"] = {}
        for name, out in self.latest.items():
            result = {"eval_return": float(out["return"][i].mean()), "eval_return_std": float(out["return"][i].std())}
            if "won" in out:
                result["eval_win_rate"] = float(out["won"][i].mean())
            record["compositions"][name] = result

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, rows in self.history.items():
            last_step = max(r["env_steps"] for r in rows)
            last = {r["seed"]: r for r in rows if r["env_steps"] == last_step}
            entry: dict[str, Any] = {
                "final_return": float(np.mean([r["eval_return"] for r in last.values()])),
                "final_return_per_seed": {s: r["eval_return"] for s, r in last.items()},
            }
            if all("eval_win_rate" in r for r in last.values()):
                entry["final_win_rate"] = float(np.mean([r["eval_win_rate"] for r in last.values()]))
                entry["final_win_rate_per_seed"] = {s: r["eval_win_rate"] for s, r in last.items()}
            out[name] = entry
        return out

    def plot(self, folder: Path, spec: ExperimentSpec) -> None:
        for name, rows in self.history.items():
            learning_curve(rows, folder / f"learning_curve_{name}.png",
                           f"{spec.algorithm.kind} on {spec.env.label}, held out: {name}")
