"""MACPF: multi-agent conditional policy factorization (Wang, Ye & Lu, ICLR 2023),
and its ablation MACPF_CONTROL (section 5.2: everything the same, no dependent policy).

Figure 3 of the paper, per agent i (parameters shared across agents, id in the input):
- independent policy pi_i^ind (theta): a torso on (observation, last action, id) and
  a logit head;
- dependency policy correction b_i^dep (phi): the dependent policy's logits are
  stopgrad(independent logits) + b(h_i, a_<i) (eq. 10 and its footnote);
- independent critic Q_i^ind (psi) and dependency critic correction c_i^dep (omega):
  Q_i^dep = stopgrad(Q_i^ind) + c(h_i, a_<i) (eq. 13);
- ONE mixer (Theta), the linear hypernetwork, for both Q_jt^dep and Q_jt^ind (eqs. 14-15).

One sampled batch trains four losses (section 3.3): J^ind (eq. 19), J^dep (eq. 18),
L^ind (eq. 17) and L^dep (eq. 16). Stop-gradients route each loss to its own modules
only: J^dep to b, J^ind to pi^ind, L^dep to c and the mixer, L^ind to Q^ind and the
mixer. The correction networks read the features h_i of the independent networks
held fixed. (The authors' code lets J^dep and L^dep reach the shared torsos through
h_i; we follow the paper's "the gradient of J^dep only updates b^dep".) Since the
modules are disjoint, one backward pass of the sum gives each its own gradient.

Acting: the behaviour policy is the dependent joint policy, sampled agent by agent
(eq. 11) with epsilon-soft exploration; the execution policy is the independent one
(eq. 12), so evaluation reports both.
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
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import Net, TorsoFactory
from marlspec.nn.mixing import DependencyCorrection, Hypernet
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj
from marlspec.primitives.mixers import conditional_soft_mix, linear_hypernet, linear_hypernet_coefficients
from marlspec.primitives.returns import discounted_return

sg = jax.lax.stop_gradient


class Actor(eqx.Module):
    policy: Net
    """pi^ind: independent policy (theta)."""
    correction: DependencyCorrection | None
    """b^dep: dependency policy correction (phi); None for MACPF_CONTROL."""


class Critic(eqx.Module):
    critic: Net
    """Q^ind: independent critic (psi)."""
    correction: DependencyCorrection | None
    """c^dep: dependency critic correction (omega); None for MACPF_CONTROL."""
    mixer: Hypernet
    """Theta: the one mixer of Q_jt^dep and Q_jt^ind."""


class MACPF(OffPolicy):
    info: EnvInfo = eqx.field(static=True)
    config: OffPolicyConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)
    dependent: bool = eqx.field(static=True, default=True)
    """False gives MACPF_CONTROL: no dependent policy, critic correction or dependent losses."""

    @property
    def distinct_behaviour(self) -> bool:
        return self.dependent

    def init_params(self, key: PRNGKeyArray) -> tuple[Actor, Critic]:
        c, n, a = self.config, self.info.num_agents, self.info.num_actions
        k = jax.random.split(key, 5)
        policy = Net(self.make_torso, self.input_dim, a, 0.01, key=k[0])
        critic = Net(self.make_torso, self.input_dim, a, 1.0, key=k[1])
        b_dep = c_dep = None
        if self.dependent:
            first, embed = given(c.first_agent_correction, "first_agent_correction"), given(c.dependency_embed, "dependency_embed")
            b_dep = DependencyCorrection(n, a, policy.torso.out_dim, embed, first, key=k[2])
            c_dep = DependencyCorrection(n, a, critic.torso.out_dim, embed, first, key=k[3])
        mixer = Hypernet(self.info.state_dim, n, given(c.mixing_embed, "mixing_embed"), given(c.hypernet_embed, "hypernet_embed"),
                         key=k[4])
        return Actor(policy, b_dep), Critic(critic, c_dep, mixer)

    def act(
        self, state: OffPolicyState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        actor: Actor = state.params[0]
        hidden, last = carry
        avail = timestep.avail_actions
        hidden, h = self.step_features(actor.policy, hidden, self.agent_inputs(timestep.obs, last))
        logits = fz.mask_logits(jax.vmap(actor.policy.head)(h), avail)
        eps = self.epsilon(state)
        explore = mode == "behaviour" and not greedy
        if mode == "behaviour" and actor.correction is not None:
            correction = actor.correction

            def dependent(actions: Array) -> Array:
                out = fz.conditional_logits(logits, correction(h, actions), avail)
                return fz.epsilon_soft(out, avail, eps) if explore else out

            actions, _ = fz.conditional_sample(key, dependent, self.info.num_agents, greedy)
        else:
            actions, _ = fz.independent_sample(key, fz.epsilon_soft(logits, avail, eps) if explore else logits, greedy)
        return actions, self.next_carry(hidden, actions), {}

    # ------------------------------------------------------------------ losses
    def _weights(self, mixer: Hypernet, ep: Episodes) -> Float[Array, "L1 N"]:
        """The mixer's per-agent weights k_i(s) (= alpha / alpha_i of eq. 6), with absent agents at 0."""
        k = jax.vmap(lambda s: linear_hypernet_coefficients(*mixer(s))[0])(ep.state)
        return k * ep.agent_mask.astype(k.dtype)

    def _mix(
        self, mixer: Hypernet, q_all: Float[Array, "L1 N A"], actions: Array, ep: Episodes, alpha: Float[Array, ""],
    ) -> Float[Array, " L1"]:
        """Q_jt from the utilities of every action (row i conditioned on a_<i for dependent ones)
        at the joint `actions`: eq. 6's form (`conditional_soft_mix`) or, with `mixing: linear`,
        the authors' code's sum_i k_i(s) Q_i + b(s) (`linear_hypernet`)."""
        present = ep.agent_mask.astype(q_all.dtype)
        qs = take(q_all, actions)
        if self.config.mixing == "linear":
            return jax.vmap(lambda q, s: linear_hypernet(q, *mixer(s)))(qs * present, ep.state)

        def one(q: Array, qa: Array, av: Array, s: Array, m: Array) -> Array:
            k, b = linear_hypernet_coefficients(*mixer(s))
            return conditional_soft_mix(q, qa, av, k * m, b, alpha, m)

        return jax.vmap(one)(qs, q_all, ep.avail_actions, ep.state, present)

    def _actor_utilities(self, mixer: Hypernet, q_all: Float[Array, "L1 N A"], ep: Episodes) -> Float[Array, "L1 N A"]:
        """What agent i's soft policy improvement (eqs. 18-19) compares at temperature alpha:
        Q_i itself with `mixing: linear` (alpha_i = alpha, as the authors' code); with eq. 6's
        mixing, Q_i at agent i's own temperature alpha_i = alpha / k_i(s), i.e. k_i(s) Q_i at
        alpha (the target pi_i = softmax(k_i Q_i / alpha) that makes eq. 6 hold). The mixer
        is held fixed here."""
        if self.config.mixing == "linear":
            return q_all
        return sg(self._weights(mixer, ep))[..., None] * q_all

    def episode_terms(
        self, params: tuple[Actor, Critic], target: tuple[Actor, Critic], ep: Episodes, key: PRNGKeyArray,
        alpha: Float[Array, ""],
    ) -> dict[str, Array]:
        """Per-step loss terms of one episode: actor terms [L, N], critic terms [L]."""
        (actor, critic), (_, t_critic) = params, target
        c, L = self.config, self.info.max_steps
        x, avail, present = self.episode_inputs(ep), ep.avail_actions, ep.agent_mask.astype(jnp.float32)
        h_pi = unroll_features(actor.policy.torso, x)
        logits = fz.mask_logits(heads(actor.policy, h_pi), avail)
        h_q = unroll_features(critic.critic.torso, x)
        q_ind = heads(critic.critic, h_q)
        th_q = unroll_features(t_critic.critic.torso, x)
        tq_ind = heads(t_critic.critic, th_q)
        k_ind, k_dep = jax.random.split(key)

        def soft_target(next_q: Array, log_pi: Array) -> Array:
            return obj.soft_td_target(ep.reward[:L], next_q[1:], log_pi[1:], ep.terminated[:L], ep.truncated[:L],
                                      c.gamma, c.td_lambda, alpha)

        # Independent side: J^ind (eq. 19) and L^ind (eq. 17), next actions a' ~ pi^ind.
        a_ind = jax.random.categorical(k_ind, sg(logits)).astype(jnp.int32)
        log_pi_ind = (fz.log_prob(sg(logits), a_ind) * present).sum(-1)
        target_ind = soft_target(self._mix(t_critic.mixer, tq_ind, a_ind, ep, alpha), log_pi_ind)
        q_tot = self._mix(critic.mixer, q_ind, ep.actions, ep, alpha)[:L]
        terms = {
            "actor_ind": obj.soft_actor_loss(logits, self._actor_utilities(critic.mixer, q_ind, ep), alpha)[:L],
            "critic_ind": (q_tot - target_ind) ** 2,
            # diagnostics only (no gradient): Q_jt^ind, its soft target and the observed return-to-go
            "q_tot": sg(q_tot), "target": target_ind,
            "return": discounted_return(ep.reward[:L], ep.terminated[:L], ep.truncated[:L], c.gamma),
        }
        if actor.correction is None or critic.correction is None or t_critic.correction is None:
            return terms
        b_dep, c_dep, tc_dep = actor.correction, critic.correction, t_critic.correction

        # Dependent side: a_<i and a' sampled agent by agent from the current pi^dep (eq. 18).
        def sample(k: PRNGKeyArray, lg: Array, h: Array, av: Array) -> tuple[Array, Array]:
            return fz.conditional_sample(k, lambda a: fz.conditional_logits(lg, b_dep(h, a), av), self.info.num_agents)

        a_dep, dep_logits = jax.vmap(sample)(jax.random.split(k_dep, L + 1), logits, sg(h_pi), avail)
        q_dep_sampled = q_ind + jax.vmap(c_dep)(h_q, a_dep)  # the critic is held fixed in the actor loss
        log_pi_dep = (fz.log_prob(sg(dep_logits), a_dep) * present).sum(-1)
        tq_dep = tq_ind + jax.vmap(tc_dep)(th_q, a_dep)
        target_dep = soft_target(self._mix(t_critic.mixer, tq_dep, a_dep, ep, alpha), log_pi_dep)
        q_dep = sg(q_ind) + jax.vmap(c_dep)(sg(h_q), ep.actions)  # L^dep (eq. 16) trains c^dep and the mixer
        q_actor = self._actor_utilities(critic.mixer, q_dep_sampled, ep)
        terms["actor_dep"] = obj.soft_actor_loss(dep_logits, q_actor, alpha)[:L]
        terms["critic_dep"] = (self._mix(critic.mixer, q_dep, ep.actions, ep, alpha)[:L] - target_dep) ** 2
        return terms

    def losses(
        self, params: tuple[Actor, Critic], target: tuple[Actor, Critic], batch: Episodes, key: PRNGKeyArray,
        alpha: Float[Array, ""], diagnostics: bool = False,
    ) -> dict[str, Array]:
        """The (two or) four losses of section 3.3 on one batch, each a masked mean; with
        `diagnostics`, also the batch means of Q_jt^ind, its target and the observed return."""
        keys = jax.random.split(key, batch.length.shape[0])
        terms = jax.vmap(self.episode_terms, in_axes=(None, None, 0, 0, None))(params, target, batch, keys, alpha)
        L = self.info.max_steps
        steps = batch.filled.astype(jnp.float32)
        agent_steps = steps[..., None] * batch.agent_mask[:, :L].astype(jnp.float32)
        names = {"actor_ind": "policy_loss", "critic_ind": "critic_loss",
                 "actor_dep": "dep_policy_loss", "critic_dep": "dep_critic_loss"}
        out = {names[k]: obj.masked_mean(v, agent_steps if k.startswith("actor") else steps)
               for k, v in terms.items() if k in names}
        if diagnostics:
            out.update({k: obj.masked_mean(terms[k], steps) for k in ("q_tot", "target", "return")})
        return out

    def loss(
        self, params: tuple[Actor, Critic], target: tuple[Actor, Critic], batch: Episodes, key: PRNGKeyArray,
        alpha: Float[Array, ""],
    ) -> tuple[Float[Array, ""], dict[str, Array]]:
        parts = self.losses(params, target, batch, key, alpha, diagnostics=True)
        return sum((v for k, v in parts.items() if k.endswith("loss")), jnp.zeros(())), parts
