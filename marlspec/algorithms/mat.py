"""MAT (Wen et al. 2022): PPO on an autoregressive joint policy. CTCE, an upper reference.

MAT acts with the joint policy in *both* modes: `behaviour` and `execution` are the same
centralized, sequential policy (agent i_j sees the actions of i_1..i_{j-1}), so it cannot
be deployed decentrally and evaluation reports one return.

- Joint policy: `nn.AutoregressivePolicy`, one token per agent (observation ⊕ global
  state ⊕ one-hot agent id); its encoder gives each agent a centralized value.
- Acting: agents sample in index order 0..N-1. Training: the agents are re-ordered by a
  random permutation each epoch (`shuffle_agents`, as Mava's Sable/MAGPO code does), and
  every agent's conditional is evaluated in parallel under the causal mask. With
  shuffling the importance ratio compares conditionals under different orders; it is exact
  with `shuffle_agents: false`.
- Update: per-agent GAE on the shared reward, PPO clip, clipped value loss and entropy
  bonus, over `epochs x minibatches` of whole environment sequences (`onpolicy`).

The guider helpers here (`guider_inputs`, `agent_order`, `guider_logits_values`) are
reused by MAGPO/CTDS, whose guider is this same joint policy.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.onpolicy import agent_advantages, minibatch_epochs, ppo_adam, take_envs
from marlspec.algorithms.ppo import PPOConfig, agent_inputs
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import AutoregressivePolicy
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj


@dataclasses.dataclass(frozen=True)
class MATConfig(PPOConfig):
    dim: int = 64
    blocks: int = 1
    heads: int = 1
    shuffle_agents: bool = True
    use_state: bool = True


def guider_inputs(c: MATConfig, obs: Float[Array, "*b N obs"], state: Float[Array, "*b S"]) -> Array:
    """One token per agent: its observation, the global state (if `use_state`) and its id."""
    if c.use_state:
        obs = jnp.concatenate([obs, jnp.broadcast_to(state[..., None, :], (*obs.shape[:-1], state.shape[-1]))], -1)
    return jnp.vectorize(lambda o: agent_inputs(o, True), signature="(n,d)->(n,k)")(obs)


def guider_in_dim(c: MATConfig, info: EnvInfo) -> int:
    return info.obs_dim + (info.state_dim if c.use_state else 0) + info.num_agents


def make_guider(c: MATConfig, info: EnvInfo, key: PRNGKeyArray) -> AutoregressivePolicy:
    return AutoregressivePolicy(guider_in_dim(c, info), info.num_actions, dim=c.dim, blocks=c.blocks,
                                heads=c.heads, discrete=info.discrete, key=key)


def agent_order(c: MATConfig, key: PRNGKeyArray, n: int) -> Int[Array, " N"]:
    """The order agents are decoded in during an update epoch (identity when not shuffling)."""
    return jax.random.permutation(key, n) if c.shuffle_agents else jnp.arange(n)


def guider_logits_values(
    c: MATConfig, guider: AutoregressivePolicy, obs: Float[Array, "T E N obs"], state: Float[Array, "T E S"],
    actions: Int[Array, "T E N"], avail: Bool[Array, "T E N A"], order: Int[Array, " N"],
) -> tuple[Float[Array, "T E N A"], Float[Array, "T E N"]]:
    """Teacher-forced conditional logits of every agent and the values, for a batch of steps."""
    fn = lambda x, a, m: guider.conditional_logits(x, a, m, order)
    return jax.vmap(jax.vmap(fn))(guider_inputs(c, obs, state), actions, avail)


def guider_values(c: MATConfig, guider: AutoregressivePolicy, obs: Array, state: Array) -> Float[Array, "T E N"]:
    return jax.vmap(jax.vmap(lambda x: guider.encode(x)[1]))(guider_inputs(c, obs, state))


def batch_advantages(c: MATConfig, guider: AutoregressivePolicy, batch: Trajectory) -> tuple[Array, Array, Array]:
    """Guider values V(s_t), GAE advantages and value targets, per (t, env, agent)."""
    # One encoder call for both (a second call would double the compiled program).
    both = guider_values(c, guider, jnp.concatenate([batch.obs, batch.next_obs]),
                         jnp.concatenate([batch.state, batch.next_state]))
    values, next_values = jnp.split(both, 2)
    adv, targets = agent_advantages(batch.reward, values, next_values, batch.terminated, batch.truncated,
                                    c.gamma, c.gae_lambda)
    return values, adv, targets


class MATState(eqx.Module):
    policy: AutoregressivePolicy
    opt_state: optax.OptState


class MAT(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: MATConfig = eqx.field(static=True)

    def optimizer(self) -> optax.GradientTransformation:
        return ppo_adam(self.config, flat=True)

    def init(self, key: PRNGKeyArray) -> MATState:
        policy = make_guider(self.config, self.info, key)
        return MATState(policy, self.optimizer().init(eqx.filter(policy, eqx.is_inexact_array)))

    def initial_carry(self) -> Float[Array, ""]:
        return jnp.zeros((), jnp.float32)

    def act(
        self, state: MATState, timestep: TimeStep, carry: Array, key: PRNGKeyArray, mode: Mode, greedy: bool = False,
    ) -> tuple[Array, Array, dict[str, Array]]:
        # CTCE: both modes run the joint policy.
        x = guider_inputs(self.config, timestep.obs, timestep.state)
        order = jnp.arange(self.info.num_agents)
        actions, logp, _ = state.policy.sample(key, x, timestep.avail_actions, order, greedy)
        return actions, carry, {"log_prob": logp}

    def update(self, state: MATState, batch: Trajectory, key: PRNGKeyArray) -> tuple[MATState, dict[str, Array]]:
        c = self.config
        values, adv, targets = batch_advantages(c, state.policy, batch)
        mask = batch.agent_mask.astype(jnp.float32)
        optimizer = self.optimizer()

        def loss_fn(policy: AutoregressivePolicy, idx: Array, order: Array) -> tuple[Array, dict[str, Array]]:
            obs, st, actions, avail, old_logp, m, a, old_v, tgt = take_envs(
                (batch.obs, batch.state, batch.actions, batch.avail_actions, batch.extras["log_prob"], mask,
                 adv, values, targets), idx)
            logits, v = guider_logits_values(c, policy, obs, st, actions, avail, order)
            logp = fz.log_prob(logits, actions)
            a = obj.normalize(a, m) if c.normalize_advantages else a
            pg = obj.masked_mean(obj.ppo_clip(logp, old_logp, a, c.clip_eps), m)
            ent = obj.masked_mean(fz.entropy(logits), m)
            vl = obj.masked_mean(obj.value_loss(v, old_v, tgt, c.value_clip_eps), m)
            log_ratio = logp - old_logp
            stats = {"policy_loss": pg, "value_loss": vl, "entropy": ent,
                     "approx_kl": obj.masked_mean((jnp.exp(log_ratio) - 1) - log_ratio, m)}
            return pg + c.vf_coef * vl - c.ent_coef * ent, stats

        def step(st: MATState, idx: Array, k_epoch: PRNGKeyArray) -> tuple[MATState, dict[str, Array]]:
            order = agent_order(c, k_epoch, self.info.num_agents)
            grads, stats = eqx.filter_grad(loss_fn, has_aux=True)(st.policy, idx, order)
            params = eqx.filter(st.policy, eqx.is_inexact_array)
            updates, opt_state = optimizer.update(grads, st.opt_state, params)
            return MATState(eqx.apply_updates(st.policy, updates), opt_state), stats

        new_state, stats = minibatch_epochs(step, state, key, batch.reward.shape[1], c.epochs, c.num_minibatches)
        metrics = {k: v.mean() for k, v in stats.items()}
        metrics["value_mean"] = obj.masked_mean(values, mask)
        return new_state, metrics
