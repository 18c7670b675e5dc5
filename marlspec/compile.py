"""spec -> Experiment. The only module where spec classes meet implementations,
through registries keyed by each component's `kind`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from marlspec.algorithms.agentmixer import AgentMixer, AgentMixerConfig
from marlspec.algorithms.base import Algorithm
from marlspec.algorithms.fop import FOP
from marlspec.algorithms.happo import HAPPO
from marlspec.algorithms.macpf import MACPF
from marlspec.algorithms.magpo import MAGPO, MAGPOConfig
from marlspec.algorithms.mat import MAT, MATConfig
from marlspec.algorithms.mipi import MIPI, MIPIConfig
from marlspec.algorithms.off_policy import OffPolicyConfig
from marlspec.algorithms.ppo import PPO, PPOConfig
from marlspec.algorithms.value_decomposition import ValueDecomposition
from marlspec.envs.base import Env, EnvInfo
from marlspec.envs.coordsum import CoordSum
from marlspec.envs.host import HostEnv
from marlspec.envs.jumanji_envs import LBF, RWARE, Connector
from marlspec.envs.mabrax import MABrax
from marlspec.envs.matrix import CLIMBING, NONMONOTONIC, MatrixGame, penalty
from marlspec.envs.mpe import MPE
from marlspec.envs.pettingzoo import PettingZooEnv
from marlspec.envs.predator_prey import PredatorPrey
from marlspec.envs.smax import SMAX
from marlspec.envs.smax_teams import SMAXTeams
from marlspec.envs.team_matrix import TeamMatrixGame
from marlspec.envs.wrappers import AgentIDs
from marlspec.importing import check_factory
from marlspec.nn import TorsoFactory
from marlspec.nn.entity import EntityNetConfig
from marlspec.spec import ExperimentSpec, SpecError
from marlspec.spec.algorithms import AgentMixerSpec, CTDSSpec, MAGPOSpec, MATSpec, MIPISpec, PPOFamilySpec
from marlspec.spec.envs import (
    ConnectorSpec,
    CoordSumSpec,
    LBFSpec,
    MABraxSpec,
    MatrixGameSpec,
    MPESpec,
    PettingZooSpec,
    PredatorPreySpec,
    RWARESpec,
    SMAXSpec,
    SMAXTeamsSpec,
    TeamMatrixSpec,
)
from marlspec.spec.networks import EntitySpec, GRUSpec, MLPSpec
from marlspec.train.experiment import Experiment
from marlspec.train.host import HostExperiment


def _matrix(spec: MatrixGameSpec) -> Env:
    tables: dict[str, Any] = {"climbing": CLIMBING, "nonmonotonic": NONMONOTONIC, "penalty": penalty(spec.k), "custom": spec.payoff}
    return MatrixGame(tables[spec.game], spec.episode_length, name=spec.label)


def _team_matrix(spec: TeamMatrixSpec) -> Env:
    return TeamMatrixGame(tuple(spec.teams), spec.payoffs, name="team_matrix")  # no composition: shared programs


def _coordsum(spec: CoordSumSpec) -> Env:
    n, a, t = spec.resolved
    return CoordSum(n, a, t, spec.time_limit, spec.reference_quirk)


def _mpe(spec: MPESpec) -> Env:
    return MPE(spec.scenario, spec.max_steps, spec.agents, spec.prey)


def _smax(spec: SMAXSpec) -> Env:
    return SMAX(spec.map, spec.max_steps, spec.enemy_attack, spec.enemy_shoots)


def _smax_teams(spec: SMAXTeamsSpec) -> Env:
    # The name leaves out the composition: compositions then share compiled programs (SMAXTeams).
    return SMAXTeams(spec.allies, spec.enemies, spec.resolved_unit_types, spec.resolved_slots, spec.max_steps,
                     spec.enemy_attack, name=f"smax_teams/{spec.resolved_slots}_slots")


def _lbf(spec: LBFSpec) -> Env:
    return LBF(spec.task, spec.time_limit)


def _rware(spec: RWARESpec) -> Env:
    return RWARE(spec.task, spec.time_limit)


def _connector(spec: ConnectorSpec) -> Env:
    return Connector(spec.task, spec.time_limit, spec.fov)


def _mabrax(spec: MABraxSpec) -> Env:
    return MABrax(spec.scenario, spec.episode_length, spec.backend)


def _predator_prey(spec: PredatorPreySpec) -> Env:
    return PredatorPrey(spec.penalty, spec.capture_reward, spec.step_cost, spec.grid_size, spec.predators,
                        spec.prey, spec.max_steps)


def _pettingzoo(spec: PettingZooSpec) -> HostEnv:
    """A host environment (stepped in Python); `compile` gives it a `HostExperiment`. The
    import path is imported here, not when the spec is validated."""
    problem = check_factory(spec.env, spec.kwargs)
    if problem is not None:
        raise SpecError(f"{problem[0]}: {problem[1]}")
    return PettingZooEnv(spec.env, spec.kwargs, spec.max_steps, spec.team_reward, spec.actions, spec.agent_id)


ENVS: dict[str, Callable[[Any], Env | HostEnv]] = {
    "matrix": _matrix, "team_matrix": _team_matrix, "coordsum": _coordsum, "mpe": _mpe, "smax": _smax, "smax_teams": _smax_teams, "lbf": _lbf, "rware": _rware,
    "connector": _connector, "mabrax": _mabrax, "predator_prey": _predator_prey, "pettingzoo": _pettingzoo,
}
"""Environment builders by spec `kind`."""


def _ppo(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    return PPO(info=info, config=_ppo_config(spec), make_torso=torso)


def _ppo_config(spec: ExperimentSpec, cls: type[PPOConfig] = PPOConfig, **extra: Any) -> Any:
    """A PPO-family config (`cls` is PPOConfig or a subclass): every spec field it knows, the
    training budget, and `extra`."""
    a = cast(PPOFamilySpec, spec.algorithm)  # ALGORITHMS routes only PPO-family kinds here
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in a.model_dump().items() if k in fields and k not in extra}
    given: dict[str, Any] = values | {
        "centralized_critic": a.centralized_critic, "agent_id": getattr(spec.network, "agent_id", False),
        "lr": spec.train.lr, "anneal_lr": spec.train.anneal_lr, "num_updates": spec.train.num_updates}
    return cls(**given, **extra)


def _joint_policy(spec: ExperimentSpec) -> dict[str, Any]:
    jp = cast(MATSpec | MAGPOSpec | CTDSSpec, spec.algorithm).joint_policy  # only mat / magpo / ctds get here
    return {"dim": jp.embed_dim, "blocks": jp.blocks, "heads": jp.heads, "shuffle_agents": jp.shuffle_agents,
            "use_state": jp.use_state, "architecture": jp.architecture, "decay_scaling": jp.decay_scaling}


def _mat(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    return MAT(info=info, config=_ppo_config(spec, MATConfig, **_joint_policy(spec)))


def _magpo(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    """MAGPO, and CTDS as MAGPO without the delta constraint (delta = inf)."""
    extra = _joint_policy(spec) | ({"delta": float("inf")} if spec.algorithm.kind == "ctds" else {})
    return MAGPO(info=info, config=_ppo_config(spec, MAGPOConfig, **extra), make_torso=torso)


def _happo(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    return HAPPO(info=info, config=_ppo_config(spec), make_torso=torso)


def _agentmixer(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    a = cast(AgentMixerSpec, spec.algorithm)  # ALGORITHMS routes only agentmixer here
    fields = {f.name for f in dataclasses.fields(AgentMixerConfig)} - {"tau_anneal_steps"}
    mix = AgentMixerConfig(**{k: getattr(a, k) for k in fields},
                           tau_anneal_steps=a.tau_anneal_steps or spec.train.total_env_steps)
    return AgentMixer(info=info, config=_ppo_config(spec), mix=mix, make_torso=torso)


def _off_policy_config(spec: ExperimentSpec) -> OffPolicyConfig:
    """The off-policy family's config: every spec field that OffPolicyConfig knows; the fields
    this kind's spec does not have are None (they do not apply to it; the config has no defaults)."""
    fields = {f.name for f in dataclasses.fields(OffPolicyConfig)}
    values = {k: v for k, v in spec.algorithm.model_dump().items() if k in fields}
    given = values | {"lr": spec.train.lr, "agent_id": getattr(spec.network, "agent_id", False),
                      "num_envs": spec.train.num_envs}
    return OffPolicyConfig(**cast(dict[str, Any], {f: given.get(f) for f in fields}))


def _value_decomposition(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    return ValueDecomposition(info=info, config=_off_policy_config(spec), make_torso=torso, mixer=spec.algorithm.kind)


def _fop(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    return FOP(info=info, config=_off_policy_config(spec), make_torso=torso)


def _macpf(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    dependent = spec.algorithm.kind == "macpf"
    return MACPF(info=info, config=_off_policy_config(spec), make_torso=torso, dependent=dependent)


def _mipi(spec: ExperimentSpec, info: EnvInfo, torso: TorsoFactory) -> Algorithm:
    a, net = cast(MIPISpec, spec.algorithm), cast(EntitySpec, spec.network)  # the spec checks both kinds
    alpha = a.resolved_alpha  # constant, as in the paper
    config = dataclasses.replace(_off_policy_config(spec), alpha_start=alpha, alpha_end=alpha, alpha_anneal_steps=1)
    mipi = MIPIConfig(regularizer=a.regularizer, ba_iterations=a.ba_iterations, imagine=a.imagine,
                      imagine_lambda=a.imagine_lambda, shared_torso=a.shared_torso, actor_utility=a.actor_utility,
                      attack_head=a.attack_head)
    entity = EntityNetConfig(embed=net.embed, heads=net.heads, hidden=net.hidden, recurrent=net.recurrent,
                             activation=net.activation)
    return MIPI(info=info, config=config, make_torso=torso, net=entity, mipi=mipi)


ALGORITHMS: dict[str, Callable[[ExperimentSpec, EnvInfo, TorsoFactory], Algorithm]] = {
    "ippo": _ppo,
    "mappo": _ppo,
    "vdn": _value_decomposition,
    "qmix": _value_decomposition,
    "fop": _fop,
    "macpf": _macpf,
    "macpf_control": _macpf,
    "happo": _happo,
    "mat": _mat,
    "magpo": _magpo,
    "ctds": _magpo,
    "agentmixer": _agentmixer,
    "mipi": _mipi,
}
"""Algorithm builders by spec `kind`."""


def make_torso(spec: MLPSpec | GRUSpec | EntitySpec) -> TorsoFactory:
    if isinstance(spec, EntitySpec):  # the torso of what is not entity-structured (MIPI's marginal policy)
        kind = "gru" if spec.recurrent else "mlp"
        return TorsoFactory(kind=kind, hidden=(spec.hidden,), fc=spec.embed, activation=spec.activation)
    if isinstance(spec, GRUSpec):
        return TorsoFactory(kind="gru", hidden=(spec.hidden,), fc=spec.fc, activation=spec.activation)
    return TorsoFactory(kind="mlp", hidden=tuple(spec.hidden), activation=spec.activation)


def make_env(spec: Any) -> Env | HostEnv:
    """Build the environment of an env spec (with agent-id features if it asks for them)."""
    env = ENVS[spec.kind](spec)
    if getattr(spec, "agent_id", False) and isinstance(env, Env):
        env = AgentIDs(env)
    return env


def compile(spec: ExperimentSpec) -> Experiment | HostExperiment:  # noqa: A001 - the name the design uses
    """Turn a validated spec into a pure `Experiment`."""
    env = make_env(spec.env)
    algorithm = ALGORITHMS[spec.algorithm.kind](spec, env.info, make_torso(spec.network))
    if isinstance(env, HostEnv):
        return HostExperiment(
            # the same builder returned a HostEnv just above
            make_env=lambda: cast(HostEnv, ENVS[spec.env.kind](spec.env)), algorithm=algorithm, num_envs=spec.train.num_envs,
            rollout_length=spec.train.rollout_length, eval_episodes=spec.eval.episodes, greedy=spec.eval.greedy,
        )
    devices = 1
    if spec.train.devices != 1:
        from marlspec.train.sharding import check

        devices = check(spec.train.devices, spec.train.num_envs)
    return Experiment(
        env=env, algorithm=algorithm, num_envs=spec.train.num_envs,
        rollout_length=spec.train.rollout_length, eval_episodes=spec.eval.episodes, greedy=spec.eval.greedy,
        devices=devices,
    )


off_policy_config = _off_policy_config
"""Public for plugin builders: the `OffPolicyConfig` of a spec whose algorithm derives from
`OffPolicySpec` (docs/writing-an-algorithm.md)."""
ppo_config = _ppo_config
"""Public for plugin builders: the `PPOConfig` (or a subclass's) of a PPO-family spec."""
