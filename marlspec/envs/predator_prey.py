"""Grid predator-prey with a miscoordination penalty, as used by AgentMixer. JAX-native.

The rules follow REFERENCE_FACTS.md (5x5 grid, 2 predators, 1 prey, 5x5 view, +10 when
at least two predators are next to the prey, penalty P when only one is, -0.01 per step,
128-step episodes) and, for what the paper summary leaves out, the authors' environment
(ma-gym's PredatorPrey as used in LiZhYun/BackPropagationThroughAgents):

- Actions: down, left, up, right, no-op. Predators move one after another in index
  order; a move into a wall, another predator or a living prey is cancelled.
- "Next to" means one of the four cardinal neighbours. After the predators move, each
  living prey with exactly one predator next to it costs the team P (the prey stays);
  with two or more it is caught and pays `capture_reward`. This is checked every step,
  so a lone predator sitting by the prey is penalised on every step it does so.
- A living prey then moves: up to five tries of a random move (probability 0.175 for
  each direction, 0.3 for staying) until one lands on a cell with no predator next to
  it; otherwise it stays. A move into a wall or an occupied cell is cancelled.
- At reset, predators take distinct random cells and each prey a random free cell with
  no predator next to it.
- Observation of a predator: its row / grid and column / (grid - 1) (the reference's
  normalisation, kept as is), the 5x5 window of prey around it, and step / max_steps.
  The global state is all predators' observations concatenated (as in the reference).
- The team reward is the reward every predator receives (they are all equal).
  `terminated` when every prey is caught; `truncated` at `max_steps`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from marlspec.envs.base import Env, EnvInfo, TimeStep, all_available, scalar

_DELTAS = jnp.array([[1, 0], [0, -1], [-1, 0], [0, 1], [0, 0]], dtype=jnp.int32)
"""down, left, up, right, no-op (row, column) offsets."""
_PREY_MOVE_PROBS = jnp.array([0.175, 0.175, 0.175, 0.175, 0.3])
_NEIGHBOURS = _DELTAS[:4]
_VIEW = 2
"""Half-width of the 5x5 view."""


class PredatorPreyState(eqx.Module):
    predators: Int[Array, "P 2"]
    prey: Int[Array, "Q 2"]
    alive: Bool[Array, " Q"]
    t: Int[Array, ""]


class PredatorPrey(Env):
    grid_size: int = eqx.field(static=True)
    num_prey: int = eqx.field(static=True)
    penalty: float = eqx.field(static=True)
    capture_reward: float = eqx.field(static=True)
    step_cost: float = eqx.field(static=True)
    info: EnvInfo = eqx.field(static=True)

    def __init__(self, penalty: float = -0.5, capture_reward: float = 10.0, step_cost: float = -0.01,
                 grid_size: int = 5, predators: int = 2, prey: int = 1, max_steps: int = 128):
        self.grid_size, self.num_prey = grid_size, prey
        self.penalty, self.capture_reward, self.step_cost = penalty, capture_reward, step_cost
        obs = 2 + (2 * _VIEW + 1) ** 2 + 1
        self.info = EnvInfo(
            name=f"predator_prey/{grid_size}x{grid_size}-{predators}p-P{penalty:g}", num_agents=predators,
            obs_dim=obs, state_dim=obs * predators, action_type="discrete", num_actions=5, max_steps=max_steps,
        )

    # ----------------------------------------------------------------- helpers
    def _inside(self, pos: Int[Array, "*b 2"]) -> Bool[Array, "*b"]:
        return jnp.all((pos >= 0) & (pos < self.grid_size), axis=-1)

    @staticmethod
    def _at(pos: Int[Array, " 2"], others: Int[Array, "K 2"], present: Bool[Array, " K"]) -> Bool[Array, ""]:
        return jnp.any(jnp.all(others == pos[None, :], axis=-1) & present)

    def _neighbours(self, pos: Int[Array, " 2"], predators: Int[Array, "P 2"]) -> Int[Array, ""]:
        """How many predators stand on the four cardinal neighbours of `pos`."""
        near = jnp.abs(predators - pos[None, :]).sum(-1) == 1
        return near.sum()

    def _observe(self, s: PredatorPreyState) -> tuple[Float[Array, "P obs"], Float[Array, " S"]]:
        g = self.grid_size
        prey_grid = jnp.zeros((g, g), jnp.float32).at[s.prey[:, 0], s.prey[:, 1]].max(s.alive.astype(jnp.float32))
        padded = jnp.pad(prey_grid, _VIEW)
        size = 2 * _VIEW + 1

        def one(pos: Int[Array, " 2"]) -> Float[Array, " obs"]:
            window = jax.lax.dynamic_slice(padded, (pos[0], pos[1]), (size, size)).reshape(-1)
            # REFERENCE: ma-gym divides the row by the grid size and the column by (size - 1).
            coords = jnp.stack([pos[0] / g, pos[1] / (g - 1)]).astype(jnp.float32)
            return jnp.concatenate([coords, window, (s.t / self.info.max_steps)[None].astype(jnp.float32)])

        obs = jax.vmap(one)(s.predators)
        return obs, obs.reshape(-1)

    def _timestep(self, s: PredatorPreyState, reward: ArrayLike, terminated: ArrayLike, truncated: ArrayLike) -> TimeStep:
        obs, state = self._observe(s)
        n = self.info.num_agents
        return TimeStep(
            obs=obs, state=state, avail_actions=all_available(n, 5), agent_mask=jnp.ones((n,), bool),
            reward=scalar(reward), terminated=scalar(terminated, bool), truncated=scalar(truncated, bool), info={},
        )

    # --------------------------------------------------------------- protocol
    def reset(self, key: PRNGKeyArray) -> tuple[PredatorPreyState, TimeStep]:
        g, n = self.grid_size, self.info.num_agents
        k_pred, k_prey = jax.random.split(key)
        cells = jax.random.choice(k_pred, g * g, (n,), replace=False)
        predators = jnp.stack([cells // g, cells % g], axis=-1).astype(jnp.int32)
        grid = jnp.stack(jnp.meshgrid(jnp.arange(g), jnp.arange(g), indexing="ij"), -1).reshape(-1, 2)
        prey = jnp.zeros((self.num_prey, 2), jnp.int32)
        for q in range(self.num_prey):
            placed = jnp.arange(self.num_prey) < q
            taken = jax.vmap(lambda c, prey=prey, placed=placed: self._at(c, predators, jnp.ones((n,), bool))
                             | self._at(c, prey, placed))(grid)
            calm = jax.vmap(lambda c: self._neighbours(c, predators) == 0)(grid)
            free = (~taken & calm).astype(jnp.float32)
            cell = jax.random.choice(jax.random.fold_in(k_prey, q), g * g, p=free / free.sum())
            prey = prey.at[q].set(jnp.stack([cell // g, cell % g]).astype(jnp.int32))
        s = PredatorPreyState(predators, prey, jnp.ones((self.num_prey,), bool), scalar(0, jnp.int32))
        return s, self._timestep(s, 0.0, False, False)

    def step(self, key: PRNGKeyArray, state: PredatorPreyState, actions: Int[Array, " N"]) -> tuple[PredatorPreyState, TimeStep]:
        actions = actions.astype(jnp.int32)
        n = self.info.num_agents
        predators, prey, alive = state.predators, state.prey, state.alive
        everyone = jnp.ones((n,), bool)
        for i in range(n):  # predators move one after another
            target = predators[i] + _DELTAS[actions[i]]
            others = everyone.at[i].set(False)
            free = self._inside(target) & ~self._at(target, predators, others) & ~self._at(target, prey, alive)
            predators = predators.at[i].set(jnp.where(free, target, predators[i]))

        reward = jnp.asarray(self.step_cost, jnp.float32)
        keys = jax.random.split(key, self.num_prey)
        for q in range(self.num_prey):
            count = self._neighbours(prey[q], predators)
            paid = jnp.where(count == 1, self.penalty, jnp.where(count >= 2, self.capture_reward, 0.0))
            reward = reward + jnp.where(alive[q], paid, 0.0)
            alive = alive.at[q].set(alive[q] & (count < 2))
            # the prey tries up to five random moves that end away from every predator
            tries = jax.random.choice(keys[q], 5, (5,), p=_PREY_MOVE_PROBS)
            targets = prey[q][None, :] + _DELTAS[tries]
            safe = jax.vmap(lambda c: self._neighbours(c, predators) == 0)(targets)
            move = jnp.where(jnp.any(safe), tries[jnp.argmax(safe)], 4)
            target = prey[q] + _DELTAS[move]
            others = alive.at[q].set(False)
            free = self._inside(target) & ~self._at(target, predators, everyone) & ~self._at(target, prey, others)
            prey = prey.at[q].set(jnp.where(alive[q] & free, target, prey[q]))

        t = state.t + 1
        new = PredatorPreyState(predators, prey, alive, t)
        terminated = ~jnp.any(alive)
        truncated = (t >= self.info.max_steps) & ~terminated
        return new, self._timestep(new, reward, terminated, truncated)
