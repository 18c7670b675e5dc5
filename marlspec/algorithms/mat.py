"""MAT (Wen et al. 2022): PPO on an autoregressive joint policy. CTCE, an upper reference.

MAT acts with the joint policy in *both* modes: `behaviour` and `execution` are the same
centralized, sequential policy (agent i_j sees the actions of i_1..i_{j-1}), so it cannot
be deployed decentrally and evaluation reports one return.

- Joint policy (`algorithms.joint_policy`): `nn.AutoregressivePolicy`, one token per agent
  (observation ⊕ global state ⊕ one-hot agent id); its encoder gives each agent a centralized
  value. With `architecture: sable` it is Sable's retentive network instead
  (`nn.RetentivePolicy`, Mahjoub et al. 2025), which also remembers the episode's earlier
  steps: its memory is the carry while acting, and the update replays each environment's
  rollout in order from the carry stored at the rollout start. PPO on it is the Sable baseline.
- Acting: agents sample in index order 0..N-1. Training: the agents are re-ordered by a
  random permutation each epoch (`shuffle_agents`, as Mava's Sable/MAGPO code does), and
  every agent's conditional is evaluated in parallel under the causal mask. With
  shuffling the importance ratio compares conditionals under different orders; it is exact
  with `shuffle_agents: false`.
- Update: per-agent GAE on the shared reward, PPO clip, clipped value loss and entropy
  bonus, over `epochs x minibatches` of whole environment sequences (`onpolicy`).

MAGPO/CTDS use the same joint policy as their guider (`algorithms.joint_policy`; MAGPO's
default in the paper is Sable; ours is MAT).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Mode, Trajectory
from marlspec.algorithms.joint_policy import JointMemory, JointPolicy, JointPolicyNet, MATConfig, joint_policy
from marlspec.algorithms.onpolicy import gradient_epochs, ppo_adam, ppo_policy_terms, take_envs
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj


class MATState(eqx.Module):
    policy: JointPolicyNet
    opt_state: optax.OptState


class MAT(Algorithm):
    info: EnvInfo = eqx.field(static=True)
    config: MATConfig = eqx.field(static=True)

    @property
    def joint(self) -> JointPolicy:
        return joint_policy(self.config)

    def optimizer(self) -> optax.GradientTransformation:
        return ppo_adam(self.config, flat=True)

    def init(self, key: PRNGKeyArray) -> MATState:
        policy = self.joint.make(self.info, key)
        return MATState(policy, self.optimizer().init(eqx.filter(policy, eqx.is_inexact_array)))

    def initial_carry(self) -> JointMemory:
        return self.joint.memory()

    def act(
        self, state: MATState, timestep: TimeStep, carry: JointMemory, key: PRNGKeyArray, mode: Mode,
        greedy: bool = False,
    ) -> tuple[Array, JointMemory, dict[str, Array]]:
        # CTCE: both modes run the joint policy.
        actions, logp, carry = self.joint.sample(state.policy, carry, key, timestep, greedy)
        return actions, carry, {"log_prob": logp}

    def update(self, state: MATState, batch: Trajectory, key: PRNGKeyArray) -> tuple[MATState, dict[str, Array]]:
        c, joint = self.config, self.joint
        values, adv, targets = joint.advantages(state.policy, batch.init_carry, batch)
        mask = batch.agent_mask.astype(jnp.float32)

        def loss_fn(policy: JointPolicyNet, idx: Array, k_epoch: PRNGKeyArray) -> tuple[Array, dict[str, Array]]:
            order = joint.order(k_epoch, self.info.num_agents)
            obs, st, actions, avail, first, old_logp, m, a, old_v, tgt = take_envs(
                (batch.obs, batch.state, batch.actions, batch.avail_actions, batch.first, batch.extras["log_prob"],
                 mask, adv, values, targets), idx)
            memory = take_envs(batch.init_carry, idx, axis=0)
            logits, v = joint.logits_values(policy, memory, obs, st, actions, avail, first, order)
            terms = ppo_policy_terms(fz.log_prob(logits, actions), old_logp, a, fz.entropy(logits), m, c.clip_eps,
                                     c.normalize_advantages)
            vl = obj.masked_mean(obj.value_loss(v, old_v, tgt, c.value_clip_eps), m)
            return terms["policy_loss"] + c.vf_coef * vl - c.ent_coef * terms["entropy"], {**terms, "value_loss": vl}

        policy, opt_state, metrics = gradient_epochs(loss_fn, state.policy, state.opt_state, self.optimizer(), key,
                                                     batch.reward.shape[1], c.epochs, c.num_minibatches)
        new_state = MATState(policy, opt_state)
        metrics["value_mean"] = obj.masked_mean(values, mask)
        return new_state, metrics
