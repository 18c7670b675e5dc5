"""Quiet imports of the optional environment libraries, with one-line install hints."""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any


def jaxmarl() -> Any:
    """`import jaxmarl` without its start-up prints and deprecation warnings."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jaxmarl as module
    return module


def require_brax() -> None:
    """Raise a one-line ImportError naming the extra to install when brax is missing."""
    try:
        import brax  # noqa: F401
    except ImportError:
        raise ImportError("mabrax needs brax, which is not installed: pip install marlspec[mabrax]") from None


def library_code() -> Any:
    """Context for calling a library's JAX code: it is not written for marlspec's strict
    `jax_numpy_rank_promotion="raise"` test setting, so allow rank promotion inside."""
    import jax

    return jax.numpy_rank_promotion("allow")
