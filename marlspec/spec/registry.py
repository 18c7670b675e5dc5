"""The spec half of the algorithm registry: which spec class validates each `algorithm.kind`.

`ExperimentSpec.algorithm` is a pydantic union discriminated by `kind`. Its members start as
the built-in `AlgorithmSpec` union; `marlspec.register_algorithm` (`marlspec/plugins.py`) adds a
plugin's spec class here, together with its builder in `marlspec.compile.ALGORITHMS` (the
builder half, which imports JAX), and this module rebuilds the union. An extended spec is then
validated by the same `ExperimentSpec`, so it keeps one-line errors with line numbers, `--set`,
`marlspec validate`, `list` and `schema`.

Plugin modules are imported by `import_plugins`, which `marlspec.spec.loading` calls for the
spec's `plugins:` list before validating it, and `load_entry_points` imports the installed
plugins of the `marlspec.algorithms` entry-point group. Nothing here imports JAX itself; a
plugin module usually does (it defines an algorithm).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import typing
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from marlspec.spec.algorithms import AlgorithmSpec
from marlspec.spec.base import Spec

ENTRY_POINT_GROUP = "marlspec.algorithms"
"""Installed plugins name a module (or a callable) in this entry-point group; loading it registers."""


def _kind_of(cls: type[Spec]) -> str:
    field = cls.model_fields.get("kind")
    kind = field.default if field is not None else None
    if not isinstance(kind, str) or typing.get_origin(field.annotation) is not typing.Literal:  # type: ignore[union-attr]
        raise TypeError(f"{cls.__name__} needs a field `kind: Literal['name'] = 'name'` (the algorithm's kind)")
    return kind


BUILT_IN: dict[str, type[Spec]] = {
    _kind_of(cls): cls for cls in typing.get_args(typing.get_args(AlgorithmSpec)[0])
}
"""The algorithm kinds that ship with marlspec."""

ALGORITHM_SPECS: dict[str, type[Spec]] = dict(BUILT_IN)
"""Every algorithm kind that validates now (built-in and registered), to its spec class."""


def algorithm_union() -> Any:
    """The discriminated union of every registered algorithm spec class."""
    return Annotated[typing.Union[tuple(ALGORITHM_SPECS.values())], Field(discriminator="kind")]  # noqa: UP007


def add_algorithm_spec(cls: type[Spec]) -> str:
    """Add a plugin's algorithm spec class (idempotent for the same class) and rebuild
    `ExperimentSpec`; returns its kind. Raises TypeError / ValueError with one line."""
    if not (isinstance(cls, type) and issubclass(cls, Spec)):
        raise TypeError(f"{cls!r} is not a marlspec.spec.Spec subclass; derive the algorithm's spec from Spec"
                        " (or from OffPolicySpec / PPOFamilySpec)")
    kind = _kind_of(cls)
    known = ALGORITHM_SPECS.get(kind)
    if known is cls:
        return kind
    if known is not None:
        where = "built in" if kind in BUILT_IN else f"registered by {known.__module__}.{known.__qualname__}"
        raise ValueError(f"algorithm kind '{kind}' is already {where}; give {cls.__qualname__} another kind")
    if not hasattr(cls, "supports_continuous"):
        raise TypeError(f"{cls.__qualname__} needs `supports_continuous: ClassVar[bool]` (OffPolicySpec and"
                        " PPOFamilySpec set it)")
    ALGORITHM_SPECS[kind] = cls
    _rebuild()
    return kind


def remove_algorithm_spec(kind: str) -> None:
    """Forget a registered (not a built-in) kind; for tests."""
    if kind in BUILT_IN:
        raise ValueError(f"algorithm kind '{kind}' is built in and cannot be removed")
    if ALGORITHM_SPECS.pop(kind, None) is not None:
        _rebuild()


def _rebuild() -> None:
    from marlspec.spec.experiment import ExperimentSpec

    ExperimentSpec.model_fields["algorithm"].annotation = algorithm_union()
    ExperimentSpec.model_rebuild(force=True)


def import_plugins(names: Sequence[str]) -> None:
    """Import each plugin module by name (the current directory is searched first, as with
    `python -m`). Raises ValueError naming the first module that fails, in one line."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name is not None and name.startswith(err.name):
                    raise ValueError(f"no module named '{name}' (looked in the current directory {cwd} and the"
                                     " installed packages); run from the folder that holds it, or pip install it") from None
                raise ValueError(f"importing plugin '{name}' failed: ModuleNotFoundError: {err}") from None
            except Exception as err:  # noqa: BLE001 - any failure of a user's module is one line
                raise ValueError(f"importing plugin '{name}' failed: {type(err).__name__}: {err}") from None
    finally:
        if added:
            sys.path.remove(cwd)


_ENTRY_POINTS_LOADED = False


def load_entry_points() -> None:
    """Import every installed plugin of the `marlspec.algorithms` entry-point group, once.
    An entry point names a module (importing it registers) or a callable (called with no
    arguments). Raises ValueError naming the entry point that fails."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if callable(loaded):
                loaded()
        except Exception as err:  # noqa: BLE001 - one line naming the installed plugin
            raise ValueError(f"the installed plugin '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP} entry point)"
                             f" failed: {type(err).__name__}: {err}") from None
