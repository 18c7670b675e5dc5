"""`marlspec run | validate | eval | list | schema | sweep | report`.

Every expected failure (a spec that does not validate, a missing file, a malformed `--set`,
a run directory that exists or is not a run, a checkpoint that is corrupt or does not match
its spec, an output that cannot be written) prints one line naming the problem and the fix,
and exits with code 2; `--debug` shows the traceback instead. Exit codes:

    0  success
    1  an unexpected error (a bug; rerun with --debug for the traceback)
    2  bad input
    3  training diverged (a non-finite loss term or parameter; the last finite checkpoint is kept)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import contextlib
import json
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from marlspec.spec import ExperimentSpec, Spec, SpecError, load_spec

if TYPE_CHECKING:
    from marlspec.algorithms.base import Mode  # imports JAX; the CLI loads it lazily

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="marlspec: cooperative multi-agent RL from typed specs.",
)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a spec value: dotted.path=value (repeatable), e.g. --set train.seeds=[0,1,2]"),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback of a failure")]


def _die(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    from marlspec.spec.loading import one_line

    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _failures(debug: bool) -> Iterator[None]:
    """Expected failures as one line and exit code 2 (with `debug`, the traceback instead)."""
    from marlspec.io.rundir import RunDirError

    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except (SpecError, RunDirError) as err:
        if debug:
            raise
        _die(str(err))


def _load(spec: Path, overrides: list[str] | None) -> ExperimentSpec:
    try:
        return load_spec(spec, overrides or [])
    except SpecError as err:
        _die(str(err))


def _kept(run_dir: Path | None) -> str:
    """What a stopped run left behind, said truthfully."""
    from marlspec.io.rundir import RunDir

    if run_dir is None or not RunDir.is_run(run_dir):
        return "nothing was written"
    meta = RunDir(run_dir).read_meta()
    if (run_dir / "checkpoint.eqx").exists() and "env_steps" in meta:
        return (f"its metrics and the checkpoint at env step {meta['env_steps']:,} are kept in {run_dir};"
                f" continue with: marlspec run --resume {run_dir}")
    return f"its metrics are kept in {run_dir} (no checkpoint was written)"


@app.command()
def run(
    spec: Annotated[Path | None, typer.Argument(help="YAML spec file, e.g. specs/mappo_coordsum.yaml")] = None,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default: <log.out_dir>/<name>-<time>)")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue this run directory from its last checkpoint")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run directory given by --out if it exists")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    debug: DebugOption = False,
    distributed: Annotated[bool, typer.Option("--distributed", help="Multi-host: call jax.distributed.initialize first (one process per host; see docs/scaling.md)")] = False,
    coordinator: Annotated[str | None, typer.Option("--coordinator", help="With --distributed: host:port of process 0 (default: $JAX_COORDINATOR_ADDRESS or the cluster's)")] = None,
    num_processes: Annotated[int | None, typer.Option("--num-processes", min=1, help="With --distributed: number of processes (default: from the cluster, e.g. SLURM)")] = None,
    process_id: Annotated[int | None, typer.Option("--process-id", min=0, help="With --distributed: this process's index (default: from the cluster)")] = None,
) -> None:
    """Train a spec and write its run directory (or continue one with --resume)."""
    if resume is not None:
        if spec is not None or set_ or out is not None or overwrite:
            _die("--resume RUN_DIR continues a run with its own spec.yaml; drop SPEC, --set, --out and --overwrite")
    elif spec is None:
        _die("missing SPEC; e.g. marlspec run specs/mappo_coordsum.yaml (or --resume RUN_DIR)")
    if distributed:  # before anything touches a JAX backend
        from marlspec.distributed import initialize

        try:
            initialize(coordinator, num_processes, process_id)
        except (ValueError, RuntimeError) as err:
            _die(f"--distributed: {err}; pass --coordinator, --num-processes and --process-id, or run under SLURM")
    from marlspec.train.guard import Diverged
    from marlspec.train.runner import enable_compilation_cache

    enable_compilation_cache()
    try:
        with _failures(debug):
            if resume is not None:
                from marlspec.train.runner import resume as resume_run

                rundir = resume_run(resume, progress=not quiet)
            else:
                assert spec is not None  # checked above
                rundir = _run_new(_load(spec, set_), out, overwrite, quiet, debug)
    except (typer.Exit, typer.Abort):
        raise
    except Diverged as err:
        if debug:
            raise
        _die(f"training diverged: {err} ({getattr(err, 'run_dir', '?')})", EXIT_DIVERGED)
    except KeyboardInterrupt:
        _die(f"interrupted; {_kept(getattr(sys.exc_info()[1], 'run_dir', None))}", EXIT_INTERRUPTED)
    except Exception as err:
        if debug:
            raise
        _die(f"training failed: {type(err).__name__}: {err}; {_kept(getattr(err, 'run_dir', None))}"
             " (rerun with --debug for the traceback)", 1)
    summary = json.loads((rundir.path / "summary.json").read_text())
    sps = f"{summary['sps']:,.0f}" if summary.get("sps") else "-"
    final = f"{summary['final_return']:.4g}" if summary.get("final_return") is not None else "-"
    line = f"done: {rundir.path}  final return {final}  ({sps} env steps/s)"
    if summary.get("final_win_rate") is not None:
        line += f"  win rate {summary['final_win_rate']:.0%}"
    typer.echo(line)


def _run_new(experiment_spec: ExperimentSpec, out: Path | None, overwrite: bool, quiet: bool, debug: bool) -> Any:
    from marlspec.io.rundir import RunDir
    from marlspec.train.runner import run as run_spec

    if out is not None:
        RunDir.check_new(out, overwrite)  # before building anything
    try:
        from marlspec.compile import compile as compile_spec

        experiment = compile_spec(experiment_spec)
    except SpecError:
        raise
    except (ValueError, ImportError) as err:
        if debug:
            raise
        _die(f"cannot build the experiment: {err}")
    return run_spec(experiment_spec, out, experiment=experiment, progress=not quiet, overwrite=overwrite)


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="YAML spec file")],
    set_: SetOption = None,
    debug: DebugOption = False,
) -> None:
    """Check a spec; exit 0 if it is valid, 2 if not. Imports no module that the spec names."""
    with _failures(debug):
        s = load_spec(spec, set_ or [])
    if s.train.devices != 1:  # needs the device count, so JAX; only specs that shard pay for it
        from marlspec.train.sharding import check

        try:
            check(s.train.devices, s.train.num_envs)
        except ValueError as err:
            _die(str(err))
    typer.echo(f"ok: {s.name}: {s.algorithm.kind} on {s.env.label}, {s.train.num_updates} updates x "
               f"{s.train.steps_per_update} steps, seeds {s.train.seeds}")


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `marlspec run`")],
    episodes: Annotated[int | None, typer.Option("--episodes", "-n", min=1, help="Episodes per seed")] = None,
    mode: Annotated[str, typer.Option(help="execution (deployed policy) or behaviour")] = "execution",
    debug: DebugOption = False,
) -> None:
    """Reload a run's checkpoint and evaluate it."""
    if mode not in ("execution", "behaviour"):
        _die(f"--mode: '{mode}' is not a mode; use execution or behaviour")
    with _failures(debug):
        from marlspec.io.rundir import RunDir

        RunDir.open(run_dir)  # a one-line error before JAX is imported
        from marlspec.train.runner import enable_compilation_cache, evaluate_run

        enable_compilation_cache()
        result = evaluate_run(run_dir, episodes, cast("Mode", mode))  # checked against both modes above
    typer.echo(json.dumps(result, indent=2))


def _kinds(union: Any) -> list[type[Spec]]:
    return list(typing.get_args(typing.get_args(union)[0]))


PluginOption = Annotated[
    list[str] | None,
    typer.Option("--plugin", "-p", help="Import this plugin module first (repeatable), as a spec's `plugins:` list does"),
]


def _plugins(names: list[str] | None) -> None:
    """Import the installed plugins and the `--plugin` modules (one line on failure)."""
    from marlspec.spec.registry import import_plugins, load_entry_points

    try:
        load_entry_points()
        import_plugins(names or [])
    except ValueError as err:
        _die(f"--plugin: {err}")


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="algorithms, envs or networks (default: all)")] = "all",
    plugin: PluginOption = None,
    debug: DebugOption = False,
) -> None:
    """List algorithms (with the registered plugins'), environments (with presets) and networks."""
    from rich.console import Console
    from rich.table import Table

    from marlspec.spec import EnvSpec, NetworkSpec
    from marlspec.spec.registry import algorithm_union

    _plugins(plugin)
    groups = {"algorithms": algorithm_union(), "envs": EnvSpec, "networks": NetworkSpec}
    if what != "all" and what not in groups:
        _die(f"list: unknown group '{what}'; choices: {', '.join(groups)}")
    with _failures(debug):
        console = Console()
        for name, union in groups.items():
            if what not in ("all", name):
                continue
            table = Table(title=name, show_lines=False)
            table.add_column("kind", style="bold")
            table.add_column("description")
            table.add_column("presets / options")
            for cls in _kinds(union):
                kind = cls.model_fields["kind"].default
                doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
                presets = getattr(cls, "presets", None)
                table.add_row(kind, doc, "\n".join(presets()) if presets else "")
            console.print(table)


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="YAML spec file the grid is applied to")],
    grid: Annotated[list[str], typer.Option("--grid", "-g", help="dotted.path=[v1,v2,...] (repeatable; the sweep is their product)")],
    seeds: Annotated[str | None, typer.Option("--seeds", help="Seeds of every configuration: 0..9, 0,1,2 or [0,1] (default: the spec's)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Sweep folder (default: <log.out_dir>/<name>-sweep)")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Run each configuration as a Ray task: 'auto' or a cluster ADDRESS")] = None,
    cpus: Annotated[float, typer.Option("--cpus", min=0.0, help="CPUs each Ray task requests")] = 1.0,
    gpus: Annotated[float, typer.Option("--gpus", min=0.0, help="GPUs each Ray task requests")] = 0.0,
    set_: SetOption = None,
    debug: DebugOption = False,
) -> None:
    """Expand a grid of overrides into runs (one run directory each, plus sweep.json for `report`);
    resumable; a failed configuration is reported and the others go on."""
    from marlspec.sweep import parse_grid, parse_seeds
    from marlspec.sweep import sweep as run_sweep

    try:
        base = load_spec(spec, set_ or [])
        parsed_grid = parse_grid(grid)
        seed_list = parse_seeds(seeds) if seeds is not None else None
        folder = out or Path(base.log.out_dir) / f"{base.name}-sweep"
        configs = run_sweep(spec, parsed_grid, seed_list, folder, set_ or [], ray, cpus, gpus, echo=typer.echo)
    except SpecError as err:
        if debug:
            raise
        _die(str(err))
    counts = {s: sum(c.status == s for c in configs) for s in ("completed", "failed", "invalid")}
    typer.echo(f"sweep: {folder}/sweep.json: {counts['completed']} completed, {counts['failed']} failed, "
               f"{counts['invalid']} invalid of {len(configs)}; `marlspec report {folder}` for the statistics")
    if counts["failed"] or counts["invalid"]:
        raise typer.Exit(1)


@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(help="Run directories, sweep folders, marl-eval JSON files, or globs of them")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md, report.json and figures/")] = Path("report"),
    bounds: Annotated[list[str] | None, typer.Option("--bounds", help="Normalisation bounds env/task=LOW:HIGH (repeatable; default: the task's min and max)")] = None,
    reps: Annotated[int, typer.Option("--reps", min=100, help="Bootstrap samples per interval")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap")] = 0,
    debug: DebugOption = False,
) -> None:
    """IQM with stratified-bootstrap CIs, probability of improvement, performance profiles and
    sample-efficiency curves over many runs (rliable), as markdown, PNG figures and JSON."""
    from marlspec.io.report import ReportError, parse_bounds, write

    try:
        result = write(runs, out, parse_bounds(bounds or []), reps=reps, seed=seed)
    except ReportError as err:
        if debug:
            raise
        _die(str(err))
    n = sum(len(a["seeds"]) for t in result["tasks"].values() for a in t["algorithms"].values())
    typer.echo(f"report: {out}/report.md ({len(result['tasks'])} tasks, {n} runs; every number in {out}/report.json)")


@app.command()
def schema(plugin: PluginOption = None, debug: DebugOption = False) -> None:
    """Print the JSON schema of experiment specs (for editor completion)."""
    _plugins(plugin)
    with _failures(debug):
        typer.echo(json.dumps(ExperimentSpec.model_json_schema(), indent=2))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
