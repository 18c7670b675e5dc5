"""SMAX with a random team per episode (MIPI section 5.2, REFIL's SMAC scenarios), on JaxMARL's
SMAX scenario machinery.

Every episode draws the number of allies and of enemies from ranges (by default the same number
on both sides, as in the paper: 3-5 in training, 6, 7 or 8 in evaluation) and every unit's type
from a list (SZ: stalkers and zealots). All compositions share `slots` unit slots per side, so
one compiled program runs them all: the SMAX game is built once with `slots` allies and enemies,
and a reset kills (health 0, not alive) the units beyond the drawn team sizes. Such units are
invisible in every observation (zero rows), never act, and cannot be attacked; an ally slot
beyond the team has `agent_mask` false and only the stop action available.

What the learner sees (`EnvInfo.entity_view`):
- observations: SMAX's unit lists, one 13-feature row per other ally slot and per enemy slot
  (health, relative position, last move and target, cooldown, unit-type bits), zero when the
  unit is absent, dead or out of sight; then the agent's own 10 features (s+);
- the state: one 12-feature row per unit slot (health fraction, position / map size, weapon
  cooldown fraction, ally and enemy bits, unit-type bits), zero when absent or dead;
- actions: SMAX's 5 movement actions and one attack per enemy slot (`EnvInfo.attack_entities`
  names the observation row of each attack's target).

The reward is SMAX's: the enemy health removed this step (each unit's as a fraction of its
maximum), divided by the number of enemies in THIS episode (SMAX divides by its slot count),
plus 1 for a won battle (every enemy dead, an ally alive). `info["won"]` marks wins.

SMAX differs from SMAC (see `marlspec.envs.smax`): no shields, no medivacs or colossi, so the
paper's CSZ (colossi, stalkers, zealots) and MMM (marines, marauders, medivacs) cannot be built;
`docs/environments.md` describes the three-type variant offered instead.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, PRNGKeyArray

from marlspec.envs._imports import jaxmarl, library_code
from marlspec.envs.base import Env, EnvInfo, TimeStep, scalar
from marlspec.presets import SMAX_OWN_FEATURES, SMAX_UNIT_FEATURES

SMAX_UNIT_TYPES = ("marine", "marauder", "stalker", "zealot", "zergling", "hydralisk")
"""JaxMARL SMAX's unit types, in its order (the type index)."""
STATE_FEATURES = 12
"""Features of one unit's row in the state (see the module docstring)."""


class TeamState(eqx.Module):
    raw: Any
    """JaxMARL's heuristic-enemy SMAX state."""
    allies: Int[Array, ""]
    enemies: Int[Array, ""]


class SMAXTeams(Env):
    """The composition (team-size ranges, unit types) is held in arrays, not in static fields, so
    environments that differ only in their compositions share compiled programs (the runner
    evaluates every held-out composition with one)."""

    allies: Int[Array, " 2"]
    """[low, high] of the allies per episode."""
    enemies: Int[Array, " 2"]
    """[low, high] of the enemies per episode (ignored where `same_size`)."""
    same_size: Bool[Array, ""]
    """As many enemies as allies."""
    unit_types: Int[Array, " K"]
    """SMAX type indices drawn uniformly for every unit."""
    raw: Any = eqx.field(static=True)
    slots: int = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, allies: tuple[int, int], enemies: tuple[int, int] | None, unit_types: tuple[str, ...],
                 slots: int, max_steps: int = 100, enemy_attack: str = "closest", name: str = "smax_teams"):
        jaxmarl()
        from jaxmarl.environments.smax import HeuristicEnemySMAX

        self.slots, self.max_steps = slots, max_steps
        self.allies = jnp.asarray(allies, jnp.int32)
        self.enemies = jnp.asarray(allies if enemies is None else enemies, jnp.int32)
        self.same_size = jnp.asarray(enemies is None)
        self.unit_types = jnp.asarray([SMAX_UNIT_TYPES.index(t) for t in unit_types], jnp.int32)
        self.raw = HeuristicEnemySMAX(num_allies=slots, num_enemies=slots, max_steps=max_steps, attack_mode=enemy_attack)
        others = 2 * slots - 1
        self.info = EnvInfo(
            name=name, num_agents=slots, obs_dim=self.raw.obs_size, state_dim=2 * slots * STATE_FEATURES,
            action_type="discrete", num_actions=self.raw.num_ally_actions, max_steps=max_steps, n_entities=others,
            entity_dim=SMAX_UNIT_FEATURES,
            own_features=tuple(range(others * SMAX_UNIT_FEATURES, others * SMAX_UNIT_FEATURES + SMAX_OWN_FEATURES)),
            entity_ids=tuple(tuple([j for j in range(slots) if j != i] + list(range(slots, 2 * slots)))
                             for i in range(slots)),
            state_entity_dim=STATE_FEATURES, dynamic_team=True,
            attack_entities=tuple(range(slots - 1, 2 * slots - 1)),  # SMAX's action 5 + j attacks enemy slot j
        )

    # ---------------------------------------------------------------------------------
    def _state_rows(self, s: Any) -> Array:
        env = self.raw._env
        types = s.unit_types.astype(jnp.int32)
        ally = jnp.arange(2 * self.slots) < self.slots
        rows = jnp.concatenate([
            (s.unit_health / env.unit_type_health[types])[:, None],
            s.unit_positions / jnp.array([env.map_width, env.map_height]),
            jnp.clip(s.unit_weapon_cooldowns / env.unit_type_weapon_cooldowns[types], 0.0, 1.0)[:, None],
            jnp.stack([ally, ~ally], -1).astype(jnp.float32),
            jax.nn.one_hot(types, len(SMAX_UNIT_TYPES)),
        ], axis=-1)
        return (rows * s.unit_alive[:, None]).reshape(-1).astype(jnp.float32)

    def _timestep(self, state: TeamState, reward: Array, terminated: Array, truncated: Array, won: Array) -> TimeStep:
        obs = self.raw.get_obs(state.raw)
        avail = self.raw.get_avail_actions(state.raw)
        agents = self.raw.agents
        return TimeStep(
            obs=jnp.stack([obs[a] for a in agents]).astype(jnp.float32), state=self._state_rows(state.raw.state),
            avail_actions=jnp.stack([avail[a] for a in agents]).astype(bool),
            agent_mask=jnp.arange(self.slots) < state.allies,
            reward=scalar(reward), terminated=scalar(terminated, bool), truncated=scalar(truncated, bool),
            info={"won": scalar(won, bool)},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[TeamState, TimeStep]:
        k_raw, k_allies, k_enemies, k_types = jax.random.split(key, 4)
        allies = jax.random.randint(k_allies, (), self.allies[0], self.allies[1] + 1)
        enemies = jnp.where(self.same_size, allies, jax.random.randint(k_enemies, (), self.enemies[0], self.enemies[1] + 1))
        types = self.unit_types[jax.random.randint(k_types, (2 * self.slots,), 0, self.unit_types.shape[0])]
        slot = jnp.arange(self.slots)
        alive = jnp.concatenate([slot < allies, slot < enemies])
        with library_code():
            _, raw = self.raw.reset(k_raw)
            env = self.raw._env
            s = raw.state.replace(unit_types=types.astype(raw.state.unit_types.dtype), unit_alive=alive,
                                  unit_health=jnp.where(alive, env.unit_type_health[types], 0.0))
            state = TeamState(raw.replace(state=s), allies.astype(jnp.int32), enemies.astype(jnp.int32))
            no = scalar(False, bool)
            return state, self._timestep(state, jnp.zeros(()), no, no, no)

    def step(self, key: PRNGKeyArray, state: TeamState, actions: Int[Array, " N"]) -> tuple[TeamState, TimeStep]:
        actions = actions.astype(jnp.int32)
        act = {a: actions[i] for i, a in enumerate(self.raw.agents)}
        env = self.raw._env
        before = state.raw.state.unit_health
        with library_code():
            _, raw, _, _, _ = self.raw.step_env(key, state.raw, act)
            s = raw.state
            new = TeamState(raw, state.allies, state.enemies)
            lost_health = (before - s.unit_health) / env.unit_type_health[s.unit_types.astype(jnp.int32)]
            allies_alive = jnp.any(s.unit_alive[: self.slots])
            enemies_alive = jnp.any(s.unit_alive[self.slots:])
            won = allies_alive & ~enemies_alive
            reward = jnp.sum(lost_health[self.slots:]) / state.enemies + won.astype(jnp.float32)
            over = ~allies_alive | ~enemies_alive
            truncated = (s.step >= self.max_steps) & ~over
            return new, self._timestep(new, reward, over, truncated, won)
