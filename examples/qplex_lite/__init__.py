"""QPLEX-lite: a QPLEX-style duplex dueling mixer as a marlspec plugin (outside the package).

QPLEX (Wang et al. 2021, "QPLEX: Duplex Dueling Multi-Agent Q-Learning", sec. 3) writes the
joint value in dueling form so that the greedy joint action is the agents' greedy actions
(IGM) without QMIX's monotonicity constraint:

    Q_i(s, a_i) = w_i(s) Q_i(tau_i, a_i) + b_i(s),   V_i(s) = max_a Q_i(s, a),   w_i > 0
    Q_tot(s, a) = sum_i V_i(s) + sum_i lambda_i(s, a) (Q_i(s, a_i) - V_i(s)),   lambda_i > 0

Every advantage is <= 0 and is 0 at the greedy action, so the argmax of Q_tot is the tuple of
per-agent argmaxes. "Lite": lambda_i(s, a) is one softplus MLP on [s, one-hot a] instead of
QPLEX's multi-head attention. Everything else (replay, targets, TD(lambda), epsilon, optimiser)
comes from `marlspec.algorithms.off_policy.OffPolicy`. `marlspec.register_algorithm` at the end
makes `algorithm.kind: qplex_lite` valid once a spec lists `plugins: [examples.qplex_lite]`.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray
from pydantic import Field

import marlspec
from marlspec.algorithms.base import Mode
from marlspec.algorithms.off_policy import (
    OffPolicy,
    OffPolicyConfig,
    OffPolicyState,
    heads,
    masked_greedy,
    take,
    unroll_features,
)
from marlspec.algorithms.replay import Episodes
from marlspec.compile import off_policy_config
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import Net, TorsoFactory
from marlspec.nn.mixing import TwoLayer
from marlspec.primitives import factorization as fz
from marlspec.primitives import objectives as obj
from marlspec.primitives.returns import td_lambda
from marlspec.spec import OffPolicySpec


class QPLEXLiteSpec(OffPolicySpec):
    """QPLEX-lite (plugin): duplex dueling mixer, Q_tot = sum V_i + sum lambda_i(s, a) A_i."""

    kind: Literal["qplex_lite"] = "qplex_lite"
    mixing_embed: int = Field(32, ge=1)
    """Hidden width of the dueling networks w(s), b(s) and lambda(s, a)."""


class Dueling(eqx.Module):
    """The duplex dueling mixer: the transformation w(s), b(s) and the weights lambda(s, a)."""

    w: TwoLayer
    b: TwoLayer
    lam: TwoLayer

    def __init__(self, state_dim: int, n: int, a: int, embed: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.w = TwoLayer(k1, state_dim, embed, n)
        self.b = TwoLayer(k2, state_dim, embed, n)
        self.lam = TwoLayer(k3, state_dim + n * a, embed, n)

    def __call__(self, q: Float[Array, " N"], v: Float[Array, " N"], s: Float[Array, " S"],
                 onehot: Float[Array, "N A"]) -> Float[Array, ""]:
        w, b = jnp.abs(self.w(s)) + 1e-10, self.b(s)
        lam = jax.nn.softplus(self.lam(jnp.concatenate([s, onehot.reshape(-1)])))
        return jnp.sum(w * v + b) + jnp.sum(lam * w * (q - v))  # A_i = (w q + b) - (w v + b)


class Learner(eqx.Module):
    agent: Net
    mixer: Dueling


class QPLEXLite(OffPolicy):
    info: EnvInfo = eqx.field(static=True)
    config: OffPolicyConfig = eqx.field(static=True)
    make_torso: TorsoFactory = eqx.field(static=True)
    embed: int = eqx.field(static=True)

    def init_params(self, key: PRNGKeyArray) -> tuple[Learner]:
        k1, k2 = jax.random.split(key)
        info = self.info
        agent = Net(self.make_torso, self.input_dim, info.num_actions, 1.0, key=k1)
        return (Learner(agent, Dueling(info.state_dim, info.num_agents, info.num_actions, self.embed, key=k2)),)

    def act(self, state: OffPolicyState, timestep: TimeStep, carry: tuple[Array, Array], key: PRNGKeyArray,
            mode: Mode, greedy: bool = False) -> tuple[Array, tuple[Array, Array], dict[str, Array]]:
        (learner,) = state.params
        hidden, last = carry
        hidden, h = self.step_features(learner.agent, hidden, self.agent_inputs(timestep.obs, last))
        eps = jnp.zeros(()) if greedy else self.epsilon(state)
        actions = fz.epsilon_greedy(key, jax.vmap(learner.agent.head)(h), timestep.avail_actions, eps)
        return actions, self.next_carry(hidden, actions), {}

    def _q_tot(self, mixer: Dueling, q: Float[Array, "L1 N A"], a: Int[Array, "L1 N"], ep: Episodes) -> Array:
        mask = ep.agent_mask.astype(q.dtype)
        v = take(q, masked_greedy(q, ep.avail_actions)) * mask
        onehot = jax.nn.one_hot(a, self.info.num_actions)
        return jax.vmap(mixer)(take(q, a) * mask, v, ep.state, onehot)

    def episode_td(self, learner: Learner, t_learner: Learner, ep: Episodes) -> tuple[Array, Array]:
        c, L = self.config, self.info.max_steps
        x = self.episode_inputs(ep)
        q = heads(learner.agent, unroll_features(learner.agent.torso, x))
        tq = heads(t_learner.agent, unroll_features(t_learner.agent.torso, x))
        next_a = masked_greedy(jax.lax.stop_gradient(q), ep.avail_actions)  # double Q: online picks
        next_q = self._q_tot(t_learner.mixer, tq, next_a, ep)
        targets = td_lambda(ep.reward[:L], next_q[1:], ep.terminated[:L], ep.truncated[:L], c.gamma, c.td_lambda)
        return self._q_tot(learner.mixer, q, ep.actions, ep)[:L], jax.lax.stop_gradient(targets)

    def loss(self, params: tuple[Learner], target: tuple[Learner], batch: Episodes, key: PRNGKeyArray,
             alpha: Array) -> tuple[Array, dict[str, Array]]:
        q_tot, targets = jax.vmap(self.episode_td, in_axes=(None, None, 0))(params[0], target[0], batch)
        td = q_tot - targets
        loss = obj.masked_mean(td**2, batch.filled.astype(jnp.float32))
        return loss, {"td_loss": loss, "q_tot": obj.masked_mean(q_tot, batch.filled.astype(jnp.float32))}


def build(spec: marlspec.spec.ExperimentSpec, info: EnvInfo, make_torso: TorsoFactory) -> QPLEXLite:
    """The builder: the spec's algorithm section is a validated `QPLEXLiteSpec`."""
    a = spec.algorithm
    assert isinstance(a, QPLEXLiteSpec)  # registered for this kind only
    return QPLEXLite(info=info, config=off_policy_config(spec), make_torso=make_torso, embed=a.mixing_embed)


marlspec.register_algorithm(QPLEXLiteSpec, build)
