"""One experiment interface (issue 19): the runner trains every compiled experiment, JAX-native
(`Experiment`) or host-stepped (`HostExperiment`), through `AnyExperiment` alone.

Three checks: `runner.py` never asks which class an experiment is (read with `ast`); both classes
offer every member of the protocol with the protocol's parameters; and a run through a proxy that
exposes only the protocol's members gives the metrics of a run with the experiment itself (so
the runner reads nothing else)."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import marlspec.train.runner as runner
from marlspec.spec import parse_spec
from marlspec.train.experiment import AnyExperiment, Experiment
from marlspec.train.host import HostExperiment

TRAIN = Path(runner.__file__).resolve().parent


def experiment_classes() -> set[str]:
    """Every class defined in the experiment modules, and any name ending in `Experiment`."""
    names = set()
    for module in ("experiment.py", "host.py"):
        tree = ast.parse((TRAIN / module).read_text())
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    return names


def _named(node: ast.AST, classes: set[str]) -> list[str]:
    """The experiment classes a class expression (a name, `module.Name`, a tuple, `A | B`) names."""
    found = []
    for sub in ast.walk(node):
        name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else None
        if name is not None and (name in classes or name.endswith("Experiment")):
            found.append(name)
    return found


def class_dispatches(source: str, classes: set[str]) -> list[str]:
    """`line: what` for every place in `source` that branches on an experiment's class:
    `isinstance`/`issubclass` against one, `type(x) is/== C`, or a `case C():` pattern."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2):
            out += [f"{node.lineno}: {node.func.id}(..., {n})" for n in _named(node.args[1], classes)]
        elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Call)
              and isinstance(node.left.func, ast.Name) and node.left.func.id == "type"):
            out += [f"{node.lineno}: type(...) compared with {n}" for c in node.comparators for n in _named(c, classes)]
        elif isinstance(node, ast.MatchClass):
            out += [f"{node.lineno}: case {n}()" for n in _named(node.cls, classes)]
    return out


def test_the_runner_never_dispatches_on_the_experiment_class() -> None:
    source = (TRAIN / "runner.py").read_text()
    assert class_dispatches(source, experiment_classes()) == [], (
        "runner.py branches on an experiment's class; give AnyExperiment a member instead")
    imported = {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
                and node.module == "marlspec.train.host" for alias in node.names}
    assert imported == set(), f"runner.py imports {imported} from marlspec.train.host"


def test_the_dispatch_check_sees_the_forms_it_forbids() -> None:
    """The detector itself, on the dispatches the runner used to have and their variants."""
    classes = experiment_classes()
    assert {"Experiment", "HostExperiment", "AnyExperiment"} <= classes
    bad = ("if isinstance(experiment, HostExperiment):\n    pass\n"
           "ok = isinstance(e, (int, host.HostExperiment))\n"
           "ok = issubclass(type(e), Experiment | str)\n"
           "ok = type(e) is Experiment\n"
           "match e:\n    case HostExperiment():\n        pass\n")
    assert [line.split(":")[0] for line in class_dispatches(bad, classes)] == ["1", "3", "4", "5", "7"]
    fine = "ok = isinstance(tree, tuple) or isinstance(err, KeyboardInterrupt)\nt = type(e).__name__\n"
    assert class_dispatches(fine, classes) == []


def protocol_members() -> dict[str, Any]:
    """The protocol's own members: its annotated attributes, properties and methods."""
    members: dict[str, Any] = {name: "attribute" for name in AnyExperiment.__annotations__}
    members |= {name: value for name, value in vars(AnyExperiment).items()
                if not name.startswith("_") and (callable(value) or isinstance(value, property))}
    return members


@pytest.mark.parametrize("cls", [Experiment, HostExperiment])
def test_both_experiments_offer_the_whole_protocol(cls: type) -> None:
    members = protocol_members()
    assert {"init_batch", "evaluator", "chunk_program", "resumable", "steps_per_update", "devices",
            "algorithm"} <= set(members)
    for name, member in members.items():
        if member == "attribute":  # a field, a class attribute or one set in __init__
            assert (name in getattr(cls, "__dataclass_fields__", {}) or hasattr(cls, name)
                    or f"self.{name}" in inspect.getsource(cls.__init__)), f"{cls.__name__}.{name}"
            continue
        assert hasattr(cls, name), f"{cls.__name__} lacks {name}"
        if callable(member):
            want = list(inspect.signature(member).parameters)
            assert list(inspect.signature(getattr(cls, name)).parameters) == want, f"{cls.__name__}.{name}"


class OnlyTheInterface:
    """A compiled experiment seen through `AnyExperiment` alone: reading any other attribute fails."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in protocol_members():
            return getattr(self._inner, name)
        raise AttributeError(f"the runner read {name!r}, which AnyExperiment does not offer")


def test_the_runner_needs_nothing_but_the_interface(tmp_path: Path) -> None:
    """5 updates in chunks of 2 (so the padded program too): the same metrics through the proxy."""
    from marlspec.compile import compile as compile_spec
    from tests.test_resume import SPECS

    spec = parse_spec(SPECS["mappo"])
    assert (spec.train.num_updates, spec.updates_per_chunk) == (5, 2)
    experiment = compile_spec(spec)
    read = lambda d: [{k: v for k, v in json.loads(line).items() if k not in ("wall_time", "sps")}
                      for line in (d.path / "metrics.jsonl").read_text().splitlines()]
    bare = read(runner.run(spec, tmp_path / "bare", experiment=experiment))
    proxied = read(runner.run(spec, tmp_path / "proxy", experiment=OnlyTheInterface(experiment)))  # type: ignore[arg-type]
    assert [r["updates"] for r in proxied if r["seed"] == 0] == [0, 2, 4, 5]
    assert proxied == bare
