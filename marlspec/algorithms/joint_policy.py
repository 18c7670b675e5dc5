"""The autoregressive joint policy shared by MAT (the policy itself), MAGPO (the guider) and CTDS
(the teacher): its configuration, and one interface, `JointPolicy`, to build it, sample from it,
replay it over a rollout and read its values, whatever the network.

- `MATJointPolicy`: MAT's transformer (`nn.AutoregressivePolicy`, Wen et al. 2022): attention
  over the agents of one step, no memory of earlier steps (its memory is an unused scalar).
- `SableJointPolicy`: Sable's retentive network (`nn.RetentivePolicy`, Mahjoub et al. 2025),
  the MAGPO paper's default guider: it also remembers the episode's earlier steps. The memory
  is the carry while acting, and a rollout is replayed per environment, in order, from the
  memory stored at the rollout start, zeroing it where an episode starts.

`joint_policy(config)` picks one from `config.architecture`. Each agent's token is its
observation, the global state (with `use_state`) and its one-hot id. Agents act in index order
0..N-1; during an update the order is a fresh random permutation per epoch with
`shuffle_agents` (`JointPolicy.order`, as Mava's Sable/MAGPO code does).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.algorithms.base import Trajectory
from marlspec.algorithms.onpolicy import PPOConfig, agent_advantages, agent_inputs
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import AutoregressivePolicy, RetentivePolicy
from marlspec.nn.retention import zero_memory


@dataclasses.dataclass(frozen=True)
class MATConfig(PPOConfig):
    """PPO's hyper-parameters and the joint policy's network (MAT, MAGPO's guider, CTDS's teacher)."""

    dim: int
    blocks: int
    heads: int
    shuffle_agents: bool
    use_state: bool
    architecture: Literal["mat", "sable"]
    """`mat`: attention over the agents of one step (`nn.AutoregressivePolicy`); `sable`:
    retention with a memory of the episode's earlier steps (`nn.RetentivePolicy`)."""
    decay_scaling: float
    """Sable's retention decay scaling factor (MAGPO Table 5 searches {0.3, 0.5, 0.8, 1})."""


JointPolicyNet = AutoregressivePolicy | RetentivePolicy
JointMemory = Any
"""The joint policy's recurrent state for one environment: Sable's retention memory, or an
unused scalar for MAT's memoryless attention."""


class JointPolicy(eqx.Module):
    """How an algorithm uses an autoregressive joint policy network (abstract; one subclass per
    architecture). Holds only the configuration: the network itself is a parameter of the
    algorithm's state and is passed in."""

    config: MATConfig = eqx.field(static=True)

    # ------------------------------------------------------------------ per architecture
    @abc.abstractmethod
    def make(self, info: EnvInfo, key: PRNGKeyArray) -> JointPolicyNet:
        """A freshly initialised network."""

    @abc.abstractmethod
    def memory(self) -> JointMemory:
        """The joint policy's state at an episode start, for one environment."""

    @abc.abstractmethod
    def sample(
        self, net: JointPolicyNet, memory: JointMemory, key: PRNGKeyArray, timestep: TimeStep, greedy: bool,
    ) -> tuple[Int[Array, " N"], Float[Array, " N"], JointMemory]:
        """One environment's joint action, sampled agent by agent in index order, each agent's
        conditional log-probability, and the joint policy's next state."""

    @abc.abstractmethod
    def logits_values(
        self, net: JointPolicyNet, memory: JointMemory, obs: Float[Array, "T E N obs"], state: Float[Array, "T E S"],
        actions: Int[Array, "T E N"], avail: Bool[Array, "T E N A"], first: Bool[Array, "T E"], order: Int[Array, " N"],
    ) -> tuple[Float[Array, "T E N A"], Float[Array, "T E N"]]:
        """Teacher-forced conditional logits of every agent (decoded in `order`) and the values,
        for a rollout. `memory` is each environment's state before the rollout (`[E, ...]` leaves)."""

    @abc.abstractmethod
    def values(
        self, net: JointPolicyNet, memory: JointMemory, batch: Trajectory,
    ) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"]]:
        """V(s_t) and V(s'_t) (from the next, or final, observation) of every agent-step of a rollout."""

    # ------------------------------------------------------------------ shared
    def inputs(self, obs: Float[Array, "*b N obs"], state: Float[Array, "*b S"]) -> Array:
        """One token per agent: its observation, the global state (if `use_state`) and its id."""
        if self.config.use_state:
            obs = jnp.concatenate([obs, jnp.broadcast_to(state[..., None, :], (*obs.shape[:-1], state.shape[-1]))], -1)
        return jnp.vectorize(lambda o: agent_inputs(o, True), signature="(n,d)->(n,k)")(obs)

    def in_dim(self, info: EnvInfo) -> int:
        return info.obs_dim + (info.state_dim if self.config.use_state else 0) + info.num_agents

    def order(self, key: PRNGKeyArray, n: int) -> Int[Array, " N"]:
        """The order agents are decoded in during an update epoch (identity when not shuffling)."""
        return jax.random.permutation(key, n) if self.config.shuffle_agents else jnp.arange(n)

    def advantages(
        self, net: JointPolicyNet, memory: JointMemory, batch: Trajectory,
    ) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"], Float[Array, "T E N"]]:
        """Values V(s_t), per-agent GAE advantages and value targets on the shared reward."""
        c = self.config
        values, next_values = self.values(net, memory, batch)
        adv, targets = agent_advantages(batch.reward, values, next_values, batch.terminated, batch.truncated,
                                        c.gamma, c.gae_lambda)
        return values, adv, targets


class MATJointPolicy(JointPolicy):
    """MAT's transformer: every step is evaluated on its own (no memory)."""

    def make(self, info: EnvInfo, key: PRNGKeyArray) -> AutoregressivePolicy:
        c = self.config
        return AutoregressivePolicy(self.in_dim(info), info.num_actions, dim=c.dim, blocks=c.blocks, heads=c.heads,
                                    discrete=info.discrete, key=key)

    def memory(self) -> Float[Array, ""]:
        return jnp.zeros((), jnp.float32)

    def sample(
        self, net: AutoregressivePolicy, memory: Float[Array, ""], key: PRNGKeyArray, timestep: TimeStep,
        greedy: bool,
    ) -> tuple[Int[Array, " N"], Float[Array, " N"], Float[Array, ""]]:
        x = self.inputs(timestep.obs, timestep.state)
        actions, logp, _ = net.sample(key, x, timestep.avail_actions, jnp.arange(x.shape[0]), greedy)
        return actions, logp, memory

    def logits_values(
        self, net: AutoregressivePolicy, memory: Float[Array, " E"], obs: Float[Array, "T E N obs"],
        state: Float[Array, "T E S"], actions: Int[Array, "T E N"], avail: Bool[Array, "T E N A"],
        first: Bool[Array, "T E"], order: Int[Array, " N"],
    ) -> tuple[Float[Array, "T E N A"], Float[Array, "T E N"]]:
        fn = lambda xs, a, m: net.conditional_logits(xs, a, m, order)
        return jax.vmap(jax.vmap(fn))(self.inputs(obs, state), actions, avail)

    def values(
        self, net: AutoregressivePolicy, memory: Float[Array, " E"], batch: Trajectory,
    ) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"]]:
        x, next_x = self.inputs(batch.obs, batch.state), self.inputs(batch.next_obs, batch.next_state)
        # One encoder call for both (a second call would double the compiled program).
        both = jax.vmap(jax.vmap(lambda xs: net.encode(xs)[1]))(jnp.concatenate([x, next_x]))
        values, next_values = jnp.split(both, 2)
        return values, next_values


class SableJointPolicy(JointPolicy):
    """Sable's retentive network: each environment's rollout is replayed in order from its memory."""

    def make(self, info: EnvInfo, key: PRNGKeyArray) -> RetentivePolicy:
        c = self.config
        return RetentivePolicy(self.in_dim(info), info.num_actions, dim=c.dim, blocks=c.blocks, heads=c.heads,
                               decay_scaling=c.decay_scaling, discrete=info.discrete, key=key)

    def memory(self) -> JointMemory:
        return zero_memory(self.config.dim, self.config.blocks, self.config.heads)

    def sample(
        self, net: RetentivePolicy, memory: JointMemory, key: PRNGKeyArray, timestep: TimeStep, greedy: bool,
    ) -> tuple[Int[Array, " N"], Float[Array, " N"], JointMemory]:
        x = self.inputs(timestep.obs, timestep.state)
        actions, logp, _, memory = net.sample(key, memory, x, timestep.avail_actions, jnp.arange(x.shape[0]), greedy)
        return actions, logp, memory

    def logits_values(
        self, net: RetentivePolicy, memory: JointMemory, obs: Float[Array, "T E N obs"], state: Float[Array, "T E S"],
        actions: Int[Array, "T E N"], avail: Bool[Array, "T E N A"], first: Bool[Array, "T E"], order: Int[Array, " N"],
    ) -> tuple[Float[Array, "T E N A"], Float[Array, "T E N"]]:
        replay = lambda m, xs, a, av, f: net.sequence(m, xs, a, av, f, order)[:2]
        return jax.vmap(replay, in_axes=(0, 1, 1, 1, 1), out_axes=1)(memory, self.inputs(obs, state), actions, avail,
                                                                      first)

    def values(
        self, net: RetentivePolicy, memory: JointMemory, batch: Trajectory,
    ) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"]]:
        x, next_x = self.inputs(batch.obs, batch.state), self.inputs(batch.next_obs, batch.next_state)
        fn = lambda m, xs, nxs, f: net.sequence_values(m, xs, nxs, f)
        return jax.vmap(fn, in_axes=(0, 1, 1, 1), out_axes=1)(memory, x, next_x, batch.first)


def joint_policy(config: MATConfig) -> JointPolicy:
    """The joint policy that `config.architecture` names."""
    return {"mat": MATJointPolicy, "sable": SableJointPolicy}[config.architecture](config)
