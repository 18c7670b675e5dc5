"""MAT (Wen et al. 2022): PPO on an autoregressive joint policy. CTCE, an upper reference.

MAT acts with the joint policy in *both* modes: `behaviour` and `execution` are the same
centralized, sequential policy (agent i_j sees the actions of i_1..i_{j-1}), so it cannot
be deployed decentrally and evaluation reports one return.

- Joint policy: `nn.AutoregressivePolicy`, one token per agent (observation ⊕ global
  state ⊕ one-hot agent id); its encoder gives each agent a centralized value. With
  `architecture: sable` it is Sable's retentive network instead (`nn.RetentivePolicy`,
  Mahjoub et al. 2025), which also remembers the episode's earlier steps: its memory is
  the carry while acting, and the update replays each environment's rollout in order from
  the carry stored at the rollout start. PPO on it is the Sable baseline.
- Acting: agents sample in index order 0..N-1. Training: the agents are re-ordered by a
  random permutation each epoch (`shuffle_agents`, as Mava's Sable/MAGPO code does), and
  every agent's conditional is evaluated in parallel under the causal mask. With
  shuffling the importance ratio compares conditionals under different orders; it is exact
  with `shuffle_agents: false`.
- Update: per-agent GAE on the shared reward, PPO clip, clipped value loss and entropy
  bonus, over `epochs x minibatches` of whole environment sequences (`onpolicy`).

The guider helpers here (`guider_inputs`, `guider_sample`, `agent_order`,
`guider_logits_values`, `batch_advantages`) are reused by MAGPO/CTDS, whose guider is this
same joint policy (MAGPO's default in the paper is Sable; ours is MAT).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.onpolicy import agent_advantages, gradient_epochs, ppo_adam, ppo_policy_terms, take_envs
from marlspec.algorithms.ppo import PPOConfig, agent_inputs
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import AutoregressivePolicy, RetentivePolicy
from marlspec.nn.retention import zero_memory
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj


@dataclasses.dataclass(frozen=True)
class MATConfig(PPOConfig):
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


JointPolicy = AutoregressivePolicy | RetentivePolicy
GuiderMemory = Any
"""The joint policy's recurrent state for one environment: Sable's retention memory, or an
unused scalar for MAT's memoryless attention."""


def guider_inputs(c: MATConfig, obs: Float[Array, "*b N obs"], state: Float[Array, "*b S"]) -> Array:
    """One token per agent: its observation, the global state (if `use_state`) and its id."""
    if c.use_state:
        obs = jnp.concatenate([obs, jnp.broadcast_to(state[..., None, :], (*obs.shape[:-1], state.shape[-1]))], -1)
    return jnp.vectorize(lambda o: agent_inputs(o, True), signature="(n,d)->(n,k)")(obs)


def guider_in_dim(c: MATConfig, info: EnvInfo) -> int:
    return info.obs_dim + (info.state_dim if c.use_state else 0) + info.num_agents


def make_guider(c: MATConfig, info: EnvInfo, key: PRNGKeyArray) -> JointPolicy:
    if c.architecture == "sable":
        return RetentivePolicy(guider_in_dim(c, info), info.num_actions, dim=c.dim, blocks=c.blocks, heads=c.heads,
                               decay_scaling=c.decay_scaling, discrete=info.discrete, key=key)
    return AutoregressivePolicy(guider_in_dim(c, info), info.num_actions, dim=c.dim, blocks=c.blocks,
                                heads=c.heads, discrete=info.discrete, key=key)


def guider_memory(c: MATConfig) -> GuiderMemory:
    """The joint policy's state at an episode start."""
    return zero_memory(c.dim, c.blocks, c.heads) if c.architecture == "sable" else jnp.zeros((), jnp.float32)


def agent_order(c: MATConfig, key: PRNGKeyArray, n: int) -> Int[Array, " N"]:
    """The order agents are decoded in during an update epoch (identity when not shuffling)."""
    return jax.random.permutation(key, n) if c.shuffle_agents else jnp.arange(n)


def guider_sample(
    c: MATConfig, guider: JointPolicy, memory: GuiderMemory, key: PRNGKeyArray, timestep: TimeStep, greedy: bool,
) -> tuple[Int[Array, " N"], Float[Array, " N"], GuiderMemory]:
    """One environment's joint action, sampled agent by agent in index order, each agent's
    conditional log-probability, and the joint policy's next state."""
    x = guider_inputs(c, timestep.obs, timestep.state)
    order = jnp.arange(x.shape[0])
    if isinstance(guider, RetentivePolicy):
        actions, logp, _, memory = guider.sample(key, memory, x, timestep.avail_actions, order, greedy)
    else:
        actions, logp, _ = guider.sample(key, x, timestep.avail_actions, order, greedy)
    return actions, logp, memory


def guider_logits_values(
    c: MATConfig, guider: JointPolicy, memory: GuiderMemory, obs: Float[Array, "T E N obs"],
    state: Float[Array, "T E S"], actions: Int[Array, "T E N"], avail: Bool[Array, "T E N A"],
    first: Bool[Array, "T E"], order: Int[Array, " N"],
) -> tuple[Float[Array, "T E N A"], Float[Array, "T E N"]]:
    """Teacher-forced conditional logits of every agent and the values, for a batch of steps.
    `memory` is each environment's joint-policy state before the rollout (`[E, ...]` leaves);
    Sable replays each environment's steps in sequence from it, MAT evaluates steps independently."""
    x = guider_inputs(c, obs, state)
    if isinstance(guider, RetentivePolicy):
        replay = lambda m, xs, a, av, f: guider.sequence(m, xs, a, av, f, order)[:2]
        return jax.vmap(replay, in_axes=(0, 1, 1, 1, 1), out_axes=1)(memory, x, actions, avail, first)
    fn = lambda xs, a, m: guider.conditional_logits(xs, a, m, order)
    return jax.vmap(jax.vmap(fn))(x, actions, avail)


def batch_advantages(
    c: MATConfig, guider: JointPolicy, batch: Trajectory, memory: GuiderMemory,
) -> tuple[Array, Array, Array]:
    """Guider values V(s_t), GAE advantages and value targets, per (t, env, agent)."""
    x = guider_inputs(c, batch.obs, batch.state)
    next_x = guider_inputs(c, batch.next_obs, batch.next_state)
    if isinstance(guider, RetentivePolicy):
        fn = lambda m, xs, nxs, f: guider.sequence_values(m, xs, nxs, f)
        values, next_values = jax.vmap(fn, in_axes=(0, 1, 1, 1), out_axes=1)(memory, x, next_x, batch.first)
    else:
        # One encoder call for both (a second call would double the compiled program).
        both = jax.vmap(jax.vmap(lambda xs: guider.encode(xs)[1]))(jnp.concatenate([x, next_x]))
        values, next_values = jnp.split(both, 2)
    adv, targets = agent_advantages(batch.reward, values, next_values, batch.terminated, batch.truncated,
                                    c.gamma, c.gae_lambda)
    return values, adv, targets


class MATState(eqx.Module):
    policy: JointPolicy
    opt_state: optax.OptState


class MAT(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: MATConfig = eqx.field(static=True)

    def optimizer(self) -> optax.GradientTransformation:
        return ppo_adam(self.config, flat=True)

    def init(self, key: PRNGKeyArray) -> MATState:
        policy = make_guider(self.config, self.info, key)
        return MATState(policy, self.optimizer().init(eqx.filter(policy, eqx.is_inexact_array)))

    def initial_carry(self) -> GuiderMemory:
        return guider_memory(self.config)

    def act(
        self, state: MATState, timestep: TimeStep, carry: GuiderMemory, key: PRNGKeyArray, mode: Mode,
        greedy: bool = False,
    ) -> tuple[Array, GuiderMemory, dict[str, Array]]:
        # CTCE: both modes run the joint policy.
        actions, logp, carry = guider_sample(self.config, state.policy, carry, key, timestep, greedy)
        return actions, carry, {"log_prob": logp}

    def update(self, state: MATState, batch: Trajectory, key: PRNGKeyArray) -> tuple[MATState, dict[str, Array]]:
        c = self.config
        values, adv, targets = batch_advantages(c, state.policy, batch, batch.init_carry)
        mask = batch.agent_mask.astype(jnp.float32)

        def loss_fn(policy: JointPolicy, idx: Array, k_epoch: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
            order = agent_order(c, k_epoch, self.info.num_agents)
            obs, st, actions, avail, first, old_logp, m, a, old_v, tgt = take_envs(
                (batch.obs, batch.state, batch.actions, batch.avail_actions, batch.first, batch.extras["log_prob"],
                 mask, adv, values, targets), idx)
            memory = take_envs(batch.init_carry, idx, axis=0)
            logits, v = guider_logits_values(c, policy, memory, obs, st, actions, avail, first, order)
            terms = ppo_policy_terms(fz.log_prob(logits, actions), old_logp, a, fz.entropy(logits), m, c.clip_eps,
                                     c.normalize_advantages)
            vl = obj.masked_mean(obj.value_loss(v, old_v, tgt, c.value_clip_eps), m)
            return terms["policy_loss"] + c.vf_coef * vl - c.ent_coef * terms["entropy"], {**terms, "value_loss": vl}

        policy, opt_state, metrics = gradient_epochs(loss_fn, state.policy, state.opt_state, self.optimizer(), key,
                                                     batch.reward.shape[1], c.epochs, c.num_minibatches)
        new_state = MATState(policy, opt_state)
        metrics["value_mean"] = obj.masked_mean(values, mask)
        return new_state, metrics
