"""Jumanji's Level-Based Foraging, Robotic Warehouse and Connector behind the marlspec protocol.

Jumanji's `step` never resets, so the `AutoReset` wrapper does that (only when some
environment is done) and keeps the final observation. The named tasks and the
generator parameters they stand for are in `marlspec.presets` (MAGPO's Table
1 with Mava's scenario configs); `docs/environments.md` has the same table.

Team rewards follow Mava, which produced MAGPO's numbers: LBF and Connector sum the
per-agent rewards (an LBF episode that eats every food totals 1); RWARE's reward is
already one shared number (shelves delivered).
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from marlspec.envs._imports import library_code
from marlspec.envs.base import Env, EnvInfo, TimeStep, scalar
from marlspec.presets import (
    CONNECTOR_TASKS,
    LBF_TASKS,
    RWARE_TASKS,
    connector_obs,
    unknown,
)


def _timestep(obs: Array, state: Array, avail: Array, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike,
              info: dict[str, Array]) -> TimeStep:
    return TimeStep(
        obs=obs.astype(jnp.float32), state=state.astype(jnp.float32), avail_actions=avail.astype(bool),
        agent_mask=jnp.ones((obs.shape[0],), bool), reward=scalar(reward),
        terminated=scalar(terminated, bool), truncated=scalar(truncated, bool), info=info,
    )


class LBF(Env):
    """Level-Based Foraging (Christianos et al. 2020) as implemented in Jumanji.

    - Observation: Jumanji's vector view, (y, x, level) of every food then of the agent
      itself and the other agents, (-1, -1, 0) outside the field of view (`2s-` tasks
      see 2 cells around; the others see the whole grid). Not normalised (as in Mava).
    - Actions: no-op, up, down, left, right, load; `avail_actions` is Jumanji's mask.
    - Team reward: sum of the agents' rewards (Mava's choice), so eating all food totals 1.
    - `terminated` when all food is eaten; `truncated` at the time limit.
    - Global state: (y, x, level) of every agent and every uneaten food ((-1, -1, 0)
      once eaten), i.e. the omniscient version of the observation.
    """

    task: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, task: str = "8x8-2p-2f-coop", time_limit: int = 100):
        if task not in LBF_TASKS:
            raise ValueError(unknown("LBF task", task, tuple(LBF_TASKS)))
        from jumanji.environments.routing.lbf import LevelBasedForaging
        from jumanji.environments.routing.lbf.generator import RandomGenerator

        t = LBF_TASKS[task]
        generator = RandomGenerator(grid_size=t.grid_size, fov=t.fov, num_agents=t.num_agents,
                                    num_food=t.num_food, max_agent_level=t.max_agent_level, force_coop=t.force_coop)
        self.task = task
        self.raw = LevelBasedForaging(generator=generator, time_limit=time_limit)
        obs = 3 * (t.num_food + t.num_agents)
        self.info = EnvInfo(name=f"lbf/{task}", num_agents=t.num_agents, obs_dim=obs, state_dim=obs,
                            action_type="discrete", num_actions=6, max_steps=time_limit)

    @staticmethod
    def _global_state(state: Any) -> Float[Array, " S"]:
        agents = jnp.concatenate([state.agents.position, state.agents.level[:, None]], axis=-1)
        food = jnp.concatenate([state.food_items.position, state.food_items.level[:, None]], axis=-1)
        food = jnp.where(state.food_items.eaten[:, None], jnp.array([-1, -1, 0]), food)
        return jnp.concatenate([agents.reshape(-1), food.reshape(-1)]).astype(jnp.float32)

    def _make(self, state: Any, ts: Any, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike) -> TimeStep:
        o = ts.observation
        return _timestep(o.agents_view, self._global_state(state), o.action_mask, reward, terminated, truncated, {})

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        with library_code():
            state, ts = self.raw.reset(key)
        return state, self._make(state, ts, 0.0, False, False)

    def step(self, key: PRNGKeyArray, state: Any, actions: Int[Array, " N"]) -> tuple[Any, TimeStep]:
        with library_code():
            state, ts = self.raw.step(state, actions.astype(jnp.int32))
        terminated = jnp.all(state.food_items.eaten)
        truncated = (state.step_count >= self.info.max_steps) & ~terminated
        return state, self._make(state, ts, jnp.sum(ts.reward), terminated, truncated)


class RWARE(Env):
    """Robotic Warehouse (Papoudakis et al. 2021) as implemented in Jumanji.

    - Observation: Jumanji's per-agent view of the 3x3 cells around the robot (its own
      position, carried shelf, direction, highway flag; other robots and their
      directions; shelves and whether they are requested).
    - Actions: no-op, forward, left, right, toggle load; `avail_actions` is Jumanji's mask.
    - Team reward: Jumanji's shared reward (1 per requested shelf delivered).
    - `terminated` when two robots collide (Jumanji's JAX RWARE ends the episode there,
      unlike the original); `truncated` at the time limit.
    - Global state: all agents' observations concatenated (Mava's default).
    """

    task: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, task: str = "tiny-2ag", time_limit: int = 500):
        if task not in RWARE_TASKS:
            raise ValueError(unknown("RWARE task", task, tuple(RWARE_TASKS)))
        from jumanji.environments.routing.robot_warehouse import RobotWarehouse
        from jumanji.environments.routing.robot_warehouse.generator import RandomGenerator

        t = RWARE_TASKS[task]
        self.task = task
        self.raw = RobotWarehouse(generator=RandomGenerator(**t._asdict()), time_limit=time_limit)
        obs = int(self.raw.num_obs_features)
        self.info = EnvInfo(name=f"rware/{task}", num_agents=t.num_agents, obs_dim=obs,
                            state_dim=obs * t.num_agents, action_type="discrete", num_actions=5,
                            max_steps=time_limit)

    def _make(self, ts: Any, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike) -> TimeStep:
        o = ts.observation
        return _timestep(o.agents_view, o.agents_view.reshape(-1), o.action_mask, reward, terminated, truncated, {})

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        with library_code():
            state, ts = self.raw.reset(key)
        return state, self._make(ts, 0.0, False, False)

    def step(self, key: PRNGKeyArray, state: Any, actions: Int[Array, " N"]) -> tuple[Any, TimeStep]:
        from jumanji.environments.routing.robot_warehouse import utils

        with library_code():
            state, ts = self.raw.step(state, actions.astype(jnp.int32))
        with library_code():
            collided = jax.vmap(functools.partial(utils.is_collision, state.grid))(state.agents, self.raw.agent_ids)
        terminated = jnp.any(collided)
        truncated = (state.step_count >= self.info.max_steps) & ~terminated
        return state, self._make(ts, ts.reward, terminated, truncated)


class Connector(Env):
    """Connector (Bonnet et al. 2024) as implemented in Jumanji (v3, random-walk generator).

    - Observation of agent i (written for marlspec; Mava's vector wrapper is similar):
      three (2 fov + 1)^2 windows centred on i's head: cells that block (any path, any
      other head, off-grid), i's own target, and other agents' targets; then i's head and
      target coordinates divided by the grid size, and whether i is connected.
    - Actions: no-op, up, right, down, left; `avail_actions` is Jumanji's mask.
    - Team reward: sum of the agents' rewards (Mava), i.e. +1 per connection and -0.03
      per unconnected agent and step.
    - `terminated` when every agent is connected or blocked; `truncated` at the time limit.
      `info["won"]` is true when every agent connected.
    - Global state: three grid channels (paths, heads, targets), each cell holding
      (owner + 1) / N, so the owner is visible.
    """

    task: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    fov: int = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, task: str = "con-5x5x3a", time_limit: int | None = None, fov: int = 2):
        if task not in CONNECTOR_TASKS:
            raise ValueError(unknown("Connector task", task, tuple(CONNECTOR_TASKS)))
        from jumanji.environments.routing.connector import Connector as RawConnector
        from jumanji.environments.routing.connector.generator import RandomWalkGenerator

        t = CONNECTOR_TASKS[task]
        limit = time_limit or t.time_limit
        self.task, self.fov = task, fov
        self.raw = RawConnector(generator=RandomWalkGenerator(grid_size=t.grid_size, num_agents=t.num_agents),
                                time_limit=limit)
        self.info = EnvInfo(name=f"connector/{task}", num_agents=t.num_agents, obs_dim=connector_obs(fov),
                            state_dim=3 * t.grid_size**2, action_type="discrete", num_actions=5, max_steps=limit)

    def _observe(self, state: Any) -> tuple[Float[Array, "N obs"], Float[Array, " S"]]:
        n, g, f = self.info.num_agents, self.raw.grid_size, self.fov
        grid = state.grid
        owner = jnp.where(grid > 0, (grid - 1) // 3, -1)
        kind = jnp.where(grid > 0, (grid - 1) % 3, -1)  # 0 path, 1 head, 2 target
        value = (owner + 1).astype(jnp.float32) / n
        global_state = jnp.stack([jnp.where(kind == k, value, 0.0) for k in range(3)]).reshape(-1)

        def one(i: Int[Array, ""], pos: Int[Array, " 2"], target: Int[Array, " 2"], done: Array) -> Array:
            mine = owner == i
            blocked = (kind == 0) | ((kind == 1) & ~mine)
            channels = jnp.stack([blocked, (kind == 2) & mine, (kind == 2) & ~mine]).astype(jnp.float32)
            padded = jnp.pad(channels, ((0, 0), (f, f), (f, f)), constant_values=0.0)
            padded = padded.at[0].set(jnp.pad(channels[0], f, constant_values=1.0))
            window = jax.lax.dynamic_slice(padded, (0, pos[0], pos[1]), (3, 2 * f + 1, 2 * f + 1))
            coords = jnp.concatenate([pos, target]).astype(jnp.float32) / g
            return jnp.concatenate([window.reshape(-1), coords, done.astype(jnp.float32)[None]])

        agents = state.agents
        obs = jax.vmap(one)(jnp.arange(n), agents.position, agents.target, agents.connected)
        return obs, global_state

    def _make(self, state: Any, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike) -> TimeStep:
        obs, global_state = self._observe(state)
        won = jnp.all(state.agents.connected)
        return _timestep(obs, global_state, state.action_mask, reward, terminated, truncated,
                         {"won": scalar(won, bool)})

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        with library_code():
            state, _ = self.raw.reset(key)
        return state, self._make(state, 0.0, False, False)

    def step(self, key: PRNGKeyArray, state: Any, actions: Int[Array, " N"]) -> tuple[Any, TimeStep]:
        from jumanji.environments.routing.connector.utils import connected_or_blocked

        with library_code():
            state, ts = self.raw.step(state, actions.astype(jnp.int32))
        with library_code():
            terminated = jnp.all(jax.vmap(connected_or_blocked)(state.agents, state.action_mask))
        truncated = (state.step_count >= self.info.max_steps) & ~terminated
        return state, self._make(state, jnp.sum(ts.reward), terminated, truncated)
