"""Environments: one functional protocol (`Env`, `TimeStep`, `EnvInfo`), built-in
JAX-native environments, adapters over other libraries (JaxMARL's SMAX, MPE and
MABrax; Jumanji's LBF, RWARE and Connector), and a host-side twin of the protocol for
environments that are not JAX (PettingZoo). The adapters import their library only
when they are built."""

from marlspec.envs.base import Env, EnvInfo, TimeStep, random_actions
from marlspec.envs.coordsum import CoordSum
from marlspec.envs.host import HostAutoReset, HostEnv, HostTimeStep, JaxOnHost
from marlspec.envs.jumanji_envs import LBF, RWARE, Connector
from marlspec.envs.mabrax import MABrax
from marlspec.envs.matrix import CLIMBING, NONMONOTONIC, MatrixGame, penalty
from marlspec.envs.mpe import MPE
from marlspec.envs.pettingzoo import PettingZooEnv
from marlspec.envs.predator_prey import PredatorPrey
from marlspec.envs.smax import SMAX
from marlspec.envs.wrappers import AgentIDs, AutoReset, AutoResetState, CheckActions, EpisodeStats

__all__ = [
    "CLIMBING",
    "LBF",
    "MPE",
    "NONMONOTONIC",
    "RWARE",
    "SMAX",
    "AgentIDs",
    "AutoReset",
    "AutoResetState",
    "CheckActions",
    "Connector",
    "CoordSum",
    "Env",
    "EnvInfo",
    "EpisodeStats",
    "HostAutoReset",
    "HostEnv",
    "HostTimeStep",
    "JaxOnHost",
    "MABrax",
    "MatrixGame",
    "PettingZooEnv",
    "PredatorPrey",
    "TimeStep",
    "penalty",
    "random_actions",
]
