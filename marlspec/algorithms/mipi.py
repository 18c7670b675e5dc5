"""MIPI: mutual-information regularized multi-agent policy iteration (Wang, Ye & Lu,
NeurIPS 2023; paper 002), built on REFIL's entity attention and imagined sub-teams
(Iqbal et al. 2021), as the paper's section 4.4 and Figure 1 describe it.

Each agent i has (parameters shared across agents, nothing sized to the team):
- a utility Q_i(s, u_i; theta) on its own features s_i^+ and an attended set of entities s_i^-
  (`nn.entity.EntityTorso`, then a linear head);
- a policy pi_i(u_i | s; phi): "shares all layers with the critic network except the last
  layer" (appendix B.2), so by default a linear head on the utility's features, which the
  actor's gradient does not reach (the paper does not say; we keep the critic's features the
  critic's). `shared_torso: false` gives the policy its own entity torso (the matrix game's
  "critics and policies" of appendix B.1);
- a marginal policy pibar_i(u_i | s_i^+; omega) on the agent's own features and last action.
The joint value mixes the utilities linearly with non-negative attention weights
(eqs. 14-15, `nn.entity.EntityMixer` + `primitives.mixers.attention_linear`).

One sampled batch of episodes trains, in order (`gradient_step`):
1. the critic: the soft TD target of eq. 16, r + gamma (Qhat_jt(s', u') - alpha sum_i
   log(pi_i(u'_i|s') / pibar_i(u'_i|s'^+))) with u' ~ pi (TD(lambda) over the episode when
   td_lambda > 0; lambda = 0 is eq. 16 exactly), regressed by the real joint value and by
   REFIL's imagined one (`primitives.teams`: within-group and interaction utilities mixed
   together), mixed (1 - lambda_img) L_real + lambda_img L_imag with lambda_img = 0.5;
2. `ba_iterations` Blahut-Arimoto alternations (section 4.3, Theorem 2) on the same batch, each
   one optimiser step of the marginal by maximum likelihood of the policy's actions under an
   imagined composition (eq. 17; the within-group view is s* ~ rho-hat(s*|s^+)), then one of
   the policy towards pibar exp(Q_i/alpha) (eq. 18). The critic is held fixed.

`regularizer` switches the augmented reward: `mi` (the above), `entropy` (log pi_i in place of
log(pi_i / pibar_i): the paper's Entropy ablation) and `none` (alpha = 0: its Value ablation).
Acting: epsilon-soft samples of pi; evaluation takes its mode.

Slot-independent action heads (`attack_head: entity`, environments whose `EnvInfo.attack_entities`
says the actions are moves then one attack per enemy entity, i.e. smax_teams). REFIL and MIPI pad
the action space to the largest scenario: a `Linear(hidden, num_actions)` head and a one-hot of
the last action, both sized to the enemy slot count, so training must run in the evaluation's
slot count (REFERENCE_FACTS.md, MIPI). For cost we deviate (`attack_head: slots` keeps the padded
heads): Q_i and pi_i's move/stop outputs are a Linear of the agent's features and each attack's
output a bilinear score of those features with the attacked enemy's observation row
(`nn.entity.EntityActionHead`), and the last action enters as a one-hot of the moves plus an
"attacked" bit in s_i^+ and a "was my target" column appended to every entity row. The marginal
pibar_i(u_i | s_i^+) of eq. 17 conditions on s_i^+ alone and so cannot tell the enemies apart:
its head gives the move/stop logits and ONE attack logit, whose probability is split uniformly
over the available attacks (logit - log #available). Enemy slots are exchangeable given s_i^+
(units are placed and typed at random per slot), so within the family of distributions on s_i^+
the eq. 17 maximum-likelihood marginal is uniform over targets anyway; the parameterisation loses
nothing and holds for any enemy count. The team matrix game has no attack_entities and keeps the
padded heads (it has a fixed action set).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

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
from marlspec.envs.base import EnvInfo, TimeStep, entity_view, state_entities
from marlspec.nn import Net, TorsoFactory, linear
from marlspec.nn.entity import EntityActionHead, EntityMixer, EntityNetConfig, EntityTorso
from marlspec.primitives import factorization as fz
from marlspec.primitives import mi
from marlspec.primitives import objectives as obj
from marlspec.primitives.mixers import attention_linear
from marlspec.primitives.teams import group_masks, imagined_groups

sg = jax.lax.stop_gradient
Regularizer = Literal["mi", "entropy", "none"]


def last(layer: eqx.nn.Linear, features: Float[Array, "*b F"]) -> Float[Array, "*b A"]:
    """A last (linear) layer over any leading axes."""
    return jnp.vectorize(layer, signature="(f)->(o)")(features)


@dataclasses.dataclass(frozen=True)
class MIPIConfig:
    """MIPI's own settings (`marlspec.spec.algorithms.MIPISpec`, which holds the defaults)."""

    regularizer: Regularizer
    ba_iterations: int
    imagine: bool
    imagine_lambda: float
    shared_torso: bool
    actor_utility: Literal["q", "weighted"]
    attack_head: Literal["entity", "slots"]


class Critic(eqx.Module):
    torso: EntityTorso
    """Entity-attention features of Q_i (theta)."""
    q_head: eqx.nn.Linear | EntityActionHead
    mixer: EntityMixer
    """w_i(s) >= 0 and b(s) of eqs. 14-15 (Theta)."""


class Policy(eqx.Module):
    torso: EntityTorso | None
    """None: the policy reads the critic's features (appendix B.2)."""
    head: eqx.nn.Linear | EntityActionHead
    """pi_i's last layer (phi)."""


class MIPI(OffPolicy):
    info: EnvInfo = eqx.field(static=True)
    config: OffPolicyConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)
    """The marginal policy's network (same width and recurrence as the entity torso)."""
    net: EntityNetConfig = eqx.field(static=True)
    mipi: MIPIConfig = eqx.field(static=True)

    def __check_init__(self) -> None:
        if not self.info.entity_view:
            raise ValueError(f"algorithm.kind: mipi needs entity-structured observations and state; env {self.info.name}"
                             " has none (use team_matrix or smax_teams)")

    # ---------------------------------------------------------------------- networks
    @property
    def entity_actions(self) -> bool:
        """Slot-independent heads: attacks scored against the enemy rows (module docstring)."""
        return self.mipi.attack_head == "entity" and self.info.attack_entities is not None

    @property
    def moves(self) -> int:
        """Actions that attack no entity (all of them without `entity_actions`)."""
        return self.info.num_actions - len(self.info.attack_entities or ()) if self.entity_actions else self.info.num_actions

    @property
    def own_dim(self) -> int:
        """s_i^+ and the last action: its one-hot, or with `entity_actions` the moves' one-hot and an attacked bit."""
        assert self.info.own_features is not None
        return len(self.info.own_features) + (self.moves + 1 if self.entity_actions else self.info.num_actions)

    @property
    def row_dim(self) -> int:
        """An entity row's width as the networks read it (plus the "was my target" bit with `entity_actions`)."""
        assert self.info.entity_dim is not None
        return self.info.entity_dim + int(self.entity_actions)

    def _head(self, key: PRNGKeyArray, features: int, scale: float) -> eqx.nn.Linear | EntityActionHead:
        if not self.entity_actions:
            return linear(key, features, self.info.num_actions, scale)
        return EntityActionHead(features, self.row_dim, self.moves, self.net.embed, self.net.activation, scale, key=key)

    def init_params(self, key: PRNGKeyArray) -> tuple[Critic, Policy, Net | None]:
        info, c = self.info, self.config
        assert info.entity_dim is not None and info.state_entity_dim is not None
        k = jax.random.split(key, 6)
        torso = EntityTorso(self.own_dim, self.row_dim, self.net, key=k[0])
        critic = Critic(torso, self._head(k[1], torso.out_dim, 1.0),
                        EntityMixer(info.state_entity_dim, given(c.mixing_embed, "mixing_embed"),
                                    given(c.attention_heads, "attention_heads"), key=k[2]))
        own_torso = None if self.mipi.shared_torso else EntityTorso(self.own_dim, self.row_dim, self.net, key=k[3])
        policy = Policy(own_torso, self._head(k[4], torso.out_dim, 0.01))
        marginal_out = self.moves + 1 if self.entity_actions else info.num_actions
        marginal = Net(self.make_torso, self.own_dim, marginal_out, 0.01, key=k[5]) if self.mipi.regularizer == "mi" else None
        return critic, policy, marginal

    def encode_last(self, onehot: Float[Array, "*b N A"], rows: Float[Array, "*b N E d"]) -> tuple[Array, Array]:
        """The last action as the networks read it: (own part, entity rows). Without
        `entity_actions`, its one-hot and the rows unchanged; with them, the moves' one-hot and
        an attacked bit, and the rows with a "was my target" column appended."""
        if not self.entity_actions:
            return onehot, rows
        m, targets = self.moves, jnp.asarray(self.info.attack_entities)
        attacks = onehot[..., m:]
        own = jnp.concatenate([onehot[..., :m], attacks.sum(-1, keepdims=True)], -1)
        column = jnp.zeros(rows.shape[:-1], rows.dtype).at[..., targets].set(attacks)
        return own, jnp.concatenate([rows, column[..., None]], -1)

    def apply_head(self, head: eqx.nn.Linear | EntityActionHead, features: Float[Array, "*b F"],
                   rows: Float[Array, "*b E d"], mask: Bool[Array, "*b E"]) -> Float[Array, "*b A"]:
        """A last layer over any leading axes; an `EntityActionHead` reads the rows the view
        shows (`mask`: the others are zero, as absent entities are)."""
        if isinstance(head, eqx.nn.Linear):
            return last(head, features)
        shown = jnp.where(mask[..., None], rows, 0.0)
        assert self.info.attack_entities is not None
        score = functools.partial(head, attack_rows=self.info.attack_entities)
        return jnp.vectorize(score, signature="(f),(e,d)->(a)")(features, shown)

    def _views(self, obs: Float[Array, "*b N obs"]) -> tuple[Array, Array, Array]:
        """(own features, entity rows, present rows) for every agent, over any leading axes."""
        fn = jax.vmap(lambda o: entity_view(o, self.info))
        for _ in range(obs.ndim - 2):
            fn = jax.vmap(fn)
        return fn(obs)

    def _policy_torso(self, critic: Critic, policy: Policy) -> EntityTorso:
        return critic.torso if policy.torso is None else policy.torso

    def act(
        self, state: OffPolicyState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        critic, policy, _ = state.params
        hidden, last = carry
        own, rows, present = self._views(timestep.obs)
        own_last, rows = self.encode_last(last, rows)
        torso = self._policy_torso(critic, policy)
        step = lambda h, o, r, m: torso(h, o, r, m, jnp.zeros((), bool))
        hidden, h = jax.vmap(step)(hidden, jnp.concatenate([own, own_last], -1), rows, present)
        avail = timestep.avail_actions
        logits = fz.mask_logits(self.apply_head(policy.head, h, rows, present), avail)
        if mode == "behaviour" and not greedy:
            logits = fz.epsilon_soft(logits, avail, self.epsilon(state))
        actions, _ = fz.independent_sample(key, logits, greedy)
        return actions, self.next_carry(hidden, actions), {}

    # ------------------------------------------------------------------------ pieces
    @staticmethod
    def unroll(torso: EntityTorso, own: Array, rows: Array, mask: Bool[Array, "L1 N E"]) -> Float[Array, "L1 N F"]:
        """Run the entity torso over one episode for every agent from a zero hidden state: the
        attention on every step at once, then a scan of the GRU alone."""
        x = jax.vmap(jax.vmap(torso.attend))(own, rows, mask)
        if torso.cell is None:
            return x

        def step(h: Array, xt: Array) -> tuple[Array, Array]:
            return jax.vmap(lambda hi, xi: torso.recur(hi, xi, jnp.zeros((), bool)))(h, xt)

        h0 = jnp.broadcast_to(torso.init_hidden(), (own.shape[1], torso.hidden_dim))
        return jax.lax.scan(step, h0, x)[1]

    def entity_inputs(self, ep: Episodes) -> dict[str, Array]:
        """Entity views of one episode: own inputs (features and last action), entity rows and
        which are present, and the state's rows."""
        own, rows, present = self._views(ep.obs)
        onehot = jax.nn.one_hot(ep.actions, self.info.num_actions)
        last = jnp.concatenate([jnp.zeros_like(onehot[:1]), onehot[:-1]], axis=0)
        own_last, rows = self.encode_last(last, rows)
        srows, spresent = jax.vmap(lambda s: state_entities(s, self.info))(ep.state)
        return {"own": jnp.concatenate([own, own_last], -1), "rows": rows, "present": present, "srows": srows,
                "spresent": spresent}

    def _mix(self, mixer: EntityMixer, x: dict[str, Array], qs: Float[Array, "L1 N"], ep: Episodes,
             masks: Bool[Array, "N G"] | None = None) -> tuple[Float[Array, " L1"], Float[Array, "L1 N"]]:
        """Q_jt = sum_i w_i(s) Q_i + b(s) at every position, and the weights w_i(s)."""
        w, b = jax.vmap(lambda r, p, m: mixer(r, p, m, masks))(x["srows"], x["spresent"], ep.agent_mask)
        return jax.vmap(attention_linear)(qs, w, b), w

    def critic_terms(
        self, params: tuple[Critic, Policy, Net | None], target: tuple[Critic, Policy, Net | None], ep: Episodes,
        key: PRNGKeyArray, alpha: Float[Array, ""],
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """Squared TD errors of one episode ([L], real and imagined) and, held fixed, what the
        Blahut-Arimoto phases need (`aux`)."""
        (critic, policy, marginal), t_critic = params, target[0]
        c, L, info = self.config, self.info.max_steps, self.info
        k_groups, k_next = jax.random.split(key)
        x = self.entity_inputs(ep)
        avail, live = ep.avail_actions, ep.agent_mask.astype(jnp.float32)
        h = self.unroll(critic.torso, x["own"], x["rows"], x["present"])
        q = self.apply_head(critic.q_head, h, x["rows"], x["present"])
        tq = self.apply_head(t_critic.q_head, self.unroll(t_critic.torso, x["own"], x["rows"], x["present"]), x["rows"],
                             x["present"])

        # Imagined sub-teams (REFIL): one split of the global entities per episode.
        groups = imagined_groups(k_groups, info.n_state_entities)
        assert info.entity_ids is not None
        within, inter = group_masks(groups, jnp.asarray(info.entity_ids, jnp.int32))
        s_within, s_inter = group_masks(groups, jnp.broadcast_to(jnp.arange(info.n_state_entities),
                                                                 (info.num_agents, info.n_state_entities)))
        aux = {**x, "within": within[None] & x["present"], "h": sg(h), "q": sg(q),
               "avail": avail, "live": live}
        if self.mipi.shared_torso and self.mipi.imagine:
            aux["h_within"] = sg(self.unroll(critic.torso, x["own"], x["rows"], aux["within"]))

        # Eq. 16: the MI- (or entropy-) augmented soft TD target with u' ~ pi(.|s').
        logits = fz.mask_logits(self.policy_logits(policy, aux, "real"), avail)
        a_next = jax.random.categorical(k_next, sg(logits)).astype(jnp.int32)
        reg = jnp.zeros(a_next.shape)
        if self.mipi.regularizer == "mi":
            assert marginal is not None
            m_logits = fz.mask_logits(self.marginal_logits(marginal, x, avail), avail)
            reg = jax.vmap(jax.vmap(mi.mi_log_ratio))(sg(logits), sg(m_logits), a_next)
        elif self.mipi.regularizer == "entropy":
            reg = fz.log_prob(sg(logits), a_next)
        next_q, _ = self._mix(t_critic.mixer, x, take(tq, a_next), ep)
        targets = obj.soft_td_target(ep.reward[:L], next_q[1:], (reg * live).sum(-1)[1:], ep.terminated[:L],
                                     ep.truncated[:L], c.gamma, c.td_lambda, alpha)
        q_jt, w = self._mix(critic.mixer, x, take(q, ep.actions), ep)
        aux["w"] = sg(w)
        terms = {"critic": (q_jt[:L] - targets) ** 2}
        if self.mipi.imagine:  # REFIL's imagined objective: within-group and interaction utilities, mixed
            views = [x["present"] & m[None] for m in (within, inter)]
            q_w, q_i = (take(self.apply_head(critic.q_head, self.unroll(critic.torso, x["own"], x["rows"], v), x["rows"],
                                             v), ep.actions) for v in views)
            w_w = jax.vmap(lambda r, p, m: critic.mixer(r, p, m, s_within))(x["srows"], x["spresent"], ep.agent_mask)[0]
            w_i = jax.vmap(lambda r, p, m: critic.mixer(r, p, m, s_inter))(x["srows"], x["spresent"], ep.agent_mask)[0]
            bias = jax.vmap(lambda r, p, m: critic.mixer(r, p, m)[1])(x["srows"], x["spresent"], ep.agent_mask)
            q_img = jax.vmap(attention_linear)(jnp.concatenate([q_w, q_i], -1), jnp.concatenate([w_w, w_i], -1), bias)
            terms["imagined"] = (q_img[:L] - targets) ** 2
        return terms, aux

    def policy_logits(self, policy: Policy, aux: dict[str, Array], view: str) -> Float[Array, "L1 N A"]:
        """pi_i's logits (unmasked) on the real view, or on the imagined within-group view s*."""
        mask = aux["present"] if view == "real" or not self.mipi.imagine else aux["within"]
        if policy.torso is None:
            feats = aux["h"] if view == "real" or not self.mipi.imagine else aux["h_within"]
        else:
            feats = self.unroll(policy.torso, aux["own"], aux["rows"], mask)
        return self.apply_head(policy.head, feats, aux["rows"], mask)

    def marginal_logits(self, marginal: Net, aux: dict[str, Array],
                        avail: Bool[Array, "L1 N A"] | None = None) -> Float[Array, "L1 N A"]:
        """pibar_i(.|s_i^+)'s logits (unmasked): the agent's own features and last action only.
        With `entity_actions`, one attack logit split uniformly over the available attacks
        (`avail`, needed then; module docstring: eq. 17 conditions on s_i^+, which holds no enemy)."""
        out = heads(marginal, unroll_features(marginal.torso, aux["own"]))
        if not self.entity_actions:
            return out
        assert avail is not None, "the marginal's attack logit is split over the available attacks"
        m = self.moves
        attacks = avail[..., m:]
        share = out[..., m:] - jnp.log(jnp.maximum(attacks.sum(-1, keepdims=True), 1).astype(out.dtype))
        return jnp.concatenate([out[..., :m], jnp.broadcast_to(share, attacks.shape)], -1)

    def actor_terms(self, policy: Policy, marginal: Net | None, aux: dict[str, Array],
                    alpha: Float[Array, ""]) -> dict[str, Array]:
        """Eq. 18 (or its entropy / value ablation) per agent and position, [L1, N]."""
        logits = fz.mask_logits(self.policy_logits(policy, aux, "real"), aux["avail"])
        utility = aux["q"] if self.mipi.actor_utility == "q" else aux["w"][..., None] * aux["q"]
        terms: dict[str, Array] = {}
        if self.mipi.regularizer == "mi":
            assert marginal is not None
            m_logits = fz.mask_logits(self.marginal_logits(marginal, aux, aux["avail"]), aux["avail"])
            terms["policy"] = jax.vmap(jax.vmap(mi.mi_actor_loss, in_axes=(0, 0, 0, None)), in_axes=(0, 0, 0, None))(
                logits, m_logits, utility, alpha)
            logp, logm = jax.nn.log_softmax(logits), jax.nn.log_softmax(sg(m_logits))
            terms["mi"] = sg(jnp.sum(jnp.exp(logp) * jnp.where(jnp.exp(logp) > 0, logp - logm, 0.0), -1))
        else:
            terms["policy"] = obj.soft_actor_loss(logits, utility, alpha if self.mipi.regularizer == "entropy" else 0.0)
        terms["entropy"] = sg(fz.entropy(logits))
        return terms

    def marginal_terms(self, marginal: Net, policy: Policy, aux: dict[str, Array]) -> Float[Array, "L1 N"]:
        """Eq. 17 per agent and position: the marginal's NLL of the policy under s*."""
        imagined = jax.nn.softmax(fz.mask_logits(self.policy_logits(policy, aux, "imagined"), aux["avail"]))
        m_logits = self.marginal_logits(marginal, aux, aux["avail"])
        return jax.vmap(jax.vmap(mi.marginal_nll))(imagined, m_logits, aux["avail"])

    # ------------------------------------------------------------------------ losses
    def _means(self, terms: dict[str, Array], batch: Episodes) -> dict[str, Array]:
        """Masked means: per-step terms over real steps, per-agent terms over real agent-steps."""
        L = self.info.max_steps
        steps = batch.filled.astype(jnp.float32)
        agent_steps = steps[..., None] * batch.agent_mask[:, :L].astype(jnp.float32)
        return {k: obj.masked_mean(v[:, :L], agent_steps if v.ndim == 3 else steps) for k, v in terms.items()}

    def critic_loss(self, critic: Critic, rest: tuple[Policy, Net | None], target: tuple[Any, ...], batch: Episodes,
                    key: PRNGKeyArray, alpha: Float[Array, ""]) -> tuple[Array, tuple[dict[str, Array], dict[str, Array]]]:
        keys = jax.random.split(key, batch.length.shape[0])
        terms, aux = jax.vmap(self.critic_terms, in_axes=(None, None, 0, 0, None))(
            (critic, *rest), target, batch, keys, alpha)
        parts = self._means(terms, batch)
        lam = self.mipi.imagine_lambda if self.mipi.imagine else 0.0
        loss = (1.0 - lam) * parts["critic"] + lam * parts.get("imagined", jnp.zeros(()))
        return loss, ({f"{k}_loss": v for k, v in parts.items()}, aux)

    def policy_loss(self, policy: Policy, marginal: Net | None, aux: dict[str, Array], batch: Episodes,
                    alpha: Float[Array, ""]) -> tuple[Array, dict[str, Array]]:
        terms = jax.vmap(self.actor_terms, in_axes=(None, None, 0, None))(policy, marginal, aux, alpha)
        parts = self._means(terms, batch)
        return parts["policy"], {"policy_loss": parts["policy"], **{k: v for k, v in parts.items() if k != "policy"}}

    def marginal_loss(self, marginal: Net, policy: Policy, aux: dict[str, Array], batch: Episodes) -> Array:
        terms = jax.vmap(self.marginal_terms, in_axes=(None, None, 0))(marginal, policy, aux)
        return self._means({"marginal": terms}, batch)["marginal"]

    def losses(self, params: tuple[Critic, Policy, Net | None], target: tuple[Any, ...], batch: Episodes,
               key: PRNGKeyArray, alpha: Float[Array, ""]) -> dict[str, Array]:
        """Every loss at the same parameters (what `gradient_step` starts from)."""
        critic, policy, marginal = params
        total, (parts, aux) = self.critic_loss(critic, (policy, marginal), target, batch, key, alpha)
        out = {"critic_total": total, **parts}
        out.update(self.policy_loss(policy, marginal, aux, batch, alpha)[1])
        if marginal is not None:
            out["marginal_loss"] = self.marginal_loss(marginal, policy, aux, batch)
        return out

    def loss(self, params: tuple[Critic, Policy, Net | None], target: tuple[Any, ...], batch: Episodes,
             key: PRNGKeyArray, alpha: Float[Array, ""]) -> tuple[Float[Array, ""], dict[str, Array]]:
        parts = self.losses(params, target, batch, key, alpha)
        total = parts["critic_total"] + parts["policy_loss"] + parts.get("marginal_loss", jnp.zeros(()))
        return total, parts

    def gradient_step(
        self, params: tuple[Any, ...], opt_state: tuple[Any, ...], target: tuple[Any, ...], batch: Episodes,
        key: PRNGKeyArray, alpha: Float[Array, ""],
    ) -> tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Array]]:
        """The critic step (eq. 16 + REFIL's imagined loss), then `ba_iterations` alternations of
        the marginal (eq. 17, Blahut-Arimoto's eq. 12) and the policy (eq. 18, eq. 13)."""
        (critic, policy, marginal), (s_critic, s_policy, s_marginal) = params, opt_state
        grads, (metrics, aux) = eqx.filter_grad(self.critic_loss, has_aux=True)(
            critic, (policy, marginal), target, batch, key, alpha)
        critic, s_critic = self.apply_group(critic, s_critic, grads)  # the phases read `aux`: the critic before it
        iterations = self.mipi.ba_iterations if marginal is not None else 1
        for _ in range(iterations):
            if marginal is not None:
                metrics["marginal_loss"], g = eqx.filter_value_and_grad(self.marginal_loss)(marginal, policy, aux, batch)
                marginal, s_marginal = self.apply_group(marginal, s_marginal, g)
            g, parts = eqx.filter_grad(self.policy_loss, has_aux=True)(policy, marginal, aux, batch, alpha)
            metrics.update(parts)
            policy, s_policy = self.apply_group(policy, s_policy, g)
        return (critic, policy, marginal), (s_critic, s_policy, s_marginal), metrics
