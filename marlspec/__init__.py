"""marlspec: cooperative multi-agent RL on JAX and Equinox.

spec (pydantic) --compile--> Experiment (equinox, pure) --run--> run directory
"""

__version__ = "0.1.0"
