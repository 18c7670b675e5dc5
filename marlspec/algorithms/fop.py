"""FOP: factorizing optimal joint policy of maximum-entropy MARL (Zhang et al. 2021),
as MACPF's paper quotes it (eqs. 1-2) and the authors' code runs it (REFERENCE_FACTS).

- Policy: independent per-agent soft policies (IGO, eq. 1), a shared recurrent network.
- Critics: twin per-agent utility networks, each with its own IGO mixer
  (`primitives.mixers.fop_igo`, eq. 2) whose weights w_i(s) >= 0 and V(s) come from an
  attention network (`marlspec.nn.mixing.AttentionWeights`). The minimum of the two
  critics serves the actor, and the minimum of the two target mixers the target.
- Losses: the soft actor loss sum_a pi(a)(alpha log pi(a) - Q_i(a)) and the soft
  TD(lambda) regression of each mixed critic; temperature alpha = max(0.05, 0.5 - t/200k)
  by default (a linear schedule in the spec).
- Acting: epsilon-soft samples of the policy; execution takes its mode (or samples).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from marlspec.algorithms.base import Mode
from marlspec.algorithms.off_policy import (
    OffPolicy,
    OffPolicyConfig,
    OffPolicyState,
    given,
    heads,
    take,
    unroll_features,
)
from marlspec.algorithms.replay import Episodes
from marlspec.envs.base import EnvInfo, TimeStep, agent_ids
from marlspec.nn import Net, TorsoFactory
from marlspec.nn.mixing import AttentionWeights
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj
from marlspec.primitives.mixers import fop_igo
from marlspec.primitives.returns import discounted_return

sg = jax.lax.stop_gradient


class TwinCritic(eqx.Module):
    critic: Net
    """Per-agent utilities Q_i(tau_i, .)."""
    weights: AttentionWeights
    """Mixing weights w_i(s) and V(s) of the IGO mixer."""


class FOP(OffPolicy):
    info: EnvInfo = eqx.field(static=True)
    config: OffPolicyConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)

    def init_params(self, key: PRNGKeyArray) -> tuple[Net, TwinCritic, TwinCritic]:
        c, info = self.config, self.info
        k = jax.random.split(key, 5)
        policy = Net(self.make_torso, self.input_dim, info.num_actions, 0.01, key=k[0])
        entity = info.obs_dim + info.num_agents

        def twin(k1: PRNGKeyArray, k2: PRNGKeyArray) -> TwinCritic:
            weights = AttentionWeights(info.state_dim, entity, given(c.attention_heads, "attention_heads"),
                                       given(c.mixing_embed, "mixing_embed"), given(c.hypernet_embed, "hypernet_embed"), key=k2)
            return TwinCritic(Net(self.make_torso, self.input_dim, info.num_actions, 1.0, key=k1), weights)

        return policy, twin(k[1], k[2]), twin(k[3], k[4])

    def act(
        self, state: OffPolicyState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        policy: Net = state.params[0]
        hidden, last = carry
        avail = timestep.avail_actions
        hidden, h = self.step_features(policy, hidden, self.agent_inputs(timestep.obs, last))
        logits = fz.mask_logits(jax.vmap(policy.head)(h), avail)
        if mode == "behaviour" and not greedy:
            logits = fz.epsilon_soft(logits, avail, self.epsilon(state))
        actions, _ = fz.independent_sample(key, logits, greedy)
        return actions, self.next_carry(hidden, actions), {}

    def _mix(self, twin: TwinCritic, q_all: Float[Array, "L1 N A"], actions: Array, ep: Episodes, alpha: Array) -> Array:
        entities = jnp.concatenate([ep.obs, jnp.broadcast_to(agent_ids(self.info.num_agents), ep.obs.shape[:-1] + (self.info.num_agents,))], -1)
        present = ep.agent_mask.astype(q_all.dtype)

        def one(q: Array, a: Array, av: Array, s: Array, e: Array, m: Array) -> Array:
            w, v = twin.weights(s, e)
            return fop_igo(take(q, a) * m, q, av, w * m, v, alpha)

        return jax.vmap(one)(q_all, actions, ep.avail_actions, ep.state, entities, present)

    def episode_terms(
        self, params: tuple[Net, TwinCritic, TwinCritic], target: tuple[Net, TwinCritic, TwinCritic],
        ep: Episodes, key: PRNGKeyArray, alpha: Float[Array, ""],
    ) -> dict[str, Array]:
        policy, twins, t_twins = params[0], params[1:], target[1:]
        c, L = self.config, self.info.max_steps
        x, present = self.episode_inputs(ep), ep.agent_mask.astype(jnp.float32)
        logits = fz.mask_logits(heads(policy, unroll_features(policy.torso, x)), ep.avail_actions)
        qs = [heads(t.critic, unroll_features(t.critic.torso, x)) for t in twins]
        tqs = [heads(t.critic, unroll_features(t.critic.torso, x)) for t in t_twins]
        a_next = jax.random.categorical(key, sg(logits)).astype(jnp.int32)
        log_pi = (fz.log_prob(sg(logits), a_next) * present).sum(-1)
        next_q = jnp.minimum(*[self._mix(t, tq, a_next, ep, alpha) for t, tq in zip(t_twins, tqs, strict=True)])
        targets = obj.soft_td_target(ep.reward[:L], next_q[1:], log_pi[1:], ep.terminated[:L], ep.truncated[:L],
                                     c.gamma, c.td_lambda, alpha)
        terms = {"actor": obj.soft_actor_loss(logits, jnp.minimum(*qs), alpha)[:L]}
        for i, (t, q) in enumerate(zip(twins, qs, strict=True)):
            q_tot = self._mix(t, q, ep.actions, ep, alpha)[:L]
            terms[f"critic{i + 1}"] = (q_tot - targets) ** 2
            terms.setdefault("q_tot", sg(q_tot))  # diagnostics (no gradient): the first critic's Q_tot,
        terms["target"] = targets  # its target, and the observed discounted return-to-go
        terms["return"] = discounted_return(ep.reward[:L], ep.terminated[:L], ep.truncated[:L], c.gamma)
        return terms

    def loss(
        self, params: tuple[Net, TwinCritic, TwinCritic], target: tuple[Net, TwinCritic, TwinCritic],
        batch: Episodes, key: PRNGKeyArray, alpha: Float[Array, ""],
    ) -> tuple[Float[Array, ""], dict[str, Array]]:
        keys = jax.random.split(key, batch.length.shape[0])
        terms = jax.vmap(self.episode_terms, in_axes=(None, None, 0, 0, None))(params, target, batch, keys, alpha)
        steps = batch.filled.astype(jnp.float32)
        agent_steps = steps[..., None] * batch.agent_mask[:, : self.info.max_steps].astype(jnp.float32)
        parts = {
            "policy_loss": obj.masked_mean(terms["actor"], agent_steps),
            "critic_loss": obj.masked_mean(terms["critic1"], steps),
            "critic2_loss": obj.masked_mean(terms["critic2"], steps),
        }
        diagnostics = {k: obj.masked_mean(terms[k], steps) for k in ("q_tot", "target", "return")}
        return sum(parts.values(), jnp.zeros(())), {**parts, **diagnostics}
