"""MAGPO: Multi-Agent Guided Policy Optimization (paper 001, section 4.2), and CTDS.

- **Guider** mu_phi: the autoregressive joint policy of MAT (`algorithms.joint_policy`:
  `nn.AutoregressivePolicy`, all agents' observations ⊕ global state), or with
  `joint_policy.architecture: sable` the paper's default, Sable (`nn.RetentivePolicy`), whose
  episode memory rides in the carry.
  It is the *behaviour* policy: it collects the data, so the stored behaviour log-prob is
  the guider's. Its encoder is the (only) critic.
- **Learners** pi_theta: decentralized actors on each agent's own observation (plus agent
  id), parameters shared across agents, with the torso of the spec's `network` section
  (a GRU for the paper's recurrent learners). They are the *execution* policy.
- **Update**, every minibatch of every epoch, from the same per-agent GAE advantages:
  - guider loss, eq. 9-10 (`primitives.gpo.guider_objective`): PPO with the double clip
    that stops the guider drifting beyond ratio delta from the learner, plus the KL to the
    learner on the masked steps where it already did; plus entropy bonus and clipped value loss;
  - learner loss, eqs. 11-12 (`primitives.gpo.learner_objective`): KL(stopgrad mu || pi)
    (the reference implementation's direction, see REFERENCE_FACTS) plus lambda times PPO
    clip with the ratio against the behaviour (guider) log-prob.
  Each loss holds the other network fixed, so one gradient of their sum gives both; the
  guider and the learner then step with separate Adam optimisers (`onpolicy.gradient_epochs`
  with one optimiser per network). As in the reference
  code, both updates use the current parameters of the other network (a simultaneous
  version of the four steps of section 4.1, whose guider backtracking is replaced by the
  delta constraint).
- **CTDS** (Zhao et al. 2024) is the same structure with delta = inf (no double clip, no
  mask: the teacher is trained by plain PPO) and lambda = 0 (the student only distils).

The agent order of the guider is 0..N-1 when acting and a random permutation per epoch
during the update (`shuffle_agents`), as in MAT (see `algorithms.joint_policy`).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.joint_policy import JointMemory, JointPolicy, JointPolicyNet, MATConfig, joint_policy
from marlspec.algorithms.onpolicy import (
    agent_inputs,
    gradient_epochs,
    ppo_adam,
    ppo_policy_terms,
    take_envs,
    unroll_streams,
)
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import Net, TorsoFactory
from marlspec.primitives import factorization as fz
from marlspec.primitives import gpo
from marlspec.primitives import objectives as obj


@dataclasses.dataclass(frozen=True)
class MAGPOConfig(MATConfig):
    delta: float
    """Guider-learner ratio bound (eq. 9-10); inf for CTDS."""
    rl_coef: float
    """lambda, the weight of the learner's PPO term (eq. 11); 0 for CTDS."""
    kl_direction: gpo.KLDirection


class GuidedState(eqx.Module):
    guider: JointPolicyNet
    learner: Net
    guider_opt: optax.OptState
    learner_opt: optax.OptState


class MAGPO(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: MAGPOConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)

    @property
    def distinct_behaviour(self) -> bool:
        return True

    @property
    def joint(self) -> JointPolicy:
        """The guider's architecture (MAT's transformer or Sable)."""
        return joint_policy(self.config)

    def optimizer(self) -> optax.GradientTransformation:
        return ppo_adam(self.config, flat=True)

    def learner_inputs(self, obs: Float[Array, "*b N obs"]) -> Array:
        return jnp.vectorize(lambda o: agent_inputs(o, self.config.agent_id), signature="(n,d)->(n,k)")(obs)

    def init(self, key: PRNGKeyArray) -> GuidedState:
        k_guider, k_learner = jax.random.split(key)
        info, n = self.info, self.info.num_agents
        guider = self.joint.make(info, k_guider)
        learner = Net(self.make_torso, info.obs_dim + (n if self.config.agent_id else 0), info.num_actions, 0.01,
                      key=k_learner)
        opt = self.optimizer()
        return GuidedState(guider, learner, opt.init(eqx.filter(guider, eqx.is_inexact_array)),
                           opt.init(eqx.filter(learner, eqx.is_inexact_array)))

    def initial_carry(self) -> tuple[Float[Array, "N H"], JointMemory]:
        """The learners' hidden states and the guider's memory (Sable's; unused for MAT)."""
        return jnp.zeros((self.info.num_agents, self.make_torso.hidden_dim), jnp.float32), self.joint.memory()

    def act(
        self, state: GuidedState, timestep: TimeStep, carry: tuple[Array, JointMemory], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, JointMemory], dict[str, Array]]:
        # The learners' recurrent state advances in both modes, so that it matches the
        # replay from `Trajectory.init_carry` during the update. The guider's memory only
        # matters while it collects data (behaviour); deployed learners never read it.
        n = self.info.num_agents
        hidden, memory = carry
        hidden, out = jax.vmap(state.learner)(hidden, self.learner_inputs(timestep.obs), jnp.zeros((n,), bool))
        if mode == "execution":
            actions, logp = fz.independent_sample(key, fz.mask_logits(out, timestep.avail_actions), greedy)
        else:
            actions, logp, memory = self.joint.sample(state.guider, memory, key, timestep, greedy)
        return actions, (hidden, memory), {"log_prob": logp}

    def update(self, state: GuidedState, batch: Trajectory, key: PRNGKeyArray) -> tuple[GuidedState, dict[str, Array]]:
        c, joint = self.config, self.joint
        hidden0, memory0 = batch.init_carry
        values, adv, targets = joint.advantages(state.guider, memory0, batch)
        mask = batch.agent_mask.astype(jnp.float32)

        def loss_fn(nets: tuple[JointPolicyNet, Net], idx: Array, k_epoch: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
            guider, learner = nets
            order = joint.order(k_epoch, self.info.num_agents)
            obs, st, actions, avail, first, log_b, m, a, old_v, tgt = take_envs(
                (batch.obs, batch.state, batch.actions, batch.avail_actions, batch.first, batch.extras["log_prob"],
                 mask, adv, values, targets), idx)
            a = obj.normalize(a, m) if c.normalize_advantages else a  # both networks' losses read these
            h0, m0 = take_envs((hidden0, memory0), idx, axis=0)
            g_logits, v = joint.logits_values(guider, m0, obs, st, actions, avail, first, order)
            _, out = unroll_streams(learner, h0, self.learner_inputs(obs), first)
            l_logits = fz.mask_logits(out, avail)
            log_g, log_l = fz.log_prob(g_logits, actions), fz.log_prob(l_logits, actions)
            g_loss, surrogate, masked_kl = gpo.guider_objective(
                g_logits, l_logits, log_g, log_l, log_b, a, c.clip_eps, c.delta)
            l_loss, kl, rl = gpo.learner_objective(
                l_logits, g_logits, log_l, log_b, a, c.clip_eps, c.rl_coef, c.kl_direction)
            # The guider's PPO terms with its double-clipped surrogate (eq. 9-10), on the advantages above.
            terms = ppo_policy_terms(log_g, log_b, a, fz.entropy(g_logits), m, c.clip_eps, False, lambda _: surrogate)
            vl = obj.masked_mean(obj.value_loss(v, old_v, tgt, c.value_clip_eps), m)
            total = obj.masked_mean(g_loss + l_loss, m) + c.vf_coef * vl - c.ent_coef * terms["entropy"]
            gap = jax.lax.stop_gradient(log_g - log_l)
            stats = {
                **terms, "value_loss": vl,
                "guider_kl": obj.masked_mean(masked_kl, m),
                "kl_mask_fraction": obj.masked_mean(gpo.guider_kl_mask(log_g, log_l, c.delta), m),
                "learner_kl": obj.masked_mean(kl, m), "learner_rl_loss": obj.masked_mean(rl, m),
                "guider_learner_log_ratio": obj.masked_mean(jnp.abs(gap), m),
                "learner_entropy": obj.masked_mean(fz.entropy(l_logits), m),
            }
            return total, stats

        optimizer = self.optimizer()
        (guider, learner), (g_opt, l_opt), metrics = gradient_epochs(
            loss_fn, (state.guider, state.learner), (state.guider_opt, state.learner_opt), (optimizer, optimizer), key,
            batch.reward.shape[1], c.epochs, c.num_minibatches)
        metrics["value_mean"] = obj.masked_mean(values, mask)
        return GuidedState(guider, learner, g_opt, l_opt), metrics
