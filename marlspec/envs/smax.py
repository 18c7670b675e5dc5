"""SMAX (JaxMARL) against a scripted enemy team, behind the marlspec protocol.

SMAX is a JAX re-implementation of the StarCraft Multi-Agent Challenge; it is *not*
StarCraft II. How it differs from SMAC, which matters when comparing to SMAC papers:

- There is no game engine. Units are circles on an open 32x32 map with no terrain,
  no high ground and no line-of-sight blocking; they move and shoot in simplified,
  vectorised physics. Walking into the map edge kills the unit.
- Six unit types only (marine, marauder, stalker, zealot, zergling, hydralisk). Protoss
  shields, medivacs (healing), colossi and banelings are absent, so SMAC maps that need
  them (MMM, MMM2, corridor, 2c_vs_64zg, bane_vs_bane, ...) do not exist here.
- The enemy is JaxMARL's heuristic policy (attack the closest unit, or a random one),
  not SC2's built-in AI at a difficulty level.
- The `smacv2_*` maps draw unit types from all six types and start positions SMACv2
  style, but without SMACv2's restricted field-of-view cone.
- Observations are unit lists (13 features per other unit, 10 of one's own) and the
  reward is the enemy health removed (normalised per unit) plus a win bonus of 1,
  shared by all allies. Episodes last at most `max_steps` (100) agent steps.

Protocol details:
- `step` calls JaxMARL's `step_env`, which does not reset; `AutoReset` resets only
  when needed and keeps the final observation. (JaxMARL's own episodes run one step
  past `max_steps`; here truncation happens exactly at `max_steps`.)
- `terminated` is a battle end (one side wiped out); `truncated` is the step limit.
  `info["won"]` is true when every enemy is dead and an ally survives, which is what
  the runner's win rate counts.
- The team reward is the allies' shared reward. The global state is SMAX's world
  state (every unit's health, position, cooldown and type, and the unit teams/types).
- Dead allies keep their slot (`agent_mask` stays true) with only the no-op available.
- The entity view (`EnvInfo.n_entities` etc.) describes the unit-list observation:
  one 13-feature row per other unit, then the agent's own 10 features.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray

from marlspec.envs._imports import jaxmarl, library_code
from marlspec.envs.base import Env, EnvInfo, TimeStep, scalar
from marlspec.presets import SMAX_MAPS, SMAX_OWN_FEATURES, SMAX_UNIT_FEATURES, unknown


class SMAX(Env):
    map_name: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, map_name: str = "3m", max_steps: int = 100, enemy_attack: str = "closest",
                 enemy_shoots: bool = True):
        if map_name not in SMAX_MAPS:
            raise ValueError(unknown("SMAX map", map_name, tuple(SMAX_MAPS)))
        jaxmarl()
        from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

        self.map_name, self.max_steps = map_name, max_steps
        self.raw = HeuristicEnemySMAX(
            scenario=map_name_to_scenario(map_name), max_steps=max_steps,
            attack_mode=enemy_attack, enemy_shoots=enemy_shoots,
        )
        allies, enemies = self.raw.num_allies, self.raw.num_enemies
        others = allies - 1 + enemies
        self.info = EnvInfo(
            name=f"smax/{map_name}", num_agents=allies, obs_dim=self.raw.obs_size,
            state_dim=self.raw.state_size, action_type="discrete", num_actions=self.raw.num_ally_actions,
            max_steps=max_steps, n_entities=others, entity_dim=SMAX_UNIT_FEATURES,
            own_features=tuple(range(others * SMAX_UNIT_FEATURES, others * SMAX_UNIT_FEATURES + SMAX_OWN_FEATURES)),
        )

    def _timestep(self, obs: dict, avail: dict, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike,
                  won: ArrayLike) -> TimeStep:
        agents = self.raw.agents
        n = self.info.num_agents
        return TimeStep(
            obs=jnp.stack([obs[a] for a in agents]).astype(jnp.float32),
            state=obs["world_state"].astype(jnp.float32),
            avail_actions=jnp.stack([avail[a] for a in agents]).astype(bool),
            agent_mask=jnp.ones((n,), bool),
            reward=scalar(reward), terminated=scalar(terminated, bool), truncated=scalar(truncated, bool),
            info={"won": scalar(won, bool)},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        with library_code():
            obs, state = self.raw.reset(key)
            no = scalar(False, bool)
            return state, self._timestep(obs, self.raw.get_avail_actions(state), 0.0, no, no, no)

    def step(self, key: PRNGKeyArray, state: Any, actions: Int[Array, " N"]) -> tuple[Any, TimeStep]:
        actions = actions.astype(jnp.int32)
        act = {a: actions[i] for i, a in enumerate(self.raw.agents)}
        with library_code():
            obs, state, rewards, _, _ = self.raw.step_env(key, state, act)
            avail = self.raw.get_avail_actions(state)
        alive = state.state.unit_alive
        allies_alive = jnp.any(alive[: self.info.num_agents])
        enemies_alive = jnp.any(alive[self.info.num_agents:])
        battle_over = ~allies_alive | ~enemies_alive
        truncated = (state.state.step >= self.max_steps) & ~battle_over
        won = allies_alive & ~enemies_alive
        return state, self._timestep(obs, avail, rewards[self.raw.agents[0]], battle_over, truncated, won)
