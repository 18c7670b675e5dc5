"""Multi-agent MuJoCo on Brax (JaxMARL's MABrax), behind the marlspec protocol.

Each agent drives a subset of one robot's joints and sees the observation entries that
JaxMARL's MA-MuJoCo mappings give it (`ant_4x2`: 4 agents with 2 joints each, ...).
Needs the optional `brax` dependency: `pip install marlspec[mabrax]`.

Protocol details:
- Continuous actions in [-1, 1], clipped. Agents with fewer joints (humanoid 9|8) get
  their actions padded to the largest dimension; `avail_actions` marks the dimensions
  an agent really drives, and padded dimensions are ignored. Observations are
  zero-padded to the largest agent's.
- The global state is Brax's full observation of the robot.
- The team reward is Brax's single reward (forward progress, control cost, ...).
- Brax is built without its auto-reset; `AutoReset` resets and keeps the final
  observation. `terminated` is Brax's own end (an unhealthy robot, e.g. a fallen
  hopper); `truncated` is the episode length (Brax's `truncation` flag).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from marlspec.envs._imports import jaxmarl, library_code, require_brax
from marlspec.envs.base import Env, EnvInfo, TimeStep, scalar, stack_padded, used_dims
from marlspec.presets import MABRAX_SCENARIOS, unknown


class MABrax(Env):
    scenario: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    obs_sizes: tuple[int, ...] = eqx.field(static=True)
    action_sizes: tuple[int, ...] = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, scenario: str = "ant_4x2", episode_length: int = 1000, backend: str = "positional"):
        if scenario not in MABRAX_SCENARIOS:
            raise ValueError(unknown("MABrax scenario", scenario, tuple(MABRAX_SCENARIOS)))
        require_brax()
        jm = jaxmarl()
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.raw = jm.make(scenario, episode_length=episode_length, auto_reset=False, backend=backend)
        self.scenario = scenario
        agents = self.raw.agents
        self.obs_sizes = tuple(self.raw.observation_space(a).shape[0] for a in agents)
        self.action_sizes = tuple(self.raw.action_space(a).shape[0] for a in agents)
        self.info = EnvInfo(
            name=f"mabrax/{scenario}", num_agents=len(agents), obs_dim=max(self.obs_sizes),
            state_dim=self.raw.env.observation_size, action_type="continuous",
            num_actions=max(self.action_sizes), max_steps=episode_length, action_low=-1.0, action_high=1.0,
        )

    def _timestep(self, brax_state: Any, obs: dict, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike) -> TimeStep:
        n = self.info.num_agents
        return TimeStep(
            obs=stack_padded([obs[a] for a in self.raw.agents], self.info.obs_dim),
            state=brax_state.obs.astype(jnp.float32),
            avail_actions=used_dims(self.action_sizes, self.info.num_actions),
            agent_mask=jnp.ones((n,), bool),
            reward=scalar(reward), terminated=scalar(terminated, bool), truncated=scalar(truncated, bool), info={},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        with library_code():
            obs, state = self.raw.reset(key)
        return state, self._timestep(state, obs, 0.0, False, False)

    def step(self, key: PRNGKeyArray, state: Any, actions: Float[Array, "N act"]) -> tuple[Any, TimeStep]:
        actions = jnp.clip(actions, self.info.action_low, self.info.action_high)
        act = {a: actions[i, : self.action_sizes[i]] for i, a in enumerate(self.raw.agents)}
        with library_code():
            obs, state, rewards, _, _ = self.raw.step_env(key, state, act)
        truncated = state.info["truncation"] > 0
        terminated = (state.done > 0) & ~truncated
        return state, self._timestep(state, obs, rewards["__all__"], terminated, truncated)


def brax_available() -> bool:
    """Whether the optional brax dependency is importable."""
    try:
        require_brax()
    except ImportError:
        return False
    return True

