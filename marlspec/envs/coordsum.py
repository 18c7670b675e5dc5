"""CoordSum, the coordination game of MAGPO (appendix B), JAX-native.

Rules (the reference implementation's, per REFERENCE_FACTS.md):
- At reset, `time_limit + 1` integer targets are drawn uniformly from [0, max_target).
- All agents observe the current target (one-hot) and the step fraction; an agent-id
  one-hot is appended, as in the reference.
- An adversary keeps, per target value, counts of agent 0's past actions within the
  episode, and guesses the most frequent one (0 when there is none).
- The shared reward is 0 if the actions do not sum to the target, else 2 when the
  guess misses agent 0's action and 1 when it matches. Best episode return: 2 * time_limit.
- The episode ends (terminated: the horizon is part of the observation) after `time_limit` steps.

`reference_quirk=True` reproduces the reference's clamped guess table (it has only
`num_actions` rows, so every target >= num_actions - 1 shares the last row); the
default follows the paper's rule of one record per target value.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray

from marlspec.envs.base import Env, EnvInfo, TimeStep, agent_ids, all_available, scalar


class CoordSumState(eqx.Module):
    targets: Int[Array, " T1"]
    t: Int[Array, ""]
    counts: Int[Array, "rows A"]


class CoordSum(Env):
    num_agents: int = eqx.field(static=True)
    num_actions: int = eqx.field(static=True)
    max_target: int = eqx.field(static=True)
    time_limit: int = eqx.field(static=True)
    reference_quirk: bool = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, num_agents: int, num_actions: int, max_target: int, time_limit: int = 100,
                 reference_quirk: bool = False):
        self.num_agents, self.num_actions, self.max_target = num_agents, num_actions, max_target
        self.time_limit, self.reference_quirk = time_limit, reference_quirk
        state_dim = max_target + 1
        self.info = EnvInfo(
            name=f"coordsum/{num_agents}x{num_actions}-{max_target}",
            num_agents=num_agents, obs_dim=state_dim + num_agents, state_dim=state_dim,
            action_type="discrete", num_actions=num_actions, max_steps=time_limit,
        )

    def _row(self, target: Int[Array, ""]) -> Int[Array, ""]:
        return jnp.minimum(target, self.num_actions - 1) if self.reference_quirk else target

    def _timestep(self, state: CoordSumState, reward: ArrayLike, terminated: ArrayLike) -> TimeStep:
        target = state.targets[jnp.minimum(state.t, self.time_limit)]
        global_state = jnp.concatenate(
            [jax.nn.one_hot(target, self.max_target), (state.t / self.time_limit)[None]]
        ).astype(jnp.float32)
        n = self.num_agents
        obs = jnp.concatenate([jnp.broadcast_to(global_state, (n, global_state.shape[0])), agent_ids(n)], axis=1)
        return TimeStep(
            obs=obs, state=global_state, avail_actions=all_available(n, self.num_actions),
            agent_mask=jnp.ones((n,), bool), reward=scalar(reward), terminated=scalar(terminated, bool),
            truncated=scalar(False, bool), info={},
        )

    def reset(self, key: PRNGKeyArray) -> tuple[CoordSumState, TimeStep]:
        targets = jax.random.randint(key, (self.time_limit + 1,), 0, self.max_target, dtype=jnp.int32)
        rows = self.num_actions if self.reference_quirk else self.max_target
        state = CoordSumState(targets=targets, t=scalar(0, jnp.int32), counts=jnp.zeros((rows, self.num_actions), jnp.int32))
        return state, self._timestep(state, 0.0, False)

    def step(self, key: PRNGKeyArray, state: CoordSumState, actions: Int[Array, " N"]) -> tuple[CoordSumState, TimeStep]:
        actions = actions.astype(jnp.int32)
        target = state.targets[state.t]
        row = self._row(target)
        history = state.counts[row]
        guess = jnp.where(history.sum() > 0, jnp.argmax(history), 0)
        hit = jnp.sum(actions) == target
        reward = jnp.where(hit, jnp.where(guess == actions[0], 1.0, 2.0), 0.0).astype(jnp.float32)
        counts = state.counts.at[row, actions[0]].add(1)
        new = CoordSumState(targets=state.targets, t=state.t + 1, counts=counts)
        return new, self._timestep(new, reward, new.t >= self.time_limit)


