"""Algorithms from outside the package: `register_algorithm(spec_cls, builder)`.

One call registers both halves of an algorithm kind: its spec class (validation, `--set`,
`list`, `schema`: `marlspec.spec.registry`, no JAX) and its builder (`marlspec.compile.ALGORITHMS`,
which `compile` looks the kind up in). A plugin is a module that makes this call when it is
imported; a spec names it in its `plugins:` list (or it is installed with a `marlspec.algorithms`
entry point), so `validate`, `run`, `eval` and `run --resume` import it before reading the spec.
See docs/writing-an-algorithm.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from marlspec.spec.base import Spec
from marlspec.spec.registry import BUILT_IN, add_algorithm_spec, remove_algorithm_spec

if TYPE_CHECKING:
    from marlspec.algorithms.base import Algorithm
    from marlspec.envs.base import EnvInfo
    from marlspec.nn import TorsoFactory
    from marlspec.spec.experiment import ExperimentSpec

    Builder = Callable[[ExperimentSpec, EnvInfo, TorsoFactory], Algorithm]
else:
    Builder = Callable[..., Any]

S = TypeVar("S", bound=type[Spec])


def register_algorithm(spec_cls: type[Spec], builder: Builder) -> str:
    """Register an algorithm kind: `spec_cls` is a `Spec` subclass with its own
    `kind: Literal['name'] = 'name'` field (usually derived from `OffPolicySpec` or
    `PPOFamilySpec`), `builder(spec, env_info, make_torso) -> Algorithm` builds it from a
    validated `ExperimentSpec`. Registering the same pair again does nothing; another class
    or builder for a kind that exists is an error. Returns the kind."""
    if not callable(builder):
        raise TypeError(f"the builder of {getattr(spec_cls, '__qualname__', spec_cls)!r} must be callable"
                        " (spec, env_info, make_torso) -> Algorithm")
    from marlspec.compile import ALGORITHMS

    kind = add_algorithm_spec(spec_cls)  # checks the class and the kind first
    known = ALGORITHMS.get(kind)
    if known is not None and known is not builder:
        where = "built in" if kind in BUILT_IN else f"built by {known.__module__}.{known.__qualname__}"
        raise ValueError(f"algorithm kind '{kind}' is already {where}; give the new algorithm another kind")
    ALGORITHMS[kind] = builder
    return kind


def algorithm(spec_cls: S) -> Callable[[Builder], Builder]:
    """Decorator form: `@algorithm(MySpec)` over the builder function registers both."""

    def wrap(builder: Builder) -> Builder:
        register_algorithm(spec_cls, builder)
        return builder

    return wrap


def unregister_algorithm(kind: str) -> None:
    """Remove a registered plugin kind (both halves); built-in kinds stay. For tests."""
    from marlspec.compile import ALGORITHMS

    remove_algorithm_spec(kind)
    ALGORITHMS.pop(kind, None)
