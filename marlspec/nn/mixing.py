"""Learned parts of value mixers and of MACPF's dependency corrections.

The mixing *formulas* are pure functions in `marlspec.primitives.mixers`; these
modules only produce their state-dependent weights. `__call__` handles one joint
step; callers `vmap` over time and batch.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlspec.nn.torso import linear
from marlspec.primitives.factorization import action_encodings, dependency_summary


class TwoLayer(eqx.Module):
    """Linear -> ReLU -> Linear (the hypernetworks' building block)."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, key: PRNGKeyArray, in_dim: int, hidden: int, out_dim: int):
        k1, k2 = jax.random.split(key)
        self.first = eqx.nn.Linear(in_dim, hidden, key=k1)
        self.second = eqx.nn.Linear(hidden, out_dim, key=k2)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " o"]:
        return self.second(jax.nn.relu(self.first(x)))


class Hypernet(eqx.Module):
    """QMIX-shaped hypernetwork (Rashid et al. 2018, section 4.3): from the global
    state s it produces W1(s) [N, E], b1(s) [E], W2(s) [E] and b2(s) = V(s), the
    parameters of `primitives.mixers.qmix` or `primitives.mixers.linear_hypernet`.
    W1 and W2 come from two-layer networks with a ReLU (hidden `hypernet_embed`)."""

    w1: TwoLayer
    b1: eqx.nn.Linear
    w2: TwoLayer
    b2: TwoLayer
    num_agents: int = eqx.field(static=True)
    embed: int = eqx.field(static=True)

    def __init__(self, state_dim: int, num_agents: int, embed: int, hypernet_embed: int, *, key: PRNGKeyArray):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.w1 = TwoLayer(k1, state_dim, hypernet_embed, num_agents * embed)
        self.b1 = eqx.nn.Linear(state_dim, embed, key=k2)
        self.w2 = TwoLayer(k3, state_dim, hypernet_embed, embed)
        self.b2 = TwoLayer(k4, state_dim, embed, 1)
        self.num_agents, self.embed = num_agents, embed

    def __call__(
        self, state: Float[Array, " S"]
    ) -> tuple[Float[Array, "N E"], Float[Array, " E"], Float[Array, " E"], Float[Array, ""]]:
        w1 = self.w1(state).reshape(self.num_agents, self.embed)
        return w1, self.b1(state), self.w2(state), self.b2(state)[0]


class AttentionWeights(eqx.Module):
    """FOP's mixing weights w_i(s) >= 0 and V(s), by multi-head attention (Qatten-style,
    as in FOP): w_i = sum_h softmax_i(<q_h(s), k_h(e_i)> / sqrt(d)).

    The reference keys each head on the agents' unit features sliced out of SMAC's
    state vector. The environment protocol has no such layout, so the keys here read
    each agent's own observation plus its id (`e_i`); the queries read the state.
    FOP's extra action-dependent lambda(s, a) term (QPLEX-style) is left out: the IGO
    form of REFERENCE_FACTS, Q_tot = sum_i w_i(s)(Q_i - V_i) + V(s), is what we mix.
    """

    queries: TwoLayer
    keys: eqx.nn.Linear
    value: TwoLayer
    heads: int = eqx.field(static=True)
    embed: int = eqx.field(static=True)

    def __init__(self, state_dim: int, entity_dim: int, heads: int, embed: int, hypernet_embed: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.queries = TwoLayer(k1, state_dim, hypernet_embed, heads * embed)
        self.keys = eqx.nn.Linear(entity_dim, heads * embed, use_bias=False, key=k2)
        self.value = TwoLayer(k3, state_dim, embed, 1)
        self.heads, self.embed = heads, embed

    def __call__(
        self, state: Float[Array, " S"], entities: Float[Array, "N e"]
    ) -> tuple[Float[Array, " N"], Float[Array, ""]]:
        q = self.queries(state).reshape(self.heads, self.embed)
        k = jax.vmap(self.keys)(entities).reshape(-1, self.heads, self.embed)
        logits = jnp.einsum("hd,nhd->hn", q, k) / jnp.sqrt(self.embed)
        weights = jax.nn.softmax(logits, axis=-1).sum(axis=0)
        return weights, self.value(state)[0]


class DependencyCorrection(eqx.Module):
    """MACPF's dependency correction b_i^dep (policy, eq. 10) or c_i^dep (critic, eq. 13).

    Following the authors' code (REFERENCE_FACTS): each agent j is encoded as
    [one_hot(j, N), one_hot(a_j, A)], passed through Linear(N + A, E) and an ELU, and
    the encodings of the agents j < i are summed and divided by N
    (`primitives.factorization.dependency_summary`); a Linear(F + E, A) then maps
    [h_i, summary_i] to a correction of agent i's logits or utilities, where h_i is
    the agent's features from the independent network (passed in held fixed).

    With `first_agent=False` agent 0's row is zero: it has no earlier agents to depend on,
    so its dependent policy (or utility) is its independent one.
    """

    encode: eqx.nn.Linear
    out: eqx.nn.Linear
    num_actions: int = eqx.field(static=True)
    first_agent: bool = eqx.field(static=True)

    def __init__(
        self, num_agents: int, num_actions: int, feature_dim: int, embed: int, first_agent: bool = True, *,
        key: PRNGKeyArray,
    ):
        k1, k2 = jax.random.split(key)
        self.first_agent = first_agent
        self.encode = eqx.nn.Linear(num_agents + num_actions, embed, key=k1)
        # Small output weights: the dependent policy/critic starts close to the independent one.
        self.out = linear(k2, feature_dim + embed, num_actions, 0.01)
        self.num_actions = num_actions

    def __call__(self, features: Float[Array, "N F"], actions: Int[Array, " N"]) -> Float[Array, "N A"]:
        embedded = jax.nn.elu(jax.vmap(self.encode)(action_encodings(actions, self.num_actions)))
        summary = dependency_summary(embedded)
        out = jax.vmap(self.out)(jnp.concatenate([features, summary], axis=-1))
        if self.first_agent:
            return out
        return out * (jnp.arange(out.shape[0]) > 0)[:, None].astype(out.dtype)
