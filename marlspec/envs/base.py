"""The one environment protocol of marlspec.

Every environment, built in or adapted, is a final subclass of `Env`: a pure,
functional pair `reset(key)` / `step(key, state, actions)` over a fixed number of
agent slots `N`. A `TimeStep` carries what learners need: per-agent observations,
the global state, available-action masks, an agent mask, one shared reward, and
separate `terminated` (true end, do not bootstrap) and `truncated` (time limit,
bootstrap) flags. `step` after the end of an episode is undefined; the
`AutoReset` wrapper in `marlspec.envs.wrappers` takes care of that.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

ActionType = Literal["discrete", "continuous"]


@dataclasses.dataclass(frozen=True)
class EnvInfo:
    """Static facts about an environment (hashable, so it can sit in static fields)."""

    name: str
    """`kind/preset`, e.g. `coordsum/5x20-80`."""
    num_agents: int
    """Agent slots N."""
    obs_dim: int
    """Per-agent observation size."""
    state_dim: int
    """Global state size."""
    action_type: ActionType
    """Discrete or continuous actions."""
    num_actions: int
    """Discrete: actions per agent. Continuous: action dimension per agent."""
    max_steps: int
    """Longest possible episode."""
    action_low: float = -1.0
    """Continuous actions only: lower bound."""
    action_high: float = 1.0
    """Continuous actions only: upper bound."""
    n_entities: int | None = None
    """Optional entity view: number of entities in the observation."""
    entity_dim: int | None = None
    """Optional entity view: features per entity."""
    own_features: tuple[int, ...] | None = None
    """Optional entity view: feature indices that are the agent's own (s+); the rest are team-related (s-)."""
    entity_ids: tuple[tuple[int, ...], ...] | None = None
    """Optional entity view: for each agent slot, the global entity index (a row of the state's
    entity view) of each of its observation's entity rows. Agent slot i is global entity i."""
    state_entity_dim: int | None = None
    """Optional entity view of the state: `state` is `state_dim / state_entity_dim` rows of this
    width, one per global entity, agent slots first."""
    dynamic_team: bool = False
    """True when the team's size changes from episode to episode (`agent_mask` varies)."""
    attack_entities: tuple[int, ...] | None = None
    """Optional entity view: the actions are `num_actions - len(attack_entities)` non-attack
    actions (moves, stop) followed by one attack per entry, and attack k targets the entity of
    observation row `attack_entities[k]` (SMAX: one per enemy slot). Set, networks can score
    attacks against the entity rows and so be sized independently of the slot count
    (`marlspec.nn.entity.EntityActionHead`)."""

    @property
    def entity_view(self) -> bool:
        """True when observations and state are entity-structured (`entity_view` below applies).
        Layout: an observation is `n_entities` rows of `entity_dim` features followed by the
        agent's own features (`own_features`, s+); a row of zeros is an entity that is absent
        (not in this episode's team, dead, or out of sight)."""
        return None not in (self.n_entities, self.entity_dim, self.own_features, self.entity_ids,
                            self.state_entity_dim)

    @property
    def n_state_entities(self) -> int:
        assert self.state_entity_dim is not None, "no entity view of the state"
        return self.state_dim // self.state_entity_dim

    @property
    def discrete(self) -> bool:
        return self.action_type == "discrete"


class TimeStep(eqx.Module):
    """What an environment returns after `reset` and after every `step`."""

    obs: Float[Array, "N obs"]
    state: Float[Array, " state"]
    avail_actions: Bool[Array, "N A"]
    agent_mask: Bool[Array, " N"]
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]
    info: dict[str, Any]

    @property
    def done(self) -> Bool[Array, "*batch"]:
        return jnp.logical_or(self.terminated, self.truncated)


Actions = Int[Array, " N"] | Float[Array, "N act"]


class Env(eqx.Module):
    """Abstract base of every JAX-native environment."""

    info: eqx.AbstractVar[EnvInfo]

    @abc.abstractmethod
    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        """Start an episode."""

    @abc.abstractmethod
    def step(self, key: PRNGKeyArray, state: Any, actions: Actions) -> tuple[Any, TimeStep]:
        """Advance one step. Undefined after the episode has ended."""


def all_available(n: int, a: int) -> Bool[Array, "N A"]:
    return jnp.ones((n, a), dtype=bool)


def agent_ids(n: int) -> Float[Array, "N N"]:
    """One-hot agent ids, one row per agent: the one builder of id inputs (environment
    wrappers, PPO's and the off-policy learners' agent inputs, FOP's mixer entities)."""
    return jnp.eye(n, dtype=jnp.float32)


def scalar(x: ArrayLike, dtype: Any = jnp.float32) -> Array:
    """A 0-d array of fixed dtype. Fixed dtypes at reset and step avoid recompiles."""
    return jnp.asarray(x, dtype=dtype).reshape(())


def random_actions(key: PRNGKeyArray, info: EnvInfo, avail: Bool[Array, "N A"]) -> Actions:
    """Uniformly random legal actions (discrete) or uniform in the box (continuous)."""
    if info.discrete:
        logits = jnp.where(avail, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    return jax.random.uniform(
        key, (info.num_agents, info.num_actions), minval=info.action_low, maxval=info.action_high
    )


def stack_padded(rows: list[Array], width: int) -> Float[Array, "N width"]:
    """Stack per-agent vectors of different lengths, zero-padding each to `width`."""
    return jnp.stack([r.astype(jnp.float32) if r.shape[0] == width else
                      jnp.pad(r.astype(jnp.float32), (0, width - r.shape[0])) for r in rows])


def used_dims(sizes: tuple[int, ...], width: int) -> Bool[Array, "N width"]:
    """Row i is True on the first `sizes[i]` entries: the actions (or action dimensions)
    agent i really has when agents of different sizes are padded to `width`."""
    return jnp.arange(width)[None, :] < jnp.asarray(sizes)[:, None]


def entity_view(obs: Float[Array, " obs"], info: EnvInfo) -> tuple[Float[Array, " own"], Float[Array, "E d"], Bool[Array, " E"]]:
    """One agent's observation as (own features s+, entity rows s-, which rows are present):
    the layout `EnvInfo.entity_view` describes. A row is present when any feature is non-zero."""
    assert info.n_entities is not None and info.entity_dim is not None and info.own_features is not None
    rows = obs[: info.n_entities * info.entity_dim].reshape(info.n_entities, info.entity_dim)
    own = obs[jnp.asarray(info.own_features)]
    return own, rows, jnp.any(rows != 0, axis=-1)


def state_entities(state: Float[Array, " state"], info: EnvInfo) -> tuple[Float[Array, "G d"], Bool[Array, " G"]]:
    """The state as one row per global entity (agent slots first) and which rows are present."""
    assert info.state_entity_dim is not None
    rows = state.reshape(-1, info.state_entity_dim)
    return rows, jnp.any(rows != 0, axis=-1)
