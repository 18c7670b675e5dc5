"""Run directories and plots."""

from marlspec.io.plots import bootstrap_ci, learning_curve
from marlspec.io.rundir import RunDir

__all__ = ["RunDir", "bootstrap_ci", "learning_curve"]
