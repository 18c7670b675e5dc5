"""Environment specs, one per `kind`. Each says what the environment is; the
implementation lives in `marlspec.envs` and is chosen in `marlspec.compile`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from marlspec.presets import (
    CONNECTOR_TASKS,
    LBF_TASKS,
    MABRAX_SCENARIOS,
    MPE_ADVERSARIAL,
    MPE_SCENARIOS,
    RWARE_TASKS,
    SMAC_MAPS_NOT_IN_SMAX,
    SMAX_MAPS,
    Sizes,
    connector_sizes,
    lbf_sizes,
    mabrax_sizes,
    mpe_sizes,
    predator_prey_sizes,
    rware_sizes,
    smax_sizes,
    unknown,
)
from marlspec.spec.base import PositiveInt, Spec, fail

ActionType = Literal["discrete", "continuous"]

COORDSUM_TASKS: dict[str, tuple[int, int, int]] = {
    "3x10-30": (3, 10, 30),
    "3x30-50": (3, 30, 50),
    "5x20-80": (5, 20, 80),
    "8x15-100": (8, 15, 100),
}
"""MAGPO's four CoordSum tasks: name -> (agents, actions, max_target)."""

MATRIX_GAMES = ("climbing", "penalty", "nonmonotonic", "custom")


class MatrixGameSpec(Spec):
    """A cooperative matrix game: every agent picks an action and all receive the
    payoff of the joint action. One step, or repeated for `episode_length` steps."""

    kind: Literal["matrix"] = "matrix"
    game: Literal["climbing", "penalty", "nonmonotonic", "custom"] = "penalty"
    """Named game (payoffs in REFERENCE_FACTS.md) or `custom` with `payoff`."""
    k: float = -100.0
    """Miscoordination penalty of the penalty game; must be <= 0."""
    payoff: list | None = None
    """For `custom`: a nested list with one axis per agent (n agents, A actions each)."""
    episode_length: int = Field(1, ge=1, le=10_000)
    """1 for a one-shot game; more for the repeated game (observation = last joint action)."""

    @model_validator(mode="after")
    def _check(self) -> MatrixGameSpec:
        if self.game == "penalty" and self.k > 0:
            fail("env.k", f"the penalty game needs k <= 0 (got {self.k}); use e.g. k: -100")
        if self.game == "custom":
            if self.payoff is None:
                fail("env.payoff", "game 'custom' needs a payoff tensor; add payoff: [[1, 0], [0, 1]]")
            _check_payoff(self.payoff)
        elif self.payoff is not None:
            fail("env.payoff", f"payoff is only read for game 'custom' (got game '{self.game}')")
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return [Sizes(2, "discrete", 3, 7, 7).line(g) for g in MATRIX_GAMES if g != "custom"] + ["custom: any payoff tensor"]

    @property
    def label(self) -> str:
        return f"matrix/{self.game}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.episode_length


def _check_payoff(payoff: list) -> None:
    """A payoff tensor must be a rectangular nested list of numbers, square on every axis."""

    def shape(x: object, depth: int) -> tuple[int, ...]:
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return ()
        if not isinstance(x, list) or not x:
            fail("env.payoff", f"payoff must be a nested list of numbers (got {x!r} at depth {depth})")
        inner = {shape(y, depth + 1) for y in x}
        if len(inner) != 1:
            fail("env.payoff", "payoff is ragged: every row must have the same length")
        return (len(x), *inner.pop())

    dims = shape(payoff, 0)
    if len(dims) < 2:
        fail("env.payoff", f"payoff needs one axis per agent and at least 2 agents (got shape {dims})")
    if len(set(dims)) != 1:
        fail("env.payoff", f"every agent needs the same number of actions (got shape {dims})")


TEAM_MATRIX_TYPES = "AB"
"""Agent types of the team-composition matrix game."""


class TeamMatrixSpec(Spec):
    """The team-composition matrix game of MIPI's section 5.1: two agents of types A or B play
    one joint step whose payoff depends on the team's composition, drawn per episode from
    `teams`. Observations are entity-structured: the teammate's type (s-) and one's own (s+).
    Our payoffs (the paper's are not in its text) are in `marlspec/envs/team_matrix.py`."""

    entity_view: ClassVar[bool] = True
    composition_fields: ClassVar[tuple[str, ...]] = ("teams",)
    kind: Literal["team_matrix"] = "team_matrix"
    teams: list[str] = Field(default_factory=lambda: ["AB", "BA"])
    """Compositions drawn uniformly per episode, one letter per agent: the paper trains on
    [AB, BA] and evaluates on [BB] (an `eval.compositions` entry)."""
    payoffs: dict[str, list] | None = None
    """Payoff table per composition (nested lists, row = agent 0's action); by default ours for
    AB, BA, BB and AA (module docstring of marlspec/envs/team_matrix.py)."""

    @model_validator(mode="after")
    def _check(self) -> TeamMatrixSpec:
        if not self.teams:
            fail("env.teams", "needs at least one composition, e.g. [AB, BA]")
        sizes = {len(t) for t in self.teams}
        bad = [t for t in self.teams if any(c not in TEAM_MATRIX_TYPES for c in t) or len(t) < 2]
        if bad or len(sizes) != 1:
            fail("env.teams", f"each composition is a string of at least 2 types from {TEAM_MATRIX_TYPES!r}, all of"
                 f" the same length (got {self.teams})")
        tables = self.payoffs if self.payoffs is not None else {t: [[0.0] * 2] * 2 for t in ("AB", "BA", "BB", "AA")}
        missing = [t for t in self.teams if t not in tables]
        if missing:
            fail("env.payoffs" if self.payoffs is not None else "env.teams",
                 f"no payoff table for composition(s) {', '.join(missing)}; add them to env.payoffs"
                 if self.payoffs is not None else f"the built-in payoffs cover AB, BA, BB and AA for 2 agents (got"
                 f" {', '.join(missing)}); give env.payoffs for others")
        if self.payoffs is not None:
            for team, table in self.payoffs.items():
                _check_payoff(table)
                if len(_shape(table)) != len(team):
                    fail(f"env.payoffs.{team}", f"needs one axis per agent ({len(team)})")
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return [Sizes(2, "discrete", 2, 4, 4).line("teams [AB, BA] (MIPI sec. 5.1; evaluate on [BB])")]

    @property
    def longest_episode(self) -> int:
        return 1

    @property
    def label(self) -> str:
        return f"team_matrix/{'+'.join(self.teams)}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"


def _shape(table: Any) -> tuple[int, ...]:
    return (len(table), *_shape(table[0])) if isinstance(table, list) else ()


class CoordSumSpec(Spec):
    """MAGPO's CoordSum (appendix B): agents must pick actions summing to a target
    while an adversary guesses agent 0's action from its history."""

    kind: Literal["coordsum"] = "coordsum"
    task: str | None = None
    """A named task (`3x10-30`, `3x30-50`, `5x20-80`, `8x15-100`); overrides the three fields below."""
    agents: int = Field(3, ge=2, le=64)
    """Number of agents."""
    actions: int = Field(10, ge=2, le=256)
    """Actions per agent (integers 0..actions-1)."""
    max_target: int = Field(30, ge=1)
    """Targets are drawn uniformly from [0, max_target)."""
    time_limit: int = Field(100, ge=1)
    """Episode length in steps."""
    reference_quirk: bool = False
    """Reproduce the reference implementation's clamped guess table (all targets >= actions-1 share a row)."""

    @model_validator(mode="after")
    def _check(self) -> CoordSumSpec:
        if self.task is not None and self.task not in COORDSUM_TASKS:
            import difflib

            close = difflib.get_close_matches(self.task, COORDSUM_TASKS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            fail("env.task", f"unknown CoordSum task '{self.task}'; {hint}choices: {', '.join(COORDSUM_TASKS)}")
        return self

    @property
    def resolved(self) -> tuple[int, int, int]:
        """(agents, actions, max_target), with the named task applied."""
        if self.task is not None:
            return COORDSUM_TASKS[self.task]
        return self.agents, self.actions, self.max_target

    @classmethod
    def presets(cls) -> list[str]:
        return [Sizes(n, "discrete", a, t + 1 + n, t + 1).line(name) for name, (n, a, t) in COORDSUM_TASKS.items()]

    @property
    def label(self) -> str:
        n, a, t = self.resolved
        return f"coordsum/{n}x{a}-{t}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.time_limit


class _AdapterSpec(Spec):
    """Options every adapted environment shares."""

    agent_id: bool = False
    """Append a one-hot agent id to each agent's observation (the network's own `agent_id`
    option does the same inside the learner; one of the two is enough)."""


def _lines(rows: dict[str, Sizes]) -> list[str]:
    return [sizes.line(name) for name, sizes in rows.items()]


class MPESpec(_AdapterSpec):
    """Multi-Particle Environments through JaxMARL (cooperative scenarios)."""

    kind: Literal["mpe"] = "mpe"
    scenario: str = "simple_spread"
    """Scenario name, e.g. `simple_spread` (see `marlspec list envs`)."""
    max_steps: int = Field(25, ge=1)
    """Episode length (time limit, a truncation)."""
    agents: int | None = Field(None, ge=1, le=64)
    """`simple_spread` only: number of agents (and landmarks), e.g. 5 or 10 for MAGPO's spread_5ag/10ag."""
    prey: Literal["flee", "random"] = "flee"
    """`simple_tag` only: the scripted prey flees the nearest predator, or moves at random."""

    @model_validator(mode="after")
    def _check(self) -> MPESpec:
        if self.scenario not in MPE_SCENARIOS:
            if self.scenario in MPE_ADVERSARIAL:
                fail("env.scenario", f"MPE scenario '{self.scenario}' is adversarial (two learning teams) and has no"
                     f" cooperative form here; choices: {', '.join(MPE_SCENARIOS)}")
            fail("env.scenario", unknown("MPE scenario", self.scenario, tuple(MPE_SCENARIOS)))
        if self.agents is not None and self.scenario != "simple_spread":
            fail("env.agents", f"agents is only read for simple_spread (got scenario '{self.scenario}'); remove it")
        return self

    @classmethod
    def presets(cls) -> list[str]:
        rows = {name: mpe_sizes(name) for name in MPE_SCENARIOS}
        rows.update({f"simple_spread (agents: {n})": mpe_sizes("simple_spread", n) for n in (5, 10)})
        return _lines(rows)

    @property
    def label(self) -> str:
        extra = f"_{self.agents}ag" if self.agents is not None else ""
        return f"mpe/{self.scenario}{extra}"

    @property
    def action_type(self) -> ActionType:
        return MPE_SCENARIOS[self.scenario].action_type

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.max_steps


class SMAXSpec(_AdapterSpec):
    """SMAX (JaxMARL's JAX re-implementation of SMAC) against a scripted enemy team."""

    kind: Literal["smax"] = "smax"
    map: str = "3m"
    """A map with a SMAC name (`3m`, `2s3z`, `5m_vs_6m`, ...) or `smacv2_5_units` / 10 / 20."""
    max_steps: int = Field(100, ge=1)
    """Episode step limit (a truncation); SMAX's default is 100."""
    enemy_attack: Literal["closest", "random"] = "closest"
    """How the scripted enemy picks its target: the closest unit, or a random one in range."""
    enemy_shoots: bool = True
    """Whether the scripted enemy attacks at all."""

    @model_validator(mode="after")
    def _check(self) -> SMAXSpec:
        if self.map not in SMAX_MAPS:
            if self.map in SMAC_MAPS_NOT_IN_SMAX:
                fail("env.map", f"SMAC map '{self.map}' is not in SMAX (it lacks that map's units or terrain);"
                     f" SMAX maps: {', '.join(SMAX_MAPS)}")
            fail("env.map", unknown("SMAX map", self.map, tuple(SMAX_MAPS)))
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return _lines({name: smax_sizes(*teams) for name, teams in SMAX_MAPS.items()})

    @property
    def label(self) -> str:
        return f"smax/{self.map}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.max_steps


SMAX_UNIT_TYPES = ("marine", "marauder", "stalker", "zealot", "zergling", "hydralisk")
"""SMAX's six unit types."""
SMAX_TEAM_PRESETS: dict[str, tuple[str, ...]] = {
    "sz": ("stalker", "zealot"),
    "msz": ("marauder", "stalker", "zealot"),
}
"""Unit-type lists: `sz` is the paper's SZ; `msz` is our three-type variant standing in for its
CSZ (SMAX has no colossus; the marauder, a ranged unit with high health, takes its place)."""


class SMAXTeamsSpec(_AdapterSpec):
    """SMAX with a random team per episode (MIPI section 5.2): team sizes drawn from ranges and
    unit types from a list, all inside `slots` unit slots per side, so that every composition
    runs in one compiled program. Observations and state are entity-structured."""

    entity_view: ClassVar[bool] = True
    dynamic_team: ClassVar[bool] = True
    composition_fields: ClassVar[tuple[str, ...]] = ("allies", "enemies", "units", "unit_types")
    kind: Literal["smax_teams"] = "smax_teams"
    allies: tuple[PositiveInt, ...] = Field((3, 5), strict=False)
    """Allies per episode, drawn uniformly from [low, high] (a list of two whole numbers in YAML;
    the paper trains on [3, 5])."""
    enemies: tuple[PositiveInt, ...] | None = Field(None, strict=False)
    """Enemies per episode, [low, high]; unset means as many as allies (the paper's setting)."""
    units: Literal["sz", "msz"] | None = None
    """A unit-type preset: `sz` (stalkers and zealots, the paper's SZ; the default when neither
    this nor `unit_types` is set) or `msz` (marauders, stalkers and zealots: our stand-in for CSZ)."""
    unit_types: list[str] | None = None
    """Unit types drawn uniformly for every unit, from SMAX's marine, marauder, stalker, zealot,
    zergling, hydralisk (instead of a `units` preset)."""
    slots: int | None = Field(None, ge=1, le=32)
    """Unit slots per side: by default the largest of allies and enemies. With slot-independent
    networks (MIPI's default `attack_head: entity`) a held-out composition of `eval.compositions`
    runs in its own largest team's slot count; with `attack_head: slots` every composition runs in
    (and must fit) this one, so set it to the largest evaluation composition (8 for 6, 7, 8)."""
    max_steps: int = Field(100, ge=1)
    """Episode step limit (a truncation); SMAX's default is 100."""
    enemy_attack: Literal["closest", "random"] = "closest"
    """How the scripted enemy picks its target."""

    @model_validator(mode="after")
    def _check(self) -> SMAXTeamsSpec:
        for name, rng in (("allies", self.allies), ("enemies", self.enemies)):
            if rng is None:
                continue
            if len(rng) != 2:
                fail(f"env.{name}", f"needs two numbers [low, high], e.g. [3, 5] (got {list(rng)})")
            if not 1 <= rng[0] <= rng[1]:
                fail(f"env.{name}", f"needs 1 <= low <= high (got [{rng[0]}, {rng[1]}])")
            if self.slots is not None and rng[1] > self.slots:
                fail(f"env.{name}", f"a team of up to {rng[1]} does not fit in env.slots = {self.slots}; raise"
                     f" env.slots or lower the range")
        if self.unit_types is not None and self.units is not None:
            fail("env.units", "give either a units preset or unit_types, not both")
        if self.unit_types is not None:
            if not self.unit_types:
                fail("env.unit_types", "needs at least one unit type, e.g. [stalker, zealot]")
            for t in self.unit_types:
                if t not in SMAX_UNIT_TYPES:
                    fail("env.unit_types", unknown("SMAX unit type", t, SMAX_UNIT_TYPES))
        if self.agent_id:
            fail("env.agent_id", "agent ids are sized to the slot count and break zero-shot transfer to other"
                 " team sizes; remove it")
        return self

    @property
    def resolved_slots(self) -> int:
        return self.slots if self.slots is not None else max(self.allies[1], (self.enemies or self.allies)[1])

    @property
    def resolved_unit_types(self) -> tuple[str, ...]:
        return tuple(self.unit_types) if self.unit_types is not None else SMAX_TEAM_PRESETS[self.units or "sz"]

    @property
    def longest_episode(self) -> int:
        return self.max_steps

    def composition_frozen(self, slot_independent: bool) -> dict[str, Any]:
        """What a held-out composition keeps from this spec: the slot count when it shapes the
        trained networks; with slot-independent networks (MIPI's `attack_head: entity`) none, so a
        composition runs in its own largest team's slot count (its own compiled program)."""
        return {"slots": None} if slot_independent else {"slots": self.resolved_slots}

    @classmethod
    def presets(cls) -> list[str]:
        return [f"units {name} ({', '.join(types)}), allies [3, 5], slots 8: "
                f"{smax_sizes(8, 8).line('').removeprefix(': ')}" for name, types in SMAX_TEAM_PRESETS.items()]

    @property
    def label(self) -> str:
        types = (self.units or "sz") if self.unit_types is None else "".join(t[0] for t in self.unit_types)
        enemies = "" if self.enemies is None else f"_vs_{self.enemies[0]}-{self.enemies[1]}"
        return f"smax_teams/{types}_{self.allies[0]}-{self.allies[1]}{enemies}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"


class LBFSpec(_AdapterSpec):
    """Level-Based Foraging (Jumanji): agents with levels load food whose level their sum must reach."""

    kind: Literal["lbf"] = "lbf"
    task: str = "8x8-2p-2f-coop"
    """A task of MAGPO's Table 1, e.g. `15x15-3p-5f` (see `marlspec list envs`)."""
    time_limit: int = Field(100, ge=1)
    """Episode step limit (a truncation); Jumanji's and Mava's default is 100."""

    @model_validator(mode="after")
    def _check(self) -> LBFSpec:
        if self.task not in LBF_TASKS:
            fail("env.task", unknown("LBF task", self.task, tuple(LBF_TASKS)))
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return _lines({name: lbf_sizes(task) for name, task in LBF_TASKS.items()})

    @property
    def label(self) -> str:
        return f"lbf/{self.task}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.time_limit


class RWARESpec(_AdapterSpec):
    """Robotic Warehouse (Jumanji): robots fetch requested shelves and bring them to the goal."""

    kind: Literal["rware"] = "rware"
    task: str = "tiny-2ag"
    """A task of MAGPO's Table 1, e.g. `tiny-2ag`, `medium-4ag-hard` (see `marlspec list envs`)."""
    time_limit: int = Field(500, ge=1)
    """Episode step limit (a truncation); Jumanji's and Mava's default is 500."""

    @model_validator(mode="after")
    def _check(self) -> RWARESpec:
        if self.task not in RWARE_TASKS:
            fail("env.task", unknown("RWARE task", self.task, tuple(RWARE_TASKS)))
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return _lines({name: rware_sizes(task) for name, task in RWARE_TASKS.items()})

    @property
    def label(self) -> str:
        return f"rware/{self.task}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.time_limit


class ConnectorSpec(_AdapterSpec):
    """Connector (Jumanji): every agent draws a path to its own target without crossing the others'."""

    kind: Literal["connector"] = "connector"
    task: str = "con-5x5x3a"
    """A task of MAGPO's Table 1, `con-<grid>x<grid>x<agents>a` (see `marlspec list envs`)."""
    time_limit: int | None = Field(None, ge=1)
    """Episode step limit (a truncation); by default the task's (100, or 225 for con-15x15x23a)."""
    fov: int = Field(2, ge=1, le=7)
    """Each agent sees a (2 fov + 1)^2 window around its head."""

    @model_validator(mode="after")
    def _check(self) -> ConnectorSpec:
        if self.task not in CONNECTOR_TASKS:
            fail("env.task", unknown("Connector task", self.task, tuple(CONNECTOR_TASKS)))
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return _lines({name: connector_sizes(task) for name, task in CONNECTOR_TASKS.items()})

    @property
    def label(self) -> str:
        return f"connector/{self.task}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.time_limit or CONNECTOR_TASKS[self.task].time_limit


class MABraxSpec(_AdapterSpec):
    """Multi-agent MuJoCo on Brax (JaxMARL's MABrax): each agent drives some joints of one robot."""

    kind: Literal["mabrax"] = "mabrax"
    scenario: str = "ant_4x2"
    """`ant_4x2`, `halfcheetah_6x1`, `hopper_3x1`, `humanoid_9|8` or `walker2d_2x3`."""
    episode_length: int = Field(1000, ge=1)
    """Episode step limit (a truncation)."""
    backend: Literal["positional", "generalized", "spring", "mjx"] = "positional"
    """Brax physics backend (JaxMARL's default is `positional`)."""

    @model_validator(mode="after")
    def _check(self) -> MABraxSpec:
        if self.scenario not in MABRAX_SCENARIOS:
            fail("env.scenario", unknown("MABrax scenario", self.scenario, tuple(MABRAX_SCENARIOS)))
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return _lines({name: mabrax_sizes(s) for name, s in MABRAX_SCENARIOS.items()})

    @property
    def label(self) -> str:
        return f"mabrax/{self.scenario}"

    @property
    def action_type(self) -> ActionType:
        return "continuous"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.episode_length


class PredatorPreySpec(_AdapterSpec):
    """Grid predator-prey of AgentMixer: two predators must reach the prey together; one alone is penalised."""

    kind: Literal["predator_prey"] = "predator_prey"
    penalty: float = Field(-0.5, le=0.0)
    """P: team reward when exactly one predator is next to the prey (AgentMixer uses 0, -0.5, -1, -1.5)."""
    capture_reward: float = Field(10.0, gt=0.0)
    """Team reward when at least two predators are next to the prey (the prey is then caught)."""
    step_cost: float = Field(-0.01, le=0.0)
    """Team reward added on every step."""
    grid_size: int = Field(5, ge=3, le=32)
    """Side of the square grid."""
    predators: int = Field(2, ge=1, le=16)
    """Number of predators (the agents)."""
    prey: int = Field(1, ge=1, le=16)
    """Number of prey (scripted: random moves that avoid the predators)."""
    max_steps: int = Field(128, ge=1)
    """Episode step limit (a truncation)."""

    @model_validator(mode="after")
    def _check(self) -> PredatorPreySpec:
        if self.predators + 5 * self.prey > self.grid_size**2:
            fail("env.grid_size", f"a {self.grid_size}x{self.grid_size} grid is too small for {self.predators}"
                 f" predators and {self.prey} prey; raise grid_size")
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return [predator_prey_sizes(2).line("5x5, 2 predators, 1 prey (AgentMixer; set penalty P)")]

    @property
    def label(self) -> str:
        return f"predator_prey/{self.grid_size}x{self.grid_size}-{self.predators}p-P{self.penalty:g}"

    @property
    def action_type(self) -> ActionType:
        return "discrete"

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode, in steps (replay slots and compiled loops are sized by it)."""
        return self.max_steps


class PettingZooSpec(_AdapterSpec):
    """Any PettingZoo ParallelEnv, stepped on the host (the policy and learner stay jitted)."""

    kind: Literal["pettingzoo"] = "pettingzoo"
    env: str
    """Import path of a ParallelEnv factory, `module:attribute`, e.g. `mpe2.simple_spread_v3:parallel_env`."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for the factory, e.g. `{N: 3, max_cycles: 25}`."""
    max_steps: int | None = Field(None, ge=1)
    """Longest episode; by default the env's `max_cycles` (kwargs, then the factory's default)."""
    actions: ActionType = "discrete"
    """The env's action type (checked against its action spaces when it is built)."""
    team_reward: Literal["mean", "sum"] = "mean"
    """How the per-agent rewards become the one shared team reward."""

    @model_validator(mode="after")
    def _check(self) -> PettingZooSpec:
        # Only the form of the path is checked here: validating a spec must not import (and so
        # run the top-level code of) a user's module. `compile` imports it, and reports a
        # missing module or factory, or a keyword argument it does not take, in one line.
        from marlspec.importing import check_path_form

        problem = check_path_form(self.env)
        if problem is not None:
            fail("env.env", problem, self.env)
        return self

    @classmethod
    def presets(cls) -> list[str]:
        return ["any ParallelEnv, by import path and kwargs; e.g.",
                Sizes(3, "discrete", 5, 18, 54).line("mpe2.simple_spread_v3:parallel_env {N: 3}")]

    @property
    def label(self) -> str:
        return f"pettingzoo/{self.env.partition(':')[0].rpartition('.')[2]}"

    @property
    def action_type(self) -> ActionType:
        return self.actions

    @property
    def max_episode_steps(self) -> int | None:
        """The longest episode when the spec says it (`max_steps`, else `kwargs.max_cycles`);
        None when only the factory's own default knows it (read when the env is built)."""
        cycles = self.kwargs.get("max_cycles")
        return self.max_steps or (cycles if isinstance(cycles, int) and not isinstance(cycles, bool) else None)


EnvSpec = Annotated[
    MatrixGameSpec | TeamMatrixSpec | CoordSumSpec | MPESpec | SMAXSpec | SMAXTeamsSpec | LBFSpec | RWARESpec | ConnectorSpec | MABraxSpec
    | PredatorPreySpec | PettingZooSpec,
    Field(discriminator="kind"),
]
"""Every environment kind, chosen by the `kind` field."""
