"""The preset tables of the spec layer (`marlspec.presets`, which `marlspec list
envs` prints without building anything) against the environments `compile` builds, and
against the libraries' own lists. Building an environment compiles no program, but
Jumanji's and JaxMARL's constructors run eager JAX ops, so the fast suite checks one
preset per kind (the sizes come from one formula per kind) and the slow suite all."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from marlspec import presets as P
from marlspec.cli import app

FAST = {"smax": {"3m", "3s5z_vs_3s6z"}, "mpe": {"simple_speaker_listener", "simple_tag"},
        "lbf": {"2s-8x8-2p-2f-coop"}, "rware": {"tiny-4ag-hard"}, "connector": {"con-7x7x5a"}}
"""Presets checked in the fast suite; the rest are marked slow."""


def _cases() -> list:
    names = {"smax": P.SMAX_MAPS, "mpe": P.MPE_SCENARIOS, "lbf": P.LBF_TASKS, "rware": P.RWARE_TASKS,
             "connector": P.CONNECTOR_TASKS}
    return [pytest.param(kind, name, id=f"{kind}-{name}", marks=[] if name in FAST[kind] else [pytest.mark.slow])
            for kind, table in names.items() for name in table]


def _built(kind: str, name: str):
    from marlspec.envs.jumanji_envs import LBF, RWARE, Connector
    from marlspec.envs.mpe import MPE
    from marlspec.envs.smax import SMAX

    return {"smax": SMAX, "mpe": MPE, "lbf": LBF, "rware": RWARE, "connector": Connector}[kind](name)


def _expected(kind: str, name: str) -> P.Sizes:
    if kind == "smax":
        return P.smax_sizes(*P.SMAX_MAPS[name])
    if kind == "mpe":
        return P.mpe_sizes(name)
    if kind == "lbf":
        return P.lbf_sizes(P.LBF_TASKS[name])
    if kind == "rware":
        return P.rware_sizes(P.RWARE_TASKS[name])
    return P.connector_sizes(P.CONNECTOR_TASKS[name])


@pytest.mark.parametrize(("kind", "name"), _cases())
def test_preset_sizes_match_the_built_env(kind: str, name: str) -> None:
    env = _built(kind, name)
    info = env.info
    assert P.Sizes(info.num_agents, info.action_type, info.num_actions, info.obs_dim, info.state_dim) == \
        _expected(kind, name)
    if kind == "lbf":
        g, task = env.raw._generator, P.LBF_TASKS[name]
        assert (g.grid_size, g.fov, g.num_agents, g.num_food, g.max_agent_level, g.force_coop) == tuple(task)
    if kind == "rware":
        assert env.raw.request_queue_size == P.RWARE_TASKS[name].request_queue_size
    if kind == "connector":
        assert info.max_steps == P.CONNECTOR_TASKS[name].time_limit


def test_mpe_spread_agent_count() -> None:
    from marlspec.envs.mpe import MPE

    info = MPE("simple_spread", agents=5).info
    assert P.Sizes(info.num_agents, info.action_type, info.num_actions, info.obs_dim, info.state_dim) == \
        P.mpe_sizes("simple_spread", 5)


def test_smax_maps_are_jaxmarls() -> None:
    from marlspec.envs._imports import jaxmarl

    jaxmarl()
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    assert sorted(P.SMAX_MAPS) == sorted(MAP_NAME_TO_SCENARIO)
    for name, (allies, enemies) in P.SMAX_MAPS.items():
        scenario = MAP_NAME_TO_SCENARIO[name]
        assert (scenario.num_allies, scenario.num_enemies) == (allies, enemies)
    assert not set(P.SMAC_MAPS_NOT_IN_SMAX) & set(MAP_NAME_TO_SCENARIO)


@pytest.mark.skipif(importlib.util.find_spec("brax") is None, reason="brax is not installed (pip install marlspec[mabrax])")
def test_mabrax_scenarios_match_jaxmarls_mappings() -> None:
    from marlspec.envs._imports import jaxmarl

    jaxmarl()
    from jaxmarl.environments.mabrax.mappings import _agent_action_mapping, _agent_observation_mapping

    assert set(P.MABRAX_SCENARIOS) <= set(_agent_observation_mapping)
    for name, s in P.MABRAX_SCENARIOS.items():
        assert tuple(v.size for v in _agent_observation_mapping[name].values()) == s.obs, name
        assert tuple(v.size for v in _agent_action_mapping[name].values()) == s.actions, name


def test_list_envs_shows_every_kind_and_preset() -> None:
    result = CliRunner().invoke(app, ["list", "envs"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = result.output
    for kind in ("matrix", "coordsum", "mpe", "smax", "lbf", "rware", "connector", "mabrax", "predator_prey",
                 "pettingzoo"):
        assert kind in text, kind
    for name in [*P.SMAX_MAPS, *P.MPE_SCENARIOS, *P.LBF_TASKS, *P.RWARE_TASKS, *P.CONNECTOR_TASKS,
                 *P.MABRAX_SCENARIOS]:
        assert f"{name}:" in text, name
    assert "3m: 3 agents, discrete (8 actions), obs 75, state 72" in text
