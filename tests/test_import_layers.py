"""Layers import one way (issue 19): spec (no JAX) -> compile -> experiment -> runner -> io,
with the algorithms on environments' protocol types, `nn` and `primitives`.

As an import rule: every module of `marlspec` belongs to a layer with a rank, and may import
(at module level or inside a function: a lazy import hides a backward dependency, it does not
remove it) only modules of its own layer or of a lower rank. Imports under
`if TYPE_CHECKING:` are for annotations only and are not counted. The walk reads the source with
`ast`; nothing is imported.

The backward imports that exist today are listed in ALLOWED, each with the reason it is still
there; the test fails on any backward import that is not listed (a new one), and on a listed
one that is gone (so the list only shrinks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "marlspec"

LAYERS: list[tuple[int, tuple[str, ...]]] = [
    # (rank, module prefixes); the longest matching prefix decides
    (0, ("marlspec.spec",)),  # pydantic only, no JAX
    (0, ("marlspec.presets", "marlspec.importing")),  # plain data and import-path helpers: no JAX, no spec
    (1, ("marlspec.primitives", "marlspec.nn", "marlspec.envs.base")),  # pure functions, modules, the env protocol
    (2, ("marlspec.envs",)),  # concrete environments and their adapters
    (2, ("marlspec.io",)),  # run directories and plots: files, no learner internals
    (3, ("marlspec.algorithms",)),  # compositions of rank <= 1 (envs only through the protocol)
    (4, ("marlspec.train.replay", "marlspec.train.experiment", "marlspec.train.rollout", "marlspec.train.host",
         "marlspec.train.sharding", "marlspec.train.guard", "marlspec.train")),  # the experiment layer
    (5, ("marlspec.compile",)),  # spec -> experiment
    (6, ("marlspec.train.runner", "marlspec.sweep", "marlspec.distributed")),  # the host loop
    (7, ("marlspec.cli", "marlspec.__main__", "marlspec.plugins", "marlspec")),  # entry points
]

NEUTRAL = ("marlspec.presets", "marlspec.importing")
"""Below every layer: plain data (environment presets) and import-path helpers that the spec
layer validates with and the environments build from; they import no other marlspec module."""

ALGORITHMS_MAY_IMPORT = ("marlspec.algorithms", "marlspec.envs.base", "marlspec.nn", "marlspec.primitives")
"""Beyond the rank rule: algorithms see environments only through the protocol (`envs.base`)."""

SHARED_ALGORITHM_MODULES = ("marlspec.algorithms.base", "marlspec.algorithms.onpolicy", "marlspec.algorithms.off_policy",
                            "marlspec.algorithms.replay", "marlspec.algorithms.joint_policy")
"""What one algorithm may take from the others: the shared modules, not another algorithm's file
(MAGPO reads the joint policy from `joint_policy`, not from `mat`)."""

NO_SPEC = ("marlspec.primitives", "marlspec.nn", "marlspec.envs", "marlspec.algorithms", "marlspec.train.experiment",
           "marlspec.train.rollout", "marlspec.train.host", "marlspec.train.sharding", "marlspec.train.guard",
           "marlspec.train.replay")
"""Implementations never see a spec: `compile` is the one module where spec classes meet them
and hands them plain values (the issue: "presets are data that compile hands to the environments")."""

ALLOWED: dict[tuple[str, str], str] = {
    # (importer, imported): why it is still there. Fix one, delete its line (the test insists).
    ("marlspec.algorithms.happo", "marlspec.algorithms.ppo"): "HAPPO uses MAPPO's actor and critic inputs",
    ("marlspec.algorithms.agentmixer", "marlspec.algorithms.ppo"): "AgentMixer builds on MAPPO's actors and critic",
}


def rank(module: str) -> int:
    best = max(((len(p), r) for r, prefixes in LAYERS for p in prefixes if module == p or module.startswith(p + ".")),
               default=None)
    assert best is not None, f"{module} is in no layer; add it to LAYERS"
    return best[1]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(tree: ast.AST, importer: str, is_package: bool, package: Path = PACKAGE) -> set[str]:
    """Every `marlspec` module `tree` imports, outside `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "marlspec")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = importer.split(".")[: len(importer.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*parent, *([base] if base else [])])
            if base.split(".")[0] == "marlspec":
                for alias in node.names:  # `from marlspec.spec import registry` imports a module
                    sub = f"{base}.{alias.name}"
                    where = package.parent / Path(*sub.split("."))
                    is_module = where.with_suffix(".py").exists() or where.is_dir()
                    found.add(sub if is_module else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def backward_imports(package: Path = PACKAGE) -> dict[tuple[str, str], str]:
    """(importer, imported) -> why it is backward, for every import that breaks the layering."""
    bad: dict[tuple[str, str], str] = {}
    for path in sorted(package.rglob("*.py")):
        importer = module_name(path, package)
        tree = ast.parse(path.read_text(), str(path))
        for imported in imports(tree, importer, path.name == "__init__.py", package):
            if imported == "marlspec":
                continue  # the package root holds only the version and the lazy register_algorithm
            if rank(imported) > rank(importer):
                bad[(importer, imported)] = f"rank {rank(importer)} imports rank {rank(imported)}"
            elif importer.startswith("marlspec.algorithms.") and not imported.startswith(ALGORITHMS_MAY_IMPORT):
                bad[(importer, imported)] = "an algorithm imports more than the env protocol, nn and primitives"
            elif (importer.startswith("marlspec.algorithms.") and imported.startswith("marlspec.algorithms.")
                  and imported not in SHARED_ALGORITHM_MODULES and importer != imported):
                bad[(importer, imported)] = "an algorithm imports another algorithm (share through the shared modules)"
            elif importer.startswith(NEUTRAL) and not imported.startswith(NEUTRAL):
                bad[(importer, imported)] = "a neutral module (presets, import helpers) imports a layer"
            elif importer.startswith(NO_SPEC) and imported.startswith("marlspec.spec"):
                bad[(importer, imported)] = "an implementation imports the spec layer (only compile may)"
    return bad


def test_no_new_backward_import() -> None:
    new = {k: v for k, v in backward_imports().items() if k not in ALLOWED}
    assert not new, "backward imports (import the other way, or move the shared type down): " + "; ".join(
        f"{a} -> {b} ({why})" for (a, b), why in sorted(new.items()))


def test_allow_list_only_shrinks() -> None:
    gone = sorted(set(ALLOWED) - set(backward_imports()))
    assert not gone, f"these backward imports are fixed: remove them from ALLOWED: {gone}"


def test_spec_layer_imports_no_jax() -> None:
    neutral = [PACKAGE / f"{m.split('.')[-1]}.py" for m in NEUTRAL]
    for path in [*sorted((PACKAGE / "spec").rglob("*.py")), *neutral]:
        top = {a.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Import) for a in node.names}
        top |= {(node.module or "").split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and not node.level}
        assert not top & {"jax", "equinox", "optax", "numpy", "flashbax"}, path


@pytest.mark.parametrize(("importer", "source", "imported"), [
    ("marlspec.spec.experiment", "from marlspec.compile import ALGORITHMS\n", "marlspec.compile"),
    ("marlspec.algorithms.ppo", "def f():\n    from marlspec.train.runner import run\n", "marlspec.train.runner"),
    ("marlspec.algorithms.ppo", "import marlspec.envs.smax\n", "marlspec.envs.smax"),
    ("marlspec.io.plots", "from ..algorithms import base\n", "marlspec.algorithms.base"),
    ("marlspec.algorithms.fop", "from marlspec.train.replay import Episodes\n", "marlspec.train.replay"),
    ("marlspec.algorithms.magpo", "from marlspec.algorithms.mat import MAT\n", "marlspec.algorithms.mat"),
    ("marlspec.nn.torso", "from marlspec.spec.networks import MLPSpec\n", "marlspec.spec.networks"),
    ("marlspec.presets", "from marlspec.spec.envs import SMAXSpec\n", "marlspec.spec.envs"),
    ("marlspec.envs.smax", "from marlspec.spec.envs import SMAXSpec\n", "marlspec.spec.envs"),
])
def test_a_backward_import_is_caught(tmp_path: Path, importer: str, source: str, imported: str) -> None:
    """The check itself: a copy of the package with one backward import added fails it."""
    import shutil

    copy = tmp_path / "marlspec"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / Path(*importer.split(".")[1:]).with_suffix(".py")
    target.write_text(target.read_text() + "\n" + source)
    found = backward_imports(copy)
    assert (importer, imported) in found and (importer, imported) not in ALLOWED
