"""spec -> Experiment. The only module where spec classes meet implementations,
through registries keyed by each component's `kind`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marlspec.algorithms.base import Algorithm
from marlspec.algorithms.ppo import PPO, PPOConfig
from marlspec.envs.base import Env, EnvInfo
from marlspec.envs.coordsum import CoordSum
from marlspec.envs.matrix import CLIMBING, NONMONOTONIC, MatrixGame, penalty
from marlspec.envs.mpe import MPE
from marlspec.nn import TorsoFactory
from marlspec.spec import ExperimentSpec
from marlspec.spec.envs import CoordSumSpec, MatrixGameSpec, MPESpec
from marlspec.spec.networks import GRUSpec, MLPSpec
from marlspec.train.experiment import Experiment


def _matrix(spec: MatrixGameSpec) -> Env:
    tables: dict[str, Any] = {"climbing": CLIMBING, "nonmonotonic": NONMONOTONIC, "penalty": penalty(spec.k), "custom": spec.payoff}
    return MatrixGame(tables[spec.game], spec.episode_length, name=spec.label)


def _coordsum(spec: CoordSumSpec) -> Env:
    n, a, t = spec.resolved
    return CoordSum(n, a, t, spec.time_limit, spec.reference_quirk)


def _mpe(spec: MPESpec) -> Env:
    return MPE(spec.scenario, spec.max_steps)


ENVS: dict[str, Callable[[Any], Env]] = {"matrix": _matrix, "coordsum": _coordsum, "mpe": _mpe}
"""Environment builders by spec `kind`."""


def _ppo(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    a = spec.algorithm
    config = PPOConfig(
        gamma=a.gamma, gae_lambda=a.gae_lambda, clip_eps=a.clip_eps, value_clip_eps=a.value_clip_eps,
        ent_coef=a.ent_coef, vf_coef=a.vf_coef, max_grad_norm=a.max_grad_norm, epochs=a.epochs,
        num_minibatches=a.num_minibatches, normalize_advantages=a.normalize_advantages,
        centralized_critic=a.centralized_critic, agent_id=spec.network.agent_id,
        lr=spec.train.lr, anneal_lr=spec.train.anneal_lr, num_updates=spec.train.num_updates,
    )
    return PPO(info=info, config=config, make_torso=torso)


ALGORITHMS: dict[str, Callable[[ExperimentSpec, EnvInfo, TorsoFactory], Algorithm]] = {
    "ippo": _ppo,
    "mappo": _ppo,
}
"""Algorithm builders by spec `kind`."""


def make_torso(spec: MLPSpec | GRUSpec) -> TorsoFactory:
    if isinstance(spec, GRUSpec):
        return TorsoFactory(kind="gru", hidden=(spec.hidden,), fc=spec.fc, activation=spec.activation)
    return TorsoFactory(kind="mlp", hidden=tuple(spec.hidden), activation=spec.activation)


def make_env(spec: Any) -> Env:
    """Build the environment of an env spec."""
    return ENVS[spec.kind](spec)


def compile(spec: ExperimentSpec) -> Experiment:  # noqa: A001 - the name the design uses
    """Turn a validated spec into a pure `Experiment`."""
    env = make_env(spec.env)
    algorithm = ALGORITHMS[spec.algorithm.kind](spec, env.info, make_torso(spec.network))
    return Experiment(
        env=env, algorithm=algorithm, num_envs=spec.train.num_envs,
        rollout_length=spec.train.rollout_length, eval_episodes=spec.eval.episodes, greedy=spec.eval.greedy,
    )
