"""IPPO and MAPPO: PPO with parameter sharing across agents.

- Actor: one shared network over each agent's local observation (plus a one-hot
  agent id), feed-forward or GRU (`marlspec.nn`).
- Critic: IPPO uses the agent's observation; MAPPO (Yu et al. 2022) a centralized
  critic on the global state plus the agent id.
- Update: GAE (`primitives.returns.gae`), clipped surrogate and clipped value loss
  (`primitives.objectives`), entropy bonus, global gradient-norm clipping, and
  `epochs x num_minibatches` passes. Minibatches hold whole environment sequences, so
  recurrent networks are replayed from the rollout's initial hidden state with resets
  at episode starts (`Trajectory.first`), exactly as during the rollout.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.onpolicy import (  # PPOConfig and agent_inputs are re-exported here
    PPOConfig,
    agent_advantages,
    agent_inputs,
    critic_values,
    gradient_epochs,
    ppo_adam,
    ppo_policy_terms,
    unroll_streams,
)
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import Net, TorsoFactory
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj


class PPOState(eqx.Module):
    actor: Net
    critic: Net
    opt_state: optax.OptState
    log_std: Float[Array, " D"]
    """State-independent log standard deviation (continuous actions; unused for discrete)."""


class PPO(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: PPOConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)

    # ------------------------------------------------------------------ inputs
    def actor_inputs(self, obs: Float[Array, "*b N obs"]) -> Array:
        return jnp.vectorize(lambda o: agent_inputs(o, self.config.agent_id), signature="(n,d)->(n,k)")(obs)

    def critic_inputs(self, obs: Float[Array, "*b N obs"], state: Float[Array, "*b S"]) -> Array:
        if self.config.centralized_critic:
            n = self.info.num_agents
            tiled = jnp.broadcast_to(state[..., None, :], (*state.shape[:-1], n, state.shape[-1]))
            return jnp.vectorize(lambda s: agent_inputs(s, True), signature="(n,d)->(n,k)")(tiled)
        return self.actor_inputs(obs)

    def optimizer(self) -> optax.GradientTransformation:
        return ppo_adam(self.config)

    # -------------------------------------------------------------- interface
    def init(self, key: PRNGKeyArray) -> PPOState:
        k1, k2 = jax.random.split(key)
        n, info = self.info.num_agents, self.info
        id_dim = n if self.config.agent_id else 0
        critic_in = (info.state_dim + n) if self.config.centralized_critic else info.obs_dim + id_dim
        actor = Net(self.make_torso, info.obs_dim + id_dim, info.num_actions, 0.01, key=k1)
        critic = Net(self.make_torso, critic_in, 1, 1.0, key=k2)
        log_std = jnp.full((info.num_actions if not info.discrete else 1,), -0.5, jnp.float32)
        opt_state = self.optimizer().init(eqx.filter((actor, critic, log_std), eqx.is_inexact_array))
        return PPOState(actor, critic, opt_state, log_std)

    def policy(self, log_std: Float[Array, " D"], out: Float[Array, "*b A"], avail: Bool[Array, "*b A"]) -> dict[str, Array]:
        """Distribution parameters from the actor head: masked logits, or a Gaussian mean and log-std."""
        if self.info.discrete:
            return {"logits": fz.mask_logits(out, avail)}
        return {"mean": out, "log_std": jnp.broadcast_to(log_std, out.shape)}

    def log_prob_entropy(self, dist: dict[str, Array], actions: Array) -> tuple[Array, Array]:
        if self.info.discrete:
            return fz.log_prob(dist["logits"], actions), fz.entropy(dist["logits"])
        return fz.gaussian_log_prob(dist["mean"], dist["log_std"], actions), fz.gaussian_entropy(dist["log_std"])

    def initial_carry(self) -> tuple[Array, Array]:
        n = self.info.num_agents
        h = jnp.zeros((n, self.make_torso.hidden_dim), jnp.float32)
        return h, h

    def act(
        self, state: PPOState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        actor_h, critic_h = carry
        no_reset = jnp.zeros((self.info.num_agents,), bool)
        actor_h, out = jax.vmap(state.actor)(actor_h, self.actor_inputs(timestep.obs), no_reset)
        dist = self.policy(state.log_std, out, timestep.avail_actions)
        if self.info.discrete:
            actions, logp = fz.independent_sample(key, dist["logits"], greedy)
        else:
            actions, logp = fz.gaussian_sample(key, dist["mean"], dist["log_std"], greedy)
        critic_h, _ = jax.vmap(state.critic)(critic_h, self.critic_inputs(timestep.obs, timestep.state), no_reset)
        return actions, (actor_h, critic_h), {"log_prob": logp}

    # ------------------------------------------------------------------ update
    def _unroll(self, net: Net, h0: Float[Array, "E N H"], xs: Array, first: Bool[Array, "T E"]) -> tuple[Array, Array]:
        """Replay `net` over [T, E, N, d] inputs per (env, agent) stream: hidden states and outputs."""
        return unroll_streams(net, h0, xs, first)

    def _values(self, critic: Net, batch: Trajectory) -> tuple[Float[Array, "T E N"], Float[Array, "T E N"]]:
        """V(s_t) and V(s'_t) (from the final observation where the episode ended)."""
        xs, next_xs = self.critic_inputs(batch.obs, batch.state), self.critic_inputs(batch.next_obs, batch.next_state)
        return critic_values(critic, batch.init_carry[1], xs, next_xs, batch.first)

    def update(self, state: PPOState, batch: Trajectory, key: PRNGKeyArray) -> tuple[PPOState, dict[str, Array]]:
        c = self.config
        values, next_values = self._values(state.critic, batch)
        adv, targets = agent_advantages(
            batch.reward, values, next_values, batch.terminated, batch.truncated, c.gamma, c.gae_lambda
        )
        mask = batch.agent_mask.astype(jnp.float32)
        num_envs = batch.reward.shape[1]

        def loss_fn(nets: tuple[Net, Net, Array], idx: Array, _: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
            actor, critic, log_std = nets
            take = lambda x: jnp.take(x, idx, axis=1)
            h_actor, h_critic = (jnp.take(h, idx, axis=0) for h in batch.init_carry)
            first, m = take(batch.first), take(mask)
            _, out = self._unroll(actor, h_actor, self.actor_inputs(take(batch.obs)), first)
            dist = self.policy(log_std, out, take(batch.avail_actions))
            logp, entropies = self.log_prob_entropy(dist, take(batch.actions))
            terms = ppo_policy_terms(logp, take(batch.extras["log_prob"]), take(adv), entropies, m, c.clip_eps,
                                     c.normalize_advantages)
            _, v = self._unroll(critic, h_critic, self.critic_inputs(take(batch.obs), take(batch.state)), first)
            vl = obj.masked_mean(obj.value_loss(v[..., 0], take(values), take(targets), c.value_clip_eps), m)
            total = terms["policy_loss"] + c.vf_coef * vl - c.ent_coef * terms["entropy"]
            return total, {**terms, "value_loss": vl}

        nets = (state.actor, state.critic, state.log_std)
        (actor, critic, log_std), opt_state, metrics = gradient_epochs(
            loss_fn, nets, state.opt_state, self.optimizer(), key, num_envs, c.epochs, c.num_minibatches)
        new_state = PPOState(actor, critic, opt_state, log_std)
        metrics["value_mean"] = obj.masked_mean(values, mask)
        return new_state, metrics
