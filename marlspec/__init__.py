"""marlspec: cooperative multi-agent RL on JAX and Equinox.

spec (pydantic) --compile--> Experiment (equinox, pure) --run--> run directory
"""

__version__ = "0.1.0"


def register_algorithm(spec_cls, builder):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """Register an algorithm defined outside the package: its spec class and its builder
    (`marlspec.plugins.register_algorithm`, imported here lazily so that `import marlspec`
    stays light). See docs/writing-an-algorithm.md."""
    from marlspec.plugins import register_algorithm as register

    return register(spec_cls, builder)
