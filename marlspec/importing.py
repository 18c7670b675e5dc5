"""Resolve `module:attribute` import paths (for host environments such as PettingZoo's)
and check keyword arguments against the factory's signature, with one-line messages
that name the valid options. Nothing here imports JAX."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import pkgutil
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any


def split_path(path: str) -> tuple[str, str]:
    """`pkg.mod:attr` (or `pkg.mod.attr`) -> (`pkg.mod`, `attr`)."""
    if ":" in path:
        module, _, attr = path.partition(":")
    else:
        module, _, attr = path.rpartition(".")
    return module, attr


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_path_form(path: str) -> str | None:
    """A one-line problem with the *form* of a `module:attribute` path, or None. Imports nothing."""
    module, attr = split_path(path)
    parts = [*module.split("."), *attr.split(".")] if module and attr else []
    if not parts or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        return f"'{path}' is not an import path; write module:factory, e.g. mpe2.simple_spread_v3:parallel_env"
    return None


def _siblings(module: str) -> list[str]:
    parent, _, _ = module.rpartition(".")
    try:
        if not parent:
            return sorted(m.name for m in pkgutil.iter_modules())
        spec = importlib.util.find_spec(parent)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(f"{parent}.{m.name}" for m in pkgutil.iter_modules(spec.submodule_search_locations))


def _find_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve(path: str) -> tuple[ModuleType, Callable[..., Any]]:
    """Import `module:attribute` and return both. Raises ValueError with a one-line message."""
    module_name, attr = split_path(path)
    if not module_name or not attr:
        raise ValueError(f"'{path}' is not an import path; write module:factory, e.g. mpe2.simple_spread_v3:parallel_env")
    if not _find_module(module_name):
        close = difflib.get_close_matches(module_name, _siblings(module_name), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; is the package installed?"
        raise ValueError(f"no module named '{module_name}'{hint}")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - report any import failure in one line
        raise ValueError(f"importing '{module_name}' failed: {type(err).__name__}: {err}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        options = [n for n in public if "env" in n.lower()] or public
        raise ValueError(f"module '{module_name}' has no factory '{attr}'; choices: {', '.join(options) or '(none)'}")
    return module, factory


def parameters(module: ModuleType, factory: Callable[..., Any]) -> inspect.Signature | None:
    """The signature that the factory's keyword arguments end up in.

    PettingZoo's `parallel_env` helpers take `**kwargs` and pass them on to the module's
    `raw_env` class, so when the factory itself takes only `**kwargs`, the signature of
    `raw_env` (or `env`) is checked instead.
    """
    for candidate in (factory, getattr(module, "raw_env", None), getattr(module, "env", None)):
        if candidate is None:
            continue
        try:
            sig = inspect.signature(candidate)
        except (TypeError, ValueError):
            continue
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
            return sig
    return None


def check_kwargs(module: ModuleType, factory: Callable[..., Any], kwargs: dict[str, Any]) -> str | None:
    """A one-line problem with `kwargs`, or None when they fit (or cannot be checked)."""
    sig = parameters(module, factory)
    if sig is None:
        return None
    names = [n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    bad = [k for k in kwargs if k not in names]
    if bad:
        close = difflib.get_close_matches(bad[0], names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown argument '{bad[0]}'; {hint}valid: {', '.join(names)}"
    return None


def check_factory(path: str, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """(spec path, one-line message) for a bad import path or bad kwargs, else None."""
    try:
        module, factory = resolve(path)
    except ValueError as err:
        return "env.env", str(err)
    problem = check_kwargs(module, factory, kwargs)
    if problem is not None:
        return "env.kwargs", problem
    return None


def default_of(module: ModuleType, factory: Callable[..., Any], name: str) -> Any:
    """The default of argument `name` in the factory's (or `raw_env`'s) signature, or None."""
    sig = parameters(module, factory)
    if sig is None or name not in sig.parameters:
        return None
    default = sig.parameters[name].default
    return None if default is inspect.Parameter.empty else default
