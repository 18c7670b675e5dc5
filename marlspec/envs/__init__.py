"""Environments: one functional protocol (`Env`, `TimeStep`, `EnvInfo`), built-in
JAX-native environments, and adapters over other libraries."""

from marlspec.envs.base import Env, EnvInfo, TimeStep, random_actions
from marlspec.envs.coordsum import CoordSum
from marlspec.envs.matrix import CLIMBING, NONMONOTONIC, MatrixGame, penalty
from marlspec.envs.mpe import MPE
from marlspec.envs.wrappers import AutoReset, AutoResetState, EpisodeStats

__all__ = [
    "CLIMBING",
    "MPE",
    "NONMONOTONIC",
    "AutoReset",
    "AutoResetState",
    "CoordSum",
    "Env",
    "EnvInfo",
    "EpisodeStats",
    "MatrixGame",
    "TimeStep",
    "penalty",
    "random_actions",
]
