"""Shape-typed, pure functions over one unbatched stream: the library API for
composing multi-agent factorizations. Each docstring cites its equation."""

from marlspec.primitives import factorization, gpo, igc, mi, mixers, objectives, returns

__all__ = ["factorization", "gpo", "igc", "mi", "mixers", "objectives", "returns"]
