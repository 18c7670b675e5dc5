"""marlspec: cooperative multi-agent RL on JAX and Equinox.

spec (pydantic) --compile--> Experiment (equinox, pure) --run--> run directory
"""

__version__ = "0.1.0"

from marlspec._xla import avoid_eigen_deadlock

# Must run before JAX creates its CPU backend; importing marlspec first is enough. It keeps
# XLA's CPU Eigen pool single-threaded, which avoids a rare deadlock (marlspec/_xla.py).
# MARLSPEC_EIGEN_THREADS=multi opts out.
avoid_eigen_deadlock()
