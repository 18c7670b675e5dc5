"""Shared pieces of the spec layer. Nothing here imports JAX."""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class Spec(BaseModel):
    """Base of every spec model: unknown keys are errors, instances are frozen,
    and the docstring under each field becomes its description (and so appears
    in `marlspec schema` for editor completion)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )


def fail(path: str, message: str, got: Any = None) -> NoReturn:
    """Raise a cross-field validation error that names the dotted `path` it is about.

    Pydantic cannot attach a location to errors raised in model validators, so the
    path travels in the error context and `marlspec.spec.loading` puts it in front.
    """
    raise PydanticCustomError(
        "marlspec_check",
        "{message}",
        {"message": message, "path": path, "got": got},
    )
