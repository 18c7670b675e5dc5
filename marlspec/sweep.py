"""`marlspec sweep`: a grid of spec overrides expanded into runs, each with its own run directory
and resolved spec, plus an index (`sweep.json`) that `marlspec report` reads.

Locally the configurations run one after another in this process, the seeds of each vmapped in
one compiled program as `marlspec run` does. With Ray (`pip install -e ".[ray]"`, `--ray auto` or
`--ray ADDRESS`) each configuration is one Ray task with its CPU/GPU request; the run directories
are written by the workers, so on a multi-node cluster `--out` must be on a filesystem that every
node shares. Either way the sweep is resumable (a configuration whose run directory says
`completed` is skipped), and a configuration that fails is recorded with its error while the
others go on.
"""

from __future__ import annotations

import itertools
import json
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from marlspec.spec import ExperimentSpec, SpecError, dump_spec, load_spec, parse_spec

INDEX = "sweep.json"


@dataclass
class Config:
    """One point of the grid."""

    label: str
    """The name `report` groups by: the algorithm kind and the grid values, e.g. `mappo[clip_eps=0.1]`."""
    run_dir: str
    """Relative to the sweep folder."""
    overrides: list[str]
    status: str = "pending"
    error: str | None = None
    spec: ExperimentSpec | None = field(default=None, repr=False)


def parse_seeds(text: str) -> list[int]:
    """`0..9` (inclusive), `0,1,2`, or a YAML list `[0, 1, 2]`."""
    text = text.strip()
    m = re.fullmatch(r"(-?\d+)\s*\.\.\s*(-?\d+)", text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if hi < lo:
            raise SpecError(f"--seeds {text!r}: the range is empty; write LOW..HIGH with LOW <= HIGH, e.g. 0..9")
        return list(range(lo, hi + 1))
    try:
        value = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
    except yaml.YAMLError:
        value = None
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise SpecError(f"--seeds {text!r}: expected a range like 0..9 or a list like 0,1,2")
    return value


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """`dotted.path=[v1, v2, ...]` items (values parsed as YAML) -> {path: values}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        try:
            values = yaml.safe_load(raw) if sep else None
        except yaml.YAMLError:
            values = None
        if not sep or not path.strip() or not isinstance(values, list) or not values:
            raise SpecError(f"--grid {item!r}: expected dotted.path=[value, ...], e.g. --grid algorithm.clip_eps=[0.1,0.2]")
        if path.strip() in grid:
            raise SpecError(f"--grid {item!r}: {path.strip()} is already swept; give each path once")
        grid[path.strip()] = values
    return grid


def _value(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def expand(spec_path: str | Path, grid: dict[str, list[Any]], seeds: list[int] | None,
           overrides: Sequence[str] = ()) -> list[Config]:
    """Every combination of `grid`, validated now: a combination the spec rejects is kept with
    status `invalid` and its one-line reason (it never runs), so one bad corner of a grid does
    not stop the rest."""
    names = {p: p.rsplit(".", 1)[-1] for p in grid}
    if len(set(names.values())) < len(names):  # two paths end in the same key: label with full paths
        names = {p: p for p in grid}
    configs = []
    for i, combo in enumerate(itertools.product(*grid.values())):
        chosen = dict(zip(grid, combo, strict=True))
        sets = [*overrides, *(f"{p}={_value(v)}" for p, v in chosen.items())]
        if seeds is not None:
            sets.append(f"train.seeds={_value(seeds)}")
        shown = ",".join(f"{names[p]}={_value(v)}" for p, v in chosen.items() if p != "algorithm.kind")
        try:
            spec: ExperimentSpec | None = load_spec(spec_path, sets)
            kind = spec.algorithm.kind
            status, error = "pending", None
        except SpecError as err:
            spec, kind, status, error = None, str(chosen.get("algorithm.kind", "invalid")), "invalid", str(err)
        label = kind + (f"[{shown}]" if shown else "")
        run_dir = f"c{i:03d}_" + re.sub(r"[^A-Za-z0-9_.=,-]+", "_", label.replace("[", "_").replace("]", ""))
        configs.append(Config(label, run_dir, sets, status, error, spec))
    return configs


def _done(folder: Path, config: Config) -> bool:
    summary = folder / config.run_dir / "summary.json"
    return summary.exists() and json.loads(summary.read_text()).get("status") == "completed"


def _write_index(folder: Path, spec_path: str | Path, grid: dict[str, list[Any]], seeds: list[int] | None,
                 engine: str, configs: list[Config]) -> None:
    from marlspec.io.rundir import write_json

    write_json(folder / INDEX, {
        "spec": str(spec_path), "grid": grid, "seeds": seeds, "engine": engine,
        "configs": [{"label": c.label, "run_dir": c.run_dir, "overrides": c.overrides, "status": c.status,
                     **({"error": c.error} if c.error else {})} for c in configs],
    })


def run_config(spec_yaml: str, run_dir: str, label: str, overrides: list[str]) -> dict[str, Any]:
    """Train one configuration (in this process or a Ray worker) and return its summary. The
    summary records the sweep label as its `tag`, which `report` groups by."""
    from marlspec.train.runner import enable_compilation_cache, run

    enable_compilation_cache()
    spec = parse_spec(spec_yaml, f"<sweep {label}>")
    run(spec, run_dir, progress=False)
    path = Path(run_dir) / "summary.json"
    summary = json.loads(path.read_text())
    summary["tag"], summary["overrides"] = label, overrides
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _failure(err: BaseException) -> str:
    lines = traceback.format_exception_only(type(err), err)
    return " ".join(line.strip() for line in lines[-1:]) or type(err).__name__


def sweep(spec_path: str | Path, grid: dict[str, list[Any]], seeds: list[int] | None, out: str | Path,
          overrides: Sequence[str] = (), ray_address: str | None = None, cpus: float = 1.0, gpus: float = 0.0,
          echo: Callable[[str], None] = print) -> list[Config]:
    """Run every configuration not already completed in `out`; return them all with their status."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    configs = expand(spec_path, grid, seeds, overrides)
    engine = "local" if ray_address is None else "ray"
    todo = []
    for c in configs:
        if c.status == "invalid":
            echo(f"invalid  {c.label}: {c.error}")
        elif _done(folder, c):
            c.status = "completed"
            echo(f"skip     {c.label}: already completed ({folder / c.run_dir})")
        else:
            todo.append(c)
    _write_index(folder, spec_path, grid, seeds, engine, configs)

    def finished(c: Config, summary: dict[str, Any] | None, err: BaseException | None) -> None:
        if err is None and summary is not None:
            c.status = "completed"
            echo(f"done     {c.label}: final return {summary['final_return']:.4g} ({folder / c.run_dir})")
        else:
            c.status, c.error = "failed", _failure(err) if err is not None else "no summary"
            echo(f"failed   {c.label}: {c.error}")
        _write_index(folder, spec_path, grid, seeds, engine, configs)

    if ray_address is None:
        for c in todo:
            assert c.spec is not None
            c.status = "running"
            try:
                summary = run_config(dump_spec(c.spec), str(folder / c.run_dir), c.label, c.overrides)
            except Exception as err:  # noqa: BLE001 - a failed configuration must not stop the others
                finished(c, None, err)
            else:
                finished(c, summary, None)
    else:
        _sweep_ray(folder, todo, ray_address, cpus, gpus, finished)
    return configs


def _sweep_ray(folder: Path, todo: list[Config], address: str, cpus: float, gpus: float,
               finished: Callable[[Config, dict[str, Any] | None, BaseException | None], None]) -> None:
    """One Ray task per configuration, `cpus`/`gpus` each; results are collected as they finish."""
    try:
        import ray
    except ImportError:
        raise SpecError('--ray needs Ray, which is not installed: pip install -e ".[ray]"') from None
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_config)
    pending = {}
    for c in todo:
        assert c.spec is not None
        c.status = "running"
        ref = remote.options(name=f"marlspec-sweep:{c.label}").remote(
            dump_spec(c.spec), str((folder / c.run_dir).resolve()), c.label, c.overrides)
        pending[ref] = c
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            c = pending.pop(ref)
            try:
                summary = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - RayTaskError wraps the worker's exception
                finished(c, None, getattr(err, "cause", None) or err)
            else:
                finished(c, summary, None)


__all__ = ["INDEX", "Config", "expand", "parse_grid", "parse_seeds", "run_config", "sweep"]
