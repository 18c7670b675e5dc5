"""HAPPO: heterogeneous-agent PPO (Kuba et al. 2022, "Trust region policy optimisation in
multi-agent reinforcement learning").

- Actors: one network *per agent* (no parameter sharing). They are built with
  `eqx.filter_vmap` over per-agent keys, so every array leaf has a leading agent axis, and
  applied with `eqx.filter_vmap` over that axis. Torso from the spec's `network`.
- Critic: one shared, centralized critic on the global state plus the agent id (as MAPPO).
- Update: per-agent GAE; the critic is fitted first (`epochs x minibatches`, clipped value
  loss times `vf_coef`, with its own optimiser). Then the agents are updated one after
  another in a fresh random order i_1..i_N: agent i_m runs `epochs x minibatches` of
  `objectives.happo_clip`, whose advantage is weighted by
  M = prod_{k<m} pi_new^{i_k} / pi_old^{i_k} (the agents already updated); afterwards M is
  multiplied by agent i_m's own new/old ratio on the whole rollout. This is the sequential
  scheme that the multi-agent advantage decomposition (MAGPO's Lemma 1, eq. 5) justifies.
  Each agent keeps its own Adam state (stacked like the actors).

Spec: `algorithm: {kind: happo}`; `algorithm.share_parameters` must stay false.
Discrete actions.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.onpolicy import (
    agent_advantages,
    critic_values,
    gradient_epochs,
    ppo_adam,
    ppo_policy_terms,
    take_envs,
    unroll_streams,
)
from marlspec.algorithms.ppo import PPO, PPOConfig
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import Net, TorsoFactory
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj


def agent_slice(stacked: Any, i: Array) -> Any:
    """Agent i's module (or optimiser state) out of a stack with a leading agent axis."""
    dynamic, static = eqx.partition(stacked, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[i], dynamic), static)


def set_agent(stacked: Any, i: Array, one: Any) -> Any:
    """Write agent i's module back into the stack."""
    dynamic, static = eqx.partition(stacked, eqx.is_array)
    new = jax.tree.map(lambda x, y: x.at[i].set(y), dynamic, eqx.filter(one, eqx.is_array))
    return eqx.combine(new, static)


class HAPPOState(eqx.Module):
    actors: Net
    """Per-agent actors, stacked: every array leaf has a leading axis of size N."""
    critic: Net
    actor_opt: optax.OptState
    critic_opt: optax.OptState


class HAPPO(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: PPOConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)

    @property
    def ppo(self) -> PPO:
        """MAPPO's input conventions (agent id, centralized critic input) and initial carry."""
        return PPO(info=self.info, config=self.config, make_torso=self.make_torso)

    def optimizer(self) -> optax.GradientTransformation:
        return ppo_adam(self.config)

    def init(self, key: PRNGKeyArray) -> HAPPOState:
        if not self.info.discrete:
            raise NotImplementedError("HAPPO supports discrete actions only")
        k_actor, k_critic = jax.random.split(key)
        info, n, opt = self.info, self.info.num_agents, self.optimizer()
        actor_in = info.obs_dim + (n if self.config.agent_id else 0)
        make_actor = lambda k: Net(self.make_torso, actor_in, info.num_actions, 0.01, key=k)
        actors = eqx.filter_vmap(make_actor)(jax.random.split(k_actor, n))
        critic = Net(self.make_torso, info.state_dim + n, 1, 1.0, key=k_critic)
        actor_opt = eqx.filter_vmap(lambda a: opt.init(eqx.filter(a, eqx.is_inexact_array)))(actors)
        return HAPPOState(actors, critic, actor_opt, opt.init(eqx.filter(critic, eqx.is_inexact_array)))

    def initial_carry(self) -> tuple[Array, Array]:
        return self.ppo.initial_carry()

    def act(
        self, state: HAPPOState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        actor_h, critic_h = carry
        no_reset = jnp.zeros((self.info.num_agents,), bool)
        per_agent = eqx.filter_vmap(lambda net, h, x, r: net(h, x, r))
        actor_h, logits = per_agent(state.actors, actor_h, self.ppo.actor_inputs(timestep.obs), no_reset)
        actions, logp = fz.independent_sample(key, fz.mask_logits(logits, timestep.avail_actions), greedy)
        critic_in = self.ppo.critic_inputs(timestep.obs, timestep.state)
        critic_h, _ = jax.vmap(state.critic)(critic_h, critic_in, no_reset)
        return actions, (actor_h, critic_h), {"log_prob": logp}

    def update(self, state: HAPPOState, batch: Trajectory, key: PRNGKeyArray) -> tuple[HAPPOState, dict[str, Array]]:
        c, n, num_envs = self.config, self.info.num_agents, batch.reward.shape[1]
        optimizer = self.optimizer()
        h_actor, h_critic = batch.init_carry
        critic_xs = self.ppo.critic_inputs(batch.obs, batch.state)
        values, next_values = critic_values(state.critic, h_critic, critic_xs,
                                            self.ppo.critic_inputs(batch.next_obs, batch.next_state), batch.first)
        adv, targets = agent_advantages(batch.reward, values, next_values, batch.terminated, batch.truncated,
                                        c.gamma, c.gae_lambda)
        mask = batch.agent_mask.astype(jnp.float32)
        k_critic, k_order, k_agents = jax.random.split(key, 3)

        # 1. the shared critic
        def critic_loss(net: Net, idx: Array, _: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
            xs, first, m, old_v, tgt = take_envs((critic_xs, batch.first, mask, values, targets), idx)
            h0 = jnp.take(h_critic, idx, axis=0)
            _, v = unroll_streams(net, h0, xs, first)
            vl = obj.masked_mean(obj.value_loss(v[..., 0], old_v, tgt, c.value_clip_eps), m)
            # Weighted by vf_coef as in Mava's separate-critic PPO losses: with its own Adam,
            # the weight acts only through the gradient-norm clip and Adam's epsilon.
            return c.vf_coef * vl, {"value_loss": vl}

        critic, critic_opt, critic_stats = gradient_epochs(
            critic_loss, state.critic, state.critic_opt, optimizer, k_critic, num_envs, c.epochs, c.num_minibatches)

        # 2. the actors, one after another in a random order
        actor_xs = self.ppo.actor_inputs(batch.obs)
        old_logp = batch.extras["log_prob"]

        def agent_data(x: Array, i: Array) -> Array:  # keep a singleton agent axis for `unroll_streams`
            return jnp.take(x, i[None], axis=2)

        def agent_update(carry: tuple[Net, optax.OptState, Array], inp: tuple[Array, PRNGKeyArray]) -> tuple[tuple[Net, optax.OptState, Array], dict[str, Array]]:
            actors, actor_opt, factor = carry
            i, k = inp
            xs, avail = agent_data(actor_xs, i), agent_data(batch.avail_actions, i)
            actions, old, a_i, m_i = (agent_data(x, i) for x in (batch.actions, old_logp, adv, mask))
            h0 = jnp.take(h_actor, i[None], axis=1)

            def log_probs(net: Net, idx: Array | None) -> tuple[Array, Array]:
                sel = (lambda x: x) if idx is None else (lambda x: jnp.take(x, idx, axis=1))
                h = h0 if idx is None else jnp.take(h0, idx, axis=0)
                _, out = unroll_streams(net, h, sel(xs), sel(batch.first))
                logits = fz.mask_logits(out, sel(avail))
                return fz.log_prob(logits, sel(actions)), fz.entropy(logits)

            def loss(net: Net, idx: Array, _: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
                logp, ent = log_probs(net, idx)
                old_mb, a, m, f = take_envs((old, a_i, m_i, factor[..., None]), idx)
                terms = ppo_policy_terms(logp, old_mb, a, ent, m, c.clip_eps, c.normalize_advantages,
                                         lambda adv: obj.happo_clip(logp, old_mb, adv, f, c.clip_eps))
                return terms["policy_loss"] - c.ent_coef * terms["entropy"], terms

            net, opt_i, stats = gradient_epochs(loss, agent_slice(actors, i), agent_slice(actor_opt, i), optimizer, k,
                                                num_envs, c.epochs, c.num_minibatches)
            new_logp, _ = log_probs(net, None)
            ratio = jnp.where(m_i > 0, jnp.exp(new_logp - old), 1.0)[..., 0]
            return (set_agent(actors, i, net), set_agent(actor_opt, i, opt_i), factor * ratio), stats

        order = jax.random.permutation(k_order, n)
        start = (state.actors, state.actor_opt, jnp.ones(batch.reward.shape, jnp.float32))
        (actors, actor_opt, factor), actor_stats = jax.lax.scan(agent_update, start, (order, jax.random.split(k_agents, n)))
        metrics = {**critic_stats, **{k: v.mean() for k, v in actor_stats.items()}}
        metrics["value_mean"] = obj.masked_mean(values, mask)
        metrics["factor_mean"] = factor.mean()
        return HAPPOState(actors, critic, actor_opt, critic_opt), metrics
