"""Named presets of the adapted environments: pure data, no JAX.

Each table maps a preset name to the generator parameters it stands for, so that a
spec naming an unknown preset fails when it is validated, and so that
`marlspec list envs` can show every preset with its agent count and sizes without
building anything. `tests/test_env_presets.py` checks every size here against the
environment that `marlspec.compile` builds. `docs/environments.md` explains where
each table comes from.
"""

from __future__ import annotations

import difflib
from typing import Literal, NamedTuple

ActionType = Literal["discrete", "continuous"]


class Sizes(NamedTuple):
    """What an environment looks like to a learner (with the adapter's defaults)."""

    agents: int
    action_type: ActionType
    actions: int
    """Discrete: actions per agent. Continuous: action dimension per agent (padded to the largest)."""
    obs: int
    """Per-agent observation size (padded to the largest agent's)."""
    state: int
    """Global state size."""

    def line(self, name: str) -> str:
        kind = f"{self.actions} actions" if self.action_type == "discrete" else f"action dim {self.actions}"
        return f"{name}: {self.agents} agents, {self.action_type} ({kind}), obs {self.obs}, state {self.state}"


def unknown(what: str, name: str, choices: list[str] | tuple[str, ...]) -> str:
    """One-line message for an unknown preset name, with the closest match and every choice."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {what} '{name}'; {hint}choices: {', '.join(choices)}"


# --------------------------------------------------------------------------- SMAX

SMAX_MAPS: dict[str, tuple[int, int]] = {
    "3m": (3, 3),
    "8m": (8, 8),
    "25m": (25, 25),
    "2s3z": (5, 5),
    "3s5z": (8, 8),
    "5m_vs_6m": (5, 6),
    "10m_vs_11m": (10, 11),
    "27m_vs_30m": (27, 30),
    "3s5z_vs_3s6z": (8, 9),
    "3s_vs_5z": (3, 5),
    "6h_vs_8z": (6, 8),
    "smacv2_5_units": (5, 5),
    "smacv2_10_units": (10, 10),
    "smacv2_20_units": (20, 20),
}
"""JaxMARL SMAX maps: name -> (allies, enemies). Must equal jaxmarl's MAP_NAME_TO_SCENARIO."""

SMAC_MAPS_NOT_IN_SMAX = (
    "MMM", "MMM2", "corridor", "2c_vs_64zg", "bane_vs_bane", "so_many_baneling", "2m_vs_1z",
    "1c3s5z", "3s_vs_3z", "3s_vs_4z", "2s_vs_1sc", "6h_vs_8z_hard",
)
"""SMAC maps whose units (medivacs, colossi, banelings, spine crawlers, ...) or terrain SMAX lacks."""

SMAX_UNIT_FEATURES = 13
"""Features per other unit in a SMAX observation (7 + 6 unit-type bits)."""
SMAX_OWN_FEATURES = 10
"""Features of the agent's own unit (4 + 6 unit-type bits)."""


def smax_sizes(allies: int, enemies: int) -> Sizes:
    obs = SMAX_UNIT_FEATURES * (allies - 1 + enemies) + SMAX_OWN_FEATURES
    return Sizes(allies, "discrete", enemies + 5, obs, (SMAX_OWN_FEATURES + 2) * (allies + enemies))


# ---------------------------------------------------------------------------- MPE


class MPEScenario(NamedTuple):
    jaxmarl_id: str
    learners: int
    """Agents controlled by the learner (scripted agents excluded)."""
    obs: tuple[int, ...]
    """Per-learner observation sizes."""
    actions: tuple[int, ...]
    """Per-learner action counts (discrete) or action dimensions (continuous)."""
    state: int
    """Concatenated observation sizes of every agent, scripted ones included."""
    action_type: ActionType
    cooperative_by: str
    """Why the scenario is cooperative (shared reward, or a scripted opponent)."""


MPE_SCENARIOS: dict[str, MPEScenario] = {
    "simple": MPEScenario("MPE_simple_v3", 1, (4,), (5,), 4, "discrete", "single agent"),
    "simple_spread": MPEScenario("MPE_simple_spread_v3", 3, (18,) * 3, (5,) * 3, 54, "discrete", "shared reward"),
    "simple_reference": MPEScenario("MPE_simple_reference_v3", 2, (21, 21), (50, 50), 42, "discrete", "shared reward"),
    "simple_speaker_listener": MPEScenario(
        "MPE_simple_speaker_listener_v4", 2, (3, 11), (3, 5), 14, "discrete", "shared reward"),
    "simple_tag": MPEScenario(
        "MPE_simple_tag_v3", 3, (16,) * 3, (5,) * 3, 62, "discrete", "scripted prey (the good agent)"),
    "simple_facmac_3a": MPEScenario(
        "MPE_simple_facmac_3a_v1", 3, (16,) * 3, (5,) * 3, 64, "continuous", "JaxMARL's heuristic prey"),
    "simple_facmac_6a": MPEScenario(
        "MPE_simple_facmac_6a_v1", 6, (28,) * 6, (5,) * 6, 224, "continuous", "JaxMARL's heuristic prey"),
    "simple_facmac_9a": MPEScenario(
        "MPE_simple_facmac_9a_v1", 9, (40,) * 9, (5,) * 9, 480, "continuous", "JaxMARL's heuristic prey"),
}
"""Cooperative MPE scenarios (JaxMARL), as seen by the learner."""

MPE_ADVERSARIAL = ("simple_push", "simple_adversary", "simple_crypto", "simple_world_comm")
"""JaxMARL MPE scenarios left out: two learning teams with opposed rewards and no scripted side."""


def mpe_sizes(name: str, agents: int | None = None) -> Sizes:
    s = MPE_SCENARIOS[name]
    if name == "simple_spread" and agents is not None:
        obs = 4 + 2 * agents + 2 * (agents - 1) + 2 * (agents - 1)
        return Sizes(agents, "discrete", 5, obs, obs * agents)
    return Sizes(s.learners, s.action_type, max(s.actions), max(s.obs), s.state)


# ---------------------------------------------------------------------------- LBF


class LBFTask(NamedTuple):
    grid_size: int
    fov: int
    num_agents: int
    num_food: int
    max_agent_level: int
    force_coop: bool


LBF_TASKS: dict[str, LBFTask] = {
    "15x15-3p-5f": LBFTask(15, 15, 3, 5, 2, False),
    "15x15-4p-3f": LBFTask(15, 15, 4, 3, 2, False),
    "15x15-4p-5f": LBFTask(15, 15, 4, 5, 2, False),
    "2s-8x8-2p-2f-coop": LBFTask(8, 2, 2, 2, 2, True),
    "2s-10x10-3p-3f": LBFTask(10, 2, 3, 3, 2, False),
    "8x8-2p-2f-coop": LBFTask(8, 8, 2, 2, 2, True),
    "10x10-3p-3f": LBFTask(10, 10, 3, 3, 2, False),
}
"""MAGPO's LBF tasks (Table 1), with the generator parameters of Mava's scenario configs:
`<s>s-` is the field of view (sight) when given, else the whole grid; `-coop` forces
every food to need all agents."""


def lbf_sizes(task: LBFTask) -> Sizes:
    obs = 3 * (task.num_food + task.num_agents)
    return Sizes(task.num_agents, "discrete", 6, obs, obs)


# -------------------------------------------------------------------------- RWARE


class RWARETask(NamedTuple):
    column_height: int
    shelf_rows: int
    shelf_columns: int
    num_agents: int
    sensor_range: int
    request_queue_size: int


def _rware(rows: int, columns: int, agents: int, queue: int) -> RWARETask:
    return RWARETask(8, rows, columns, agents, 1, queue)


RWARE_TASKS: dict[str, RWARETask] = {
    "tiny-2ag": _rware(1, 3, 2, 2),
    "tiny-2ag-hard": _rware(1, 3, 2, 1),
    "tiny-4ag": _rware(1, 3, 4, 4),
    "tiny-4ag-hard": _rware(1, 3, 4, 2),
    "small-4ag": _rware(2, 3, 4, 4),
    "small-4ag-hard": _rware(2, 3, 4, 2),
    "medium-4ag": _rware(2, 5, 4, 4),
    "medium-4ag-hard": _rware(2, 5, 4, 2),
    "medium-6ag": _rware(2, 5, 6, 6),
    "large-4ag": _rware(3, 5, 4, 4),
    "large-4ag-hard": _rware(3, 5, 4, 2),
    "large-8ag": _rware(3, 5, 8, 8),
    "large-8ag-hard": _rware(3, 5, 8, 4),
    "xlarge-4ag": _rware(4, 5, 4, 4),
    "xlarge-4ag-hard": _rware(4, 5, 4, 2),
}
"""MAGPO's 15 RWARE tasks (Table 1), with the generator parameters of Mava's scenario
configs: the size sets the shelf layout (tiny 1x3, small 2x3, medium 2x5, large 3x5,
xlarge 4x5 shelf blocks of column height 8), the request queue holds one shelf per
agent, and `-hard` requests half as many shelves (fewer deliveries to find)."""


def rware_obs(sensor_range: int) -> int:
    cells = (2 * sensor_range + 1) ** 2
    return 8 + 5 * (cells - 1) + 2 * cells


def rware_sizes(task: RWARETask) -> Sizes:
    obs = rware_obs(task.sensor_range)
    return Sizes(task.num_agents, "discrete", 5, obs, obs * task.num_agents)


# ---------------------------------------------------------------------- Connector


class ConnectorTask(NamedTuple):
    grid_size: int
    num_agents: int
    time_limit: int


CONNECTOR_TASKS: dict[str, ConnectorTask] = {
    "con-5x5x3a": ConnectorTask(5, 3, 100),
    "con-7x7x5a": ConnectorTask(7, 5, 100),
    "con-10x10x10a": ConnectorTask(10, 10, 100),
    "con-15x15x23a": ConnectorTask(15, 23, 225),
}
"""MAGPO's Connector tasks (Table 1, "MacConnector"): `con-<grid>x<grid>x<agents>a`, with
Mava's time limits (100 steps, 225 for the 15x15 grid)."""


def connector_obs(fov: int) -> int:
    return 3 * (2 * fov + 1) ** 2 + 5


def connector_sizes(task: ConnectorTask, fov: int = 2) -> Sizes:
    return Sizes(task.num_agents, "discrete", 5, connector_obs(fov), 3 * task.grid_size**2)


# ------------------------------------------------------------------------- MABrax


class MABraxScenario(NamedTuple):
    obs: tuple[int, ...]
    """Per-agent observation sizes (JaxMARL's MA-MuJoCo mappings)."""
    actions: tuple[int, ...]
    """Per-agent action dimensions."""
    state: int
    """The full Brax observation."""


MABRAX_SCENARIOS: dict[str, MABraxScenario] = {
    "ant_4x2": MABraxScenario((18,) * 4, (2,) * 4, 27),
    "halfcheetah_6x1": MABraxScenario((9, 9, 8, 9, 9, 8), (1,) * 6, 17),
    "hopper_3x1": MABraxScenario((8, 9, 8), (1,) * 3, 11),
    "humanoid_9|8": MABraxScenario((248, 176), (9, 8), 244),
    "walker2d_2x3": MABraxScenario((10, 10), (3, 3), 17),
}
"""JaxMARL's MA-MuJoCo scenarios on Brax: `<robot>_<agents>x<joints each>`."""


def mabrax_sizes(s: MABraxScenario) -> Sizes:
    return Sizes(len(s.obs), "continuous", max(s.actions), max(s.obs), s.state)


# ------------------------------------------------------------------ predator-prey


def predator_prey_sizes(predators: int) -> Sizes:
    obs = 2 + 25 + 1
    return Sizes(predators, "discrete", 5, obs, obs * predators)
