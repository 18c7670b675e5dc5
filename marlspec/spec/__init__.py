"""Typed experiment specs (Pydantic v2). This package never imports JAX."""

from marlspec.spec.algorithms import AlgorithmSpec, IPPOSpec, MAPPOSpec, PPOFamilySpec
from marlspec.spec.base import Spec
from marlspec.spec.envs import COORDSUM_TASKS, CoordSumSpec, EnvSpec, MatrixGameSpec, MPESpec
from marlspec.spec.experiment import EvalSpec, ExperimentSpec, LogSpec, TrainSpec
from marlspec.spec.loading import SpecError, dump_spec, load_spec, parse_spec
from marlspec.spec.networks import GRUSpec, MLPSpec, NetworkSpec

__all__ = [
    "COORDSUM_TASKS",
    "AlgorithmSpec",
    "CoordSumSpec",
    "EnvSpec",
    "EvalSpec",
    "ExperimentSpec",
    "GRUSpec",
    "IPPOSpec",
    "LogSpec",
    "MAPPOSpec",
    "MLPSpec",
    "MPESpec",
    "MatrixGameSpec",
    "NetworkSpec",
    "PPOFamilySpec",
    "Spec",
    "SpecError",
    "TrainSpec",
    "dump_spec",
    "load_spec",
    "parse_spec",
]
