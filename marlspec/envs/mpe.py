"""Multi-Particle Environments through JaxMARL, behind the marlspec protocol.

The adapter calls JaxMARL's `step_env` (no built-in reset) so that auto-reset is
done once, by `marlspec.envs.wrappers.AutoReset`, which also keeps the final
observation. MPE episodes end only by the time limit, so `truncated` is set and
`terminated` never is. The team reward is the mean of JaxMARL's per-agent rewards.
The global state is the concatenation of all agents' observations.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray, ArrayLike

from marlspec.envs.base import Env, EnvInfo, TimeStep, all_available, scalar

JAXMARL_NAMES = {"simple_spread": "MPE_simple_spread_v3"}


def _quiet_import_jaxmarl() -> Any:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        import jaxmarl
    return jaxmarl


class MPE(Env):
    scenario: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, scenario: str = "simple_spread", max_steps: int = 25):
        jaxmarl = _quiet_import_jaxmarl()
        self.scenario = scenario
        self.raw = jaxmarl.make(JAXMARL_NAMES[scenario], max_steps=max_steps)
        agents = self.raw.agents
        obs_dims = {self.raw.observation_space(a).shape[0] for a in agents}
        acts = {self.raw.action_space(a).n for a in agents}
        if len(obs_dims) != 1 or len(acts) != 1:
            raise ValueError(f"mpe/{scenario}: heterogeneous agents are not supported by this adapter")
        obs_dim = obs_dims.pop()
        self.info = EnvInfo(
            name=f"mpe/{scenario}", num_agents=len(agents), obs_dim=obs_dim,
            state_dim=obs_dim * len(agents), action_type="discrete", num_actions=acts.pop(),
            max_steps=max_steps,
        )

    def _timestep(self, obs: dict, reward: ArrayLike, truncated: ArrayLike) -> TimeStep:
        stacked = jnp.stack([obs[a] for a in self.raw.agents]).astype(jnp.float32)
        n = self.info.num_agents
        return TimeStep(
            obs=stacked, state=stacked.reshape(-1), avail_actions=all_available(n, self.info.num_actions),
            agent_mask=jnp.ones((n,), bool), reward=scalar(reward), terminated=scalar(False, bool),
            truncated=scalar(truncated, bool), info={},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        obs, state = self.raw.reset(key)
        return state, self._timestep(obs, 0.0, False)

    def step(self, key: PRNGKeyArray, state: Any, actions: Int[Array, " N"]) -> tuple[Any, TimeStep]:
        act = {a: actions[i] for i, a in enumerate(self.raw.agents)}
        obs, state, rewards, dones, _ = self.raw.step_env(key, state, act)
        reward = jnp.mean(jnp.stack([rewards[a] for a in self.raw.agents]))
        return state, self._timestep(obs, reward, dones["__all__"])
