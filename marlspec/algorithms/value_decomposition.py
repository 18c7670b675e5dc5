"""VDN (Sunehag et al. 2018) and QMIX (Rashid et al. 2018): value-based learners whose
joint value is a mix of per-agent utilities, trained by Q(lambda) regression.

- Agent network: one shared recurrent Q-network on (observation, last action, id).
- Mixer: `primitives.mixers.vdn` (a sum) or `primitives.mixers.qmix` (monotone, with a
  state hypernetwork from `marlspec.nn.mixing.Hypernet`).
- Target: TD(lambda) (`primitives.returns.td_lambda`) on the target mixer of the target
  utilities at the next greedy actions (double Q-learning: the online network picks
  them, as PyMARL does by default), hard target copies every N episodes.
- Acting: epsilon-greedy with a linear schedule; execution is greedy.
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
    masked_greedy,
    take,
    unroll_features,
)
from marlspec.algorithms.replay import Episodes
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import Net, TorsoFactory
from marlspec.nn.mixing import Hypernet
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj
from marlspec.primitives.mixers import qmix, vdn
from marlspec.primitives.returns import discounted_return, td_lambda


class Learner(eqx.Module):
    agent: Net
    """Shared utility network Q_i(tau_i, .)."""
    mixer: Hypernet | None
    """QMIX's hypernetwork; None for VDN."""


class ValueDecomposition(OffPolicy):
    info: EnvInfo = eqx.field(static=True)
    config: OffPolicyConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)
    mixer: str = eqx.field(static=True, default="qmix")
    """`vdn` or `qmix`."""

    def init_params(self, key: PRNGKeyArray) -> tuple[Learner]:
        c, info = self.config, self.info
        k1, k2 = jax.random.split(key)
        agent = Net(self.make_torso, self.input_dim, info.num_actions, 1.0, key=k1)
        mixer = Hypernet(info.state_dim, info.num_agents, given(c.mixing_embed, "mixing_embed"),
                         given(c.hypernet_embed, "hypernet_embed"), key=k2) if self.mixer == "qmix" else None
        return (Learner(agent, mixer),)

    def act(
        self, state: OffPolicyState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
        mode: Mode, greedy: bool = False,
    ) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        (learner,) = state.params
        hidden, last = carry
        hidden, h = self.step_features(learner.agent, hidden, self.agent_inputs(timestep.obs, last))
        q = jax.vmap(learner.agent.head)(h)
        eps = jnp.zeros(()) if greedy else self.epsilon(state)
        actions = fz.epsilon_greedy(key, q, timestep.avail_actions, eps)
        return actions, self.next_carry(hidden, actions), {}

    def _mix(self, mixer: Hypernet | None, qs: Float[Array, "L1 N"], ep: Episodes) -> Float[Array, " L1"]:
        qs = qs * ep.agent_mask.astype(qs.dtype)
        if mixer is None:
            return jax.vmap(vdn)(qs)
        return jax.vmap(lambda q, s: qmix(q, *mixer(s)))(qs, ep.state)

    def episode_td(self, params: tuple[Learner], target: tuple[Learner], ep: Episodes) -> dict[str, Array]:
        """One episode's joint values `q_tot`, their TD(lambda) `target`s and the observed
        discounted return-to-go `return` (the diagnostics compare the three), each [L]."""
        (learner,), (t_learner,) = params, target
        c, L = self.config, self.info.max_steps
        x = self.episode_inputs(ep)
        q = heads(learner.agent, unroll_features(learner.agent.torso, x))
        tq = heads(t_learner.agent, unroll_features(t_learner.agent.torso, x))
        picker = jax.lax.stop_gradient(q) if c.double_q else tq
        next_q = self._mix(t_learner.mixer, take(tq, masked_greedy(picker, ep.avail_actions)), ep)
        reward = ep.reward[:L]
        targets = td_lambda(reward, next_q[1:], ep.terminated[:L], ep.truncated[:L], c.gamma, c.td_lambda)
        q_tot = self._mix(learner.mixer, take(q, ep.actions), ep)[:L]
        observed = discounted_return(reward, ep.terminated[:L], ep.truncated[:L], c.gamma)
        return {"q_tot": q_tot, "target": jax.lax.stop_gradient(targets), "return": observed}

    def loss(
        self, params: tuple[Learner], target: tuple[Learner], batch: Episodes, key: PRNGKeyArray,
        alpha: Float[Array, ""],
    ) -> tuple[Float[Array, ""], dict[str, Array]]:
        terms = jax.vmap(self.episode_td, in_axes=(None, None, 0))(params, target, batch)
        steps = batch.filled.astype(jnp.float32)
        td = terms["q_tot"] - terms["target"]
        loss = obj.masked_mean(td**2, steps)
        metrics = {"td_loss": loss, "td_abs": obj.masked_mean(jnp.abs(td), steps)}
        metrics.update({k: obj.masked_mean(jax.lax.stop_gradient(v), steps) for k, v in terms.items()})
        return loss, metrics
