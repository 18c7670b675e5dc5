"""A replay buffer of whole episodes, held in the learner state (off-policy mode).

The runner is the same for every algorithm: it rolls out `T` steps of `E`
auto-resetting environments and hands the `Trajectory` to `algorithm.update`. An
off-policy update first `add`s that trajectory here and then `sample`s batches of
whole episodes, as PyMARL (and so the QMIX/FOP/MACPF papers) train recurrent agents:
every sampled episode starts at its first step, so a GRU unrolled over it starts
from a zero state exactly as during acting, and nothing crosses an episode boundary.

Layout: `capacity` slots, each an episode padded to `max_steps + 1` positions.
Position t < length holds step t (what was seen, what was done, what followed);
position `length` holds the episode's final observation and state, so that a
truncated episode bootstraps from it. Each environment owns one slot being written;
every step of the trajectory is scattered straight into its `(slot, position)`, and
when an episode ends its slot is marked complete and the environment takes the next
slot of the ring. Only complete episodes are sampled.

Why not flashbax (0.1.3, which works with jax 0.10.2): its trajectory buffer samples
fixed-length windows that start anywhere, so windows begin mid-episode with an
unknown recurrent state and straddle episode boundaries; its item buffer adds a
fixed number of items per call, while episodes of auto-reset environments end at
different steps in each environment. Adding "those that ended" needs a `lax.cond`
per environment and step, which under the runner's `vmap` over seeds becomes a
select that copies the whole buffer every step. Writing each step into its
episode's slot costs one small scatter per step instead.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.algorithms.base import Trajectory
from marlspec.envs.base import EnvInfo


class Episodes(eqx.Module):
    """Whole episodes padded to `max_steps + 1` positions (leading axes: slots or batch)."""

    obs: Float[Array, "*b L1 N obs"]
    state: Float[Array, "*b L1 S"]
    avail_actions: Bool[Array, "*b L1 N A"]
    agent_mask: Bool[Array, "*b L1 N"]
    actions: Int[Array, "*b L1 N"]
    reward: Float[Array, "*b L1"]
    terminated: Bool[Array, "*b L1"]
    truncated: Bool[Array, "*b L1"]
    length: Int[Array, "*b"]
    """Steps in the episode; positions >= length are padding (position `length` holds the final observation)."""

    @property
    def filled(self) -> Bool[Array, "*b L"]:
        """True at the positions 0..L-1 that hold a real step."""
        steps = jnp.arange(self.reward.shape[-1] - 1).reshape((1,) * self.length.ndim + (-1,))
        return steps < self.length[..., None]


class ReplayState(eqx.Module):
    episodes: Episodes
    """Storage, `[capacity, max_steps + 1, ...]`."""
    complete: Bool[Array, " C"]
    """Slots holding a finished episode (the only ones sampled)."""
    slot: Int[Array, " E"]
    """The slot each environment is writing."""
    pos: Int[Array, " E"]
    """The position each environment writes next."""
    cursor: Int[Array, ""]
    """The next free slot of the ring."""
    added: Int[Array, ""]
    """Episodes completed so far (drives target-network updates)."""


class EpisodeReplay(eqx.Module):
    """Static description of the buffer; its contents live in a `ReplayState`."""

    capacity: int = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    num_envs: int = eqx.field(static=True)

    def __check_init__(self) -> None:
        # An environment's slot must not come round the ring again while it is still
        # writing: at most num_envs episodes end per step, for at most max_steps steps.
        need = self.num_envs * (self.max_steps + 1)
        if self.capacity < need:
            raise ValueError(
                f"algorithm.buffer_size: {self.capacity} episodes is too small for {self.num_envs} environments"
                f" with episodes of up to {self.max_steps} steps; use at least {need}"
            )

    def init(self, info: EnvInfo) -> ReplayState:
        c, l1, n, a = self.capacity, self.max_steps + 1, info.num_agents, info.num_actions
        episodes = Episodes(
            obs=jnp.zeros((c, l1, n, info.obs_dim), jnp.float32),
            state=jnp.zeros((c, l1, info.state_dim), jnp.float32),
            avail_actions=jnp.ones((c, l1, n, a), bool),
            agent_mask=jnp.ones((c, l1, n), bool),
            actions=jnp.zeros((c, l1, n), jnp.int32),
            reward=jnp.zeros((c, l1), jnp.float32),
            terminated=jnp.zeros((c, l1), bool),
            truncated=jnp.zeros((c, l1), bool),
            length=jnp.zeros((c,), jnp.int32),
        )
        e = self.num_envs
        return ReplayState(
            episodes=episodes, complete=jnp.zeros((c,), bool), slot=jnp.arange(e, dtype=jnp.int32),
            pos=jnp.zeros((e,), jnp.int32), cursor=jnp.asarray(e % c, jnp.int32), added=jnp.zeros((), jnp.int32),
        )

    def add(self, rs: ReplayState, traj: Trajectory) -> ReplayState:
        """Write a `[T, E]` trajectory step by step into the episodes it belongs to.
        Trajectories must continue each other (the runner's actor state guarantees it)."""

        def step(rs: ReplayState, t: dict[str, Array]) -> tuple[ReplayState, None]:
            s, p = rs.slot, rs.pos
            ep = rs.episodes
            done = jnp.logical_or(t["terminated"], t["truncated"])
            ep = Episodes(
                obs=ep.obs.at[s, p].set(t["obs"]).at[s, p + 1].set(t["next_obs"]),
                state=ep.state.at[s, p].set(t["state"]).at[s, p + 1].set(t["next_state"]),
                avail_actions=ep.avail_actions.at[s, p].set(t["avail_actions"]).at[s, p + 1].set(t["next_avail_actions"]),
                agent_mask=ep.agent_mask.at[s, p].set(t["agent_mask"]).at[s, p + 1].set(t["agent_mask"]),
                actions=ep.actions.at[s, p].set(t["actions"].astype(jnp.int32)),
                reward=ep.reward.at[s, p].set(t["reward"]),
                terminated=ep.terminated.at[s, p].set(t["terminated"]),
                truncated=ep.truncated.at[s, p].set(t["truncated"]),
                length=ep.length.at[s].set(jnp.where(done, p + 1, ep.length[s])),
            )
            complete = rs.complete.at[s].set(rs.complete[s] | done)
            # Environments whose episode ended take the next slots of the ring, in order.
            fresh = (rs.cursor + jnp.cumsum(done) - 1) % self.capacity
            complete = complete.at[jnp.where(done, fresh, self.capacity)].set(False, mode="drop")
            n_done = done.sum().astype(jnp.int32)
            new = ReplayState(
                episodes=ep, complete=complete, slot=jnp.where(done, fresh, s).astype(jnp.int32),
                pos=jnp.where(done, 0, p + 1).astype(jnp.int32), cursor=(rs.cursor + n_done) % self.capacity,
                added=rs.added + n_done,
            )
            return new, None

        fields = ("obs", "state", "avail_actions", "agent_mask", "actions", "reward", "terminated", "truncated",
                  "next_obs", "next_state", "next_avail_actions")
        rs, _ = jax.lax.scan(step, rs, {f: getattr(traj, f) for f in fields})
        return rs

    def can_sample(self, rs: ReplayState, batch_size: int) -> Bool[Array, ""]:
        return rs.complete.sum() >= batch_size

    def sample(self, rs: ReplayState, key: PRNGKeyArray, batch_size: int) -> Episodes:
        """`batch_size` distinct complete episodes, uniformly (meaningful once `can_sample`)."""
        count = rs.complete.sum()
        p = jnp.where(count > 0, rs.complete / jnp.maximum(count, 1), 1.0 / self.capacity)
        idx = jax.random.choice(key, self.capacity, (batch_size,), replace=False, p=p)
        return jax.tree.map(lambda x: x[idx], rs.episodes)

