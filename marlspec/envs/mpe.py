"""Multi-Particle Environments through JaxMARL, behind the marlspec protocol.

Scenarios (see `marlspec.presets.MPE_SCENARIOS`):
- `simple`, `simple_spread`, `simple_reference`, `simple_speaker_listener`: cooperative
  as they stand (every agent is a learner).
- `simple_tag`: predator-prey. The three adversaries (predators) are the learners; the
  good agent (prey) is scripted, which makes the game cooperative. `prey="flee"` moves
  the prey one step in the direction that keeps it farthest from the nearest predator
  while staying inside the unit box; `prey="random"` picks uniformly random moves.
- `simple_facmac_3a/6a/9a`: FACMAC's continuous predator-prey; JaxMARL scripts the prey
  itself. (JaxMARL computes the first prey's move from the last adversary's position;
  that is the library's behaviour and is kept.)
- Adversarial scenarios with two learning teams (push, adversary, crypto, world_comm)
  are not offered.

Protocol details:
- `step` calls JaxMARL's `step_env` (no built-in reset); `AutoReset` resets and keeps
  the final observation. MPE episodes end only by the time limit: `truncated` is set
  after exactly `max_steps` steps (as PettingZoo's `max_cycles`; JaxMARL's own flag
  fires one step later) and `terminated` never is.
- Team reward: the mean of the learners' JaxMARL rewards. (In spread each agent gets the
  shared landmark term plus its own collision term; in tag every predator gets 10 per
  prey contact; in speaker-listener and reference the agents share one reward.)
- Heterogeneous agents (speaker-listener: speaker obs 3 / 3 actions, listener obs 11 /
  5 actions): observations are zero-padded to the largest size, actions to the largest
  count, and `avail_actions` marks only each agent's real actions as available. For
  continuous scenarios `avail_actions` marks the action dimensions an agent controls.
  Continuous actions are clipped to JaxMARL's box [0, 1].
- The global state is the concatenation of every agent's own (unpadded) observation,
  scripted agents included.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from marlspec.envs._imports import jaxmarl, library_code
from marlspec.envs.base import Actions, Env, EnvInfo, TimeStep, scalar, stack_padded, used_dims
from marlspec.presets import MPE_SCENARIOS, unknown

_MOVES = jnp.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
"""JaxMARL's discrete MPE moves: no-op, left, right, down, up."""


class MPE(Env):
    scenario: str = eqx.field(static=True)
    raw: Any = eqx.field(static=True)
    learners: tuple[str, ...] = eqx.field(static=True)
    scripted: tuple[str, ...] = eqx.field(static=True)
    obs_sizes: tuple[int, ...] = eqx.field(static=True)
    action_sizes: tuple[int, ...] = eqx.field(static=True)
    prey: str = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, scenario: str = "simple_spread", max_steps: int = 25, agents: int | None = None,
                 prey: str = "flee"):
        if scenario not in MPE_SCENARIOS:
            raise ValueError(unknown("MPE scenario", scenario, tuple(MPE_SCENARIOS)))
        jm = jaxmarl()
        self.scenario, self.max_steps, self.prey = scenario, max_steps, prey
        if scenario.startswith("simple_facmac"):
            from jaxmarl.environments.mpe.simple_facmac import SimpleFacmacMPE

            n = int(scenario.rsplit("_", 1)[1][:-1])
            self.raw = SimpleFacmacMPE(num_good_agents=n // 3, num_adversaries=n, num_landmarks=2 * (n // 3),
                                       view_radius=1.5, score_function="min", max_steps=max_steps)
        elif scenario == "simple_spread" and agents is not None:
            self.raw = jm.make(MPE_SCENARIOS[scenario].jaxmarl_id, num_agents=agents, num_landmarks=agents,
                               max_steps=max_steps)
        else:
            self.raw = jm.make(MPE_SCENARIOS[scenario].jaxmarl_id, max_steps=max_steps)
        names = tuple(self.raw.agents)
        scripted_team = getattr(self.raw, "good_agents", []) if scenario.startswith(("simple_tag", "simple_facmac")) else []
        self.scripted = tuple(scripted_team)
        self.learners = tuple(a for a in names if a not in self.scripted)
        with library_code():
            obs_shapes = jax.eval_shape(self.raw.reset, jax.random.PRNGKey(0))[0]
        self.obs_sizes = tuple(obs_shapes[a].shape[0] for a in self.learners)
        continuous = MPE_SCENARIOS[scenario].action_type == "continuous"
        spaces = [self.raw.action_space(a) for a in self.learners]
        self.action_sizes = tuple(s.shape[0] if continuous else s.n for s in spaces)
        state_dim = sum(obs_shapes[a].shape[0] for a in names)
        label = f"_{agents}ag" if agents is not None else ""
        self.info = EnvInfo(
            name=f"mpe/{scenario}{label}", num_agents=len(self.learners), obs_dim=max(self.obs_sizes),
            state_dim=state_dim, action_type="continuous" if continuous else "discrete",
            num_actions=max(self.action_sizes), max_steps=max_steps, action_low=0.0, action_high=1.0,
        )

    def _timestep(self, obs: dict, reward: ArrayLike, truncated: ArrayLike) -> TimeStep:
        n, width = self.info.num_agents, self.info.obs_dim
        every = [obs[a].astype(jnp.float32) for a in self.raw.agents]
        return TimeStep(
            obs=stack_padded([obs[a] for a in self.learners], width),
            state=jnp.concatenate(every),
            avail_actions=used_dims(self.action_sizes, self.info.num_actions),
            agent_mask=jnp.ones((n,), bool),
            reward=scalar(reward), terminated=scalar(False, bool), truncated=scalar(truncated, bool), info={},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[Any, TimeStep]:
        with library_code():
            obs, state = self.raw.reset(key)
        return state, self._timestep(obs, 0.0, False)

    def _prey_action(self, key: PRNGKeyArray, state: Any, prey: str) -> Array:
        """Scripted prey of `simple_tag` (a discrete JaxMARL action)."""
        if self.prey == "random":
            return jax.random.randint(key, (), 0, 5)
        pos = state.p_pos[self.raw.a_to_i[prey]]
        predators = state.p_pos[: self.raw.num_adversaries]
        ahead = pos[None, :] + 0.25 * _MOVES
        nearest = jnp.min(jnp.linalg.norm(ahead[:, None, :] - predators[None, :, :], axis=-1), axis=1)
        outside = jnp.sum(jnp.maximum(jnp.abs(ahead) - 0.9, 0.0), axis=-1)
        return jnp.argmax(nearest - 10.0 * outside)

    def step(self, key: PRNGKeyArray, state: Any, actions: Actions) -> tuple[Any, TimeStep]:
        if self.info.discrete:
            actions = actions.astype(jnp.int32)
            act = {a: actions[i] for i, a in enumerate(self.learners)}
        else:
            actions = jnp.clip(actions, self.info.action_low, self.info.action_high)
            act = {a: actions[i, : self.action_sizes[i]] for i, a in enumerate(self.learners)}
        key, k_script = jax.random.split(key)
        for j, a in enumerate(self.scripted):
            if self.info.discrete:
                act[a] = self._prey_action(jax.random.fold_in(k_script, j), state, a)
            else:  # JaxMARL replaces the prey's action with its own heuristic
                act[a] = jnp.zeros((self.raw.action_space(a).shape[0],))
        with library_code():
            obs, state, rewards, _, _ = self.raw.step_env(key, state, act)
        reward = jnp.mean(jnp.stack([rewards[a] for a in self.learners]))
        return state, self._timestep(obs, reward, state.step >= self.max_steps)
