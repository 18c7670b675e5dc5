"""Shared pieces of the spec layer. Nothing here imports JAX."""

from __future__ import annotations

import math
from typing import Annotated, Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite float32: every float in a spec ends up in a float32 array."""
INT32_MAX = 2**31 - 1
"""Step counters, budgets and sizes are int32 inside compiled programs."""

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
"""A whole number >= 1 (layer widths, counts), with no coercion from text, floats or booleans."""


class Spec(BaseModel):
    """Base of every spec model: unknown keys are errors, instances are frozen,
    and the docstring under each field becomes its description (and so appears
    in `marlspec schema` for editor completion).

    Validation is strict, so that a typo cannot change a value's meaning: `true` is not
    the number 1, `'4'` is not the number 4, and `4.0` is not the whole number 4 (an
    integer is still accepted where a float is asked for). Floats must be finite, and
    every number must fit the 32-bit type that the compiled program stores it in; a
    value that does not becomes a one-line error naming the field."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
        strict=True,
        allow_inf_nan=False,
    )

    @property
    def changed_fields(self) -> frozenset[str]:
        """Fields given a value other than their default. A check that a field is not set where it
        is not read uses this, not `model_fields_set`: a run's spec.yaml writes every default,
        and must load again (`marlspec eval`, `run --resume`)."""
        fields = type(self).model_fields
        return frozenset(f for f in self.model_fields_set if getattr(self, f) != fields[f].get_default(call_default_factory=True))

    @model_validator(mode="after")
    def _representable(self) -> Spec:
        for name in type(self).model_fields:
            problem = _unrepresentable(getattr(self, name))
            if problem is not None:
                raise PydanticCustomError(
                    "marlspec_field", "{message}", {"field": name, "message": problem[0], "got": problem[1]}
                )
        return self


def _unrepresentable(value: Any) -> tuple[str, Any] | None:
    """Why `value` (a number, or a list/tuple of them) cannot be stored in int32/float32, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not -INT32_MAX - 1 <= value <= INT32_MAX:
        return f"must fit a 32-bit integer (|x| < 2^31 = {INT32_MAX + 1:,}); choose a smaller value", value
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= FLOAT32_MAX):
        return f"must be a finite number within float32's range (|x| <= {FLOAT32_MAX:.4g})", value
    if isinstance(value, list | tuple):
        for item in value:
            problem = _unrepresentable(item)
            if problem is not None:
                return problem
    return None


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
