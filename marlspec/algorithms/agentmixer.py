"""AgentMixer: multi-agent correlated policy factorization (Li, Zhao, Wu & Pajarinen, AAAI 2024;
paper 000), trained with PPO on the joint policy.

- **Individual policies** pi_i(a_i | o_i): MAPPO's actors on local observations (shared
  parameters with agent ids, or one actor per agent with `share_parameters: false`). They are
  the *execution* policy.
- **Policy Modifier** (`nn.PolicyModifier`): reads the global state, every agent's observation
  and individual policy, mixes them across agents and features, and emits one head row per
  agent. As in the authors' code (REFERENCE_FACTS), the head is a Gaussian around the
  modifier's output, h = m(s, o, pi) + `head_noise` * e; the unit noise e drawn while acting is
  stored and the update reuses it, so gradients reach m along the sampled path.
- **Individual-Global-Consistency** (`primitives.igc`) builds the *behaviour* (joint) policy:
  discrete: Categorical((l_i + g(h_i)) / tau), g = -log(-log(c sigmoid(h))), tau annealed
  linearly from `tau_start` to `tau_end` over `tau_anneal_steps` environment steps;
  continuous: Normal(individual means, individual std x 2 sigmoid(h)), or with
  `covariance: lowrank` one Gaussian over all agents' actions with covariance
  diag + V V^T, V from the modifier. The joint policy's mode / mean is the individuals'.
- **Update**: PPO (`onpolicy.ppo_policy_terms`) on the joint policy: the ratio is the product
  of the agents' ratios (`ratio: joint`) on the per-step advantage, and the entropy is the
  joint policy's; the critic is MAPPO's centralized V(s, i) on per-agent GAE. Actors, critic
  and modifier take one backward pass; the modifier steps with its own Adam (`mixer_lr`).
- **Ablations** (spec switches): `mixer: false` makes the joint policy the product of the
  individual policies (MAPPO exactly with `ratio: per_agent`; tested); `igc: false` makes it
  the modifier's own output (logits or means from the full state) and trains the individual
  policies only by imitating it, KL(joint || individual) x `imitation_coef`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.onpolicy import (
    adam,
    agent_advantages,
    apply_agents,
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
from marlspec.nn.policy_modifier import PolicyModifier
from marlspec.primitives import factorization as fz
from marlspec.primitives import igc
from marlspec.primitives import objectives as obj


@dataclasses.dataclass(frozen=True)
class AgentMixerConfig:
    """What AgentMixer adds to the PPO family; built by `compile` from the validated spec
    (`spec.algorithms.AgentMixerSpec`, which holds every default)."""

    mixer: bool
    igc: bool
    ratio: Literal["joint", "per_agent"]
    width: int
    agent_hidden: int
    channel_hidden: int
    blocks: int
    mixer_lr: float
    tau_start: float
    tau_end: float
    tau_anneal_steps: int
    gumbel_c: float
    head_noise: float
    covariance: Literal["diagonal", "lowrank"]
    rank: int
    imitation_coef: float
    share_parameters: bool


class AgentMixerState(eqx.Module):
    actor: Net
    """Individual policies: one shared network, or stacked per agent."""
    critic: Net
    log_std: Float[Array, " D"]
    """Individual policies' state-independent log-std (continuous actions)."""
    modifier: PolicyModifier | None
    opt_state: optax.OptState
    env_steps: Array
    """Environment steps trained on so far (drives the tau schedule)."""


class AgentMixer(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: PPOConfig = eqx.field(static=True)
    mix: AgentMixerConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)

    @property
    def ppo(self) -> PPO:
        """MAPPO's inputs, critic, individual distributions and initial carry."""
        return PPO(info=self.info, config=self.config, make_torso=self.make_torso)

    @property
    def distinct_behaviour(self) -> bool:
        return self.mix.mixer

    @property
    def stacked(self) -> bool:
        return not self.mix.share_parameters

    def head_dim(self) -> int:
        """Modifier outputs per agent: a head per action (discrete); a scale per dimension, plus
        the means without IGC, plus the low-rank factor's rows (continuous)."""
        a = self.info.num_actions
        if self.info.discrete:
            return a
        return a * (1 + (not self.mix.igc) + (self.mix.rank if self.mix.covariance == "lowrank" else 0))

    def optimizer(self) -> optax.GradientTransformation:
        """Adam for actors, critic and log-std (train.lr); Adam at `mixer_lr` for the modifier."""
        groups = {"policy": ppo_adam(self.config), "modifier": adam(self.mix.mixer_lr, self.config.max_grad_norm)}
        labels = lambda p: (*jax.tree.map(lambda _: "policy", p[:3]), jax.tree.map(lambda _: "modifier", p[3]))
        return optax.multi_transform(groups, labels)

    def tau(self, env_steps: Array) -> Float[Array, ""]:
        schedule = optax.linear_schedule(self.mix.tau_start, self.mix.tau_end, self.mix.tau_anneal_steps)
        return jnp.asarray(schedule(env_steps), jnp.float32)

    # -------------------------------------------------------------- interface
    def init(self, key: PRNGKeyArray) -> AgentMixerState:
        info, n = self.info, self.info.num_agents
        base = self.ppo.init(key)  # actor, critic and log-std exactly as MAPPO builds them from this key
        k_actors, k_mixer = jax.random.split(jax.random.fold_in(key, 1))
        actor = base.actor
        if self.stacked:
            in_dim = info.obs_dim + (n if self.config.agent_id else 0)
            make = lambda k: Net(self.make_torso, in_dim, info.num_actions, 0.01, key=k)
            actor = eqx.filter_vmap(make)(jax.random.split(k_actors, n))
        modifier = None
        if self.mix.mixer:
            modifier = PolicyModifier(
                n, info.state_dim, info.obs_dim, info.num_actions, self.head_dim(), width=self.mix.width,
                agent_hidden=self.mix.agent_hidden, channel_hidden=self.mix.channel_hidden, blocks=self.mix.blocks,
                key=k_mixer)
        params = (actor, base.critic, base.log_std, modifier)
        opt_state = self.optimizer().init(eqx.filter(params, eqx.is_inexact_array))
        return AgentMixerState(actor, base.critic, base.log_std, modifier, opt_state, jnp.zeros((), jnp.int32))

    def initial_carry(self) -> tuple[Array, Array]:
        return self.ppo.initial_carry()

    def joint_policy(
        self, modifier: PolicyModifier, individual: dict[str, Array], obs: Float[Array, "N O"],
        state: Float[Array, " S"], noise: Float[Array, "N H"], avail: Bool[Array, "N A"], tau: Float[Array, ""],
    ) -> dict[str, Array]:
        """The joint (behaviour) policy of one step from the individual policies and the modifier's
        head h = m + head_noise * noise: masked logits (discrete), or a mean and log-std, plus a
        low-rank `factor` [N D, r] with `covariance: lowrank` (continuous)."""
        m = self.mix
        seen = jax.nn.softmax(individual["logits"], -1) if self.info.discrete else individual["mean"]
        head = modifier(state, obs, seen) + m.head_noise * noise
        if self.info.discrete:
            logits = igc.igc_joint_logits(individual["logits"], head, m.gumbel_c, tau) if m.igc else head
            return {"logits": fz.mask_logits(logits, avail)}
        d = self.info.num_actions
        scale, rest = head[:, :d], head[:, d:]
        mean = individual["mean"]
        if not m.igc:
            mean, rest = rest[:, :d], rest[:, d:]
        dist = {"mean": mean, "log_std": igc.igc_scale(individual["log_std"], scale)}
        if m.covariance == "lowrank":
            dist["factor"] = rest.reshape(-1, m.rank)
        return dist

    def log_prob_entropy(self, dist: dict[str, Array], actions: Array, mask: Array) -> tuple[Array, Array, Array, Array]:
        """Per-agent log-probs and entropies `[..., N]`, and the joint ones `[...]` (the sum over
        the agents present, or the low-rank Gaussian's own)."""
        if "factor" not in dist:
            logp, ent = self.ppo.log_prob_entropy(dist, actions)
            return logp, ent, (logp * mask).sum(-1), (ent * mask).sum(-1)
        flat = lambda x: x.reshape(*x.shape[:-2], -1)
        std = jnp.exp(dist["log_std"])
        joint_logp = jnp.vectorize(igc.lowrank_gaussian_log_prob, signature="(n),(n),(n),(n,r)->()")(
            flat(actions), flat(dist["mean"]), flat(std), dist["factor"])
        joint_ent = jnp.vectorize(igc.lowrank_gaussian_entropy, signature="(n),(n,r)->()")(flat(std), dist["factor"])
        share = lambda x: jnp.broadcast_to(x[..., None] / mask.shape[-1], mask.shape)
        return share(joint_logp), share(joint_ent), joint_logp, joint_ent

    def sample(self, key: PRNGKeyArray, dist: dict[str, Array], greedy: bool) -> Array:
        if self.info.discrete:
            return fz.independent_sample(key, dist["logits"], greedy)[0]
        if "factor" not in dist or greedy:
            return fz.gaussian_sample(key, dist["mean"], dist["log_std"], greedy)[0]
        flat = igc.lowrank_gaussian_sample(key, dist["mean"].reshape(-1), jnp.exp(dist["log_std"]).reshape(-1),
                                           dist["factor"])
        return flat.reshape(dist["mean"].shape)

    def act(
        self, state: AgentMixerState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        ppo, n = self.ppo, self.info.num_agents
        actor_h, critic_h = carry
        no_reset = jnp.zeros((n,), bool)
        actor_h, out = apply_agents(state.actor, actor_h, ppo.actor_inputs(timestep.obs), no_reset, self.stacked)
        critic_h, _ = jax.vmap(state.critic)(critic_h, ppo.critic_inputs(timestep.obs, timestep.state), no_reset)
        dist = ppo.policy(state.log_std, out, timestep.avail_actions)
        noise, k_act = jnp.zeros((n, self.head_dim()), jnp.float32), key  # key as MAPPO uses it, without a mixer
        if mode == "behaviour" and self.mix.mixer:
            k_noise, k_act = jax.random.split(key)
            noise = jax.random.normal(k_noise, noise.shape)
            dist = self.joint_policy(state.modifier, dist, timestep.obs, timestep.state, noise,
                                     timestep.avail_actions, self.tau(state.env_steps))
        actions = self.sample(k_act, dist, greedy)
        logp, _, joint_logp, _ = self.log_prob_entropy(dist, actions, timestep.agent_mask.astype(jnp.float32))
        return actions, (actor_h, critic_h), {"log_prob": logp, "joint_log_prob": joint_logp, "noise": noise}

    # ------------------------------------------------------------------ update
    def update(self, state: AgentMixerState, batch: Trajectory, key: PRNGKeyArray) -> tuple[AgentMixerState, dict[str, Array]]:
        c, m, ppo = self.config, self.mix, self.ppo
        xs, next_xs = ppo.critic_inputs(batch.obs, batch.state), ppo.critic_inputs(batch.next_obs, batch.next_state)
        values, next_values = critic_values(state.critic, batch.init_carry[1], xs, next_xs, batch.first)
        adv, targets = agent_advantages(batch.reward, values, next_values, batch.terminated, batch.truncated,
                                        c.gamma, c.gae_lambda)
        mask = batch.agent_mask.astype(jnp.float32)
        tau = self.tau(state.env_steps)  # the temperature the rollout was collected with

        def loss_fn(params: tuple[Any, ...], idx: Array, _: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
            actor, critic, log_std, modifier = params
            obs, st, avail, actions, first, mk, a, old_v, tgt, old_logp, old_joint, noise = take_envs(
                (batch.obs, batch.state, batch.avail_actions, batch.actions, batch.first, mask, adv, values, targets,
                 batch.extras["log_prob"], batch.extras["joint_log_prob"], batch.extras["noise"]), idx)
            h_actor, h_critic = take_envs(batch.init_carry, idx, axis=0)
            individual, dist = self.replay(actor, log_std, modifier, h_actor, obs, st, avail, first, noise, tau)
            logp, ent, joint_logp, joint_ent = self.log_prob_entropy(dist, actions, mk)
            if m.ratio == "joint":
                present = mk.sum(-1)
                step_adv = (a * mk).sum(-1) / jnp.maximum(present, 1.0)
                terms = ppo_policy_terms(joint_logp, old_joint, step_adv, joint_ent, (present > 0).astype(jnp.float32),
                                         c.clip_eps, c.normalize_advantages)
            else:
                terms = ppo_policy_terms(logp, old_logp, a, ent, mk, c.clip_eps, c.normalize_advantages)
            _, v = unroll_streams(critic, h_critic, ppo.critic_inputs(obs, st), first)
            vl = obj.masked_mean(obj.value_loss(v[..., 0], old_v, tgt, c.value_clip_eps), mk)
            total = terms["policy_loss"] + c.vf_coef * vl - c.ent_coef * terms["entropy"]
            stats = {**terms, "value_loss": vl}
            if not m.igc:  # the individual policies imitate the joint one (asymmetric learning)
                imitation = obj.masked_mean(self.kl(jax.lax.stop_gradient(dist), individual), mk)
                total, stats = total + m.imitation_coef * imitation, {**stats, "imitation_kl": imitation}
            return total, stats

        params = (state.actor, state.critic, state.log_std, state.modifier)
        (actor, critic, log_std, modifier), opt_state, metrics = gradient_epochs(
            loss_fn, params, state.opt_state, self.optimizer(), key, batch.reward.shape[1], c.epochs,
            c.num_minibatches)
        metrics["value_mean"] = obj.masked_mean(values, mask)
        if self.info.discrete and m.mixer and m.igc:
            metrics["tau"] = tau
        steps = state.env_steps + batch.reward.size
        return AgentMixerState(actor, critic, log_std, modifier, opt_state, steps), metrics

    def replay(
        self, actor: Net, log_std: Array, modifier: PolicyModifier | None, h0: Float[Array, "E N H"],
        obs: Float[Array, "T E N O"], state: Float[Array, "T E S"], avail: Bool[Array, "T E N A"],
        first: Bool[Array, "T E"], noise: Float[Array, "T E N K"], tau: Float[Array, ""],
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """The individual and joint policies over a rollout: the actors replayed from the carry at
        its start (resetting at episode starts), the joint policy with the head noise stored while
        acting. Without the modifier the joint policy is the individual one."""
        _, out = unroll_streams(actor, h0, self.ppo.actor_inputs(obs), first, self.stacked)
        individual = self.ppo.policy(log_std, out, avail)
        if modifier is None:
            return individual, individual
        joint = lambda ind, o, s, e, av: self.joint_policy(modifier, ind, o, s, e, av, tau)
        return individual, jax.vmap(jax.vmap(joint))(individual, obs, state, noise, avail)

    def kl(self, p: dict[str, Array], q: dict[str, Array]) -> Float[Array, "*b N"]:
        """KL(p || q) per agent between a joint policy's per-agent factors and the individual policies."""
        if self.info.discrete:
            lp, lq = jax.nn.log_softmax(p["logits"], -1), jax.nn.log_softmax(q["logits"], -1)
            return jnp.sum(jnp.exp(lp) * (lp - lq), -1)
        var_p, var_q = jnp.exp(2 * p["log_std"]), jnp.exp(2 * q["log_std"])
        per_dim = q["log_std"] - p["log_std"] + (var_p + (p["mean"] - q["mean"]) ** 2) / (2 * var_q) - 0.5
        return per_dim.sum(-1)
