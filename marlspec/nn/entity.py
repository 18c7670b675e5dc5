"""Entity-attention networks for teams whose size changes (REFIL, Iqbal et al. 2021; MIPI).

No layer here is sized to the number of agents or entities and there is no one-hot agent
id: an agent reads its own features (s+) and attends over a *set* of entity rows (s-)
with a mask, and the mixer attends over the state's entity rows. The same parameters
therefore run on any team size; padded or absent entities are masked out of every
softmax, so they change nothing (tests/test_mipi.py checks this).

`__call__` handles one agent (torso) or one joint step (mixer); callers `vmap`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from marlspec.nn.torso import ACTIVATIONS, linear
from marlspec.primitives.factorization import NEG


@dataclasses.dataclass(frozen=True)
class EntityNetConfig:
    """The `network: {kind: entity}` section (see `marlspec.spec.networks.EntitySpec`)."""

    embed: int
    heads: int
    hidden: int
    recurrent: bool
    activation: str


def masked_attention(
    query: Float[Array, " D"], keys: Float[Array, "K D"], values: Float[Array, "K D"], mask: Bool[Array, " K"],
    heads: int,
) -> Float[Array, " D"]:
    """Multi-head scaled dot-product attention of ONE query over K keys; masked keys get
    weight exactly 0. At least one key must be unmasked (callers keep the agent itself)."""
    d = query.shape[0] // heads
    q = query.reshape(heads, d)
    k = keys.reshape(-1, heads, d)
    v = values.reshape(-1, heads, d)
    logits = jnp.einsum("hd,khd->hk", q, k) / jnp.sqrt(jnp.asarray(d, query.dtype))
    weights = jax.nn.softmax(jnp.where(mask[None, :], logits, NEG), axis=-1) * mask[None, :]
    return jnp.einsum("hk,khd->hd", weights, v).reshape(-1)


class EntityTorso(eqx.Module):
    """One agent's features from its own features and a masked set of entity rows, as REFIL's
    agent network: embed every entity (Linear + activation; the agent's own row with its own
    layer), one multi-head attention with the agent as the query and itself plus the visible
    entities as keys, a Linear + activation, then a GRU cell (or nothing when feed-forward).

    `(hidden, own, rows, mask, reset) -> (hidden, features)`; the hidden state is zeroed first
    where `reset`."""

    own_in: eqx.nn.Linear
    entity_in: eqx.nn.Linear
    qkv: eqx.nn.Linear
    out: eqx.nn.Linear
    fc: eqx.nn.Linear
    cell: eqx.nn.GRUCell | None
    heads: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)
    out_dim: int = eqx.field(static=True)
    hidden_dim: int = eqx.field(static=True)

    def __init__(self, own_dim: int, entity_dim: int, config: EntityNetConfig, *, key: PRNGKeyArray):
        if config.embed % config.heads:
            raise ValueError(f"network.heads: {config.heads} heads do not divide embed = {config.embed}")
        k = jax.random.split(key, 6)
        e = config.embed
        self.own_in = linear(k[0], own_dim, e)
        self.entity_in = linear(k[1], entity_dim, e)
        self.qkv = linear(k[2], e, 3 * e, 1.0)
        self.out = linear(k[3], e, e)
        self.fc = linear(k[4], e, config.hidden)
        self.cell = eqx.nn.GRUCell(config.hidden, config.hidden, key=k[5]) if config.recurrent else None
        self.heads = config.heads
        self.activation = ACTIVATIONS[config.activation]
        self.out_dim = config.hidden
        self.hidden_dim = config.hidden if config.recurrent else 0

    def init_hidden(self) -> Float[Array, " H"]:
        return jnp.zeros((self.hidden_dim,), jnp.float32)

    def attend(self, own: Float[Array, " o"], rows: Float[Array, "E d"], mask: Bool[Array, " E"]) -> Float[Array, " F"]:
        """The feed-forward part (everything before the GRU): callers that have a whole episode
        run it on every step at once and scan only the GRU (`recur`)."""
        act = self.activation
        tokens = jnp.concatenate([act(self.own_in(own))[None], jax.vmap(lambda r: act(self.entity_in(r)))(rows)])
        q, k, v = jnp.split(jax.vmap(self.qkv)(tokens), 3, axis=-1)
        keep = jnp.concatenate([jnp.ones((1,), bool), mask])  # the agent always attends to itself
        return act(self.fc(act(self.out(masked_attention(q[0], k, v, keep, self.heads)))))

    def recur(self, hidden: Float[Array, " H"], x: Float[Array, " F"], reset: Bool[Array, ""]) -> tuple[Array, Array]:
        """The GRU step on `attend`'s output (the identity when feed-forward)."""
        if self.cell is None:
            return hidden, x
        hidden = self.cell(x, jnp.where(reset, jnp.zeros_like(hidden), hidden))
        return hidden, hidden

    def __call__(
        self, hidden: Float[Array, " H"], own: Float[Array, " o"], rows: Float[Array, "E d"], mask: Bool[Array, " E"],
        reset: Bool[Array, ""],
    ) -> tuple[Float[Array, " H"], Float[Array, " F"]]:
        return self.recur(hidden, self.attend(own, rows, mask), reset)


class EntityMixer(eqx.Module):
    """Non-negative per-agent mixing weights w_i(s) and a bias b(s) by attention over the
    state's entity rows, as REFIL's linear attention mixer (`LinearFlexQMixer` in its code):
    every state row is embedded (Linear + ReLU); each agent's row queries the present rows
    (itself always); w_i = |Linear(attention output)| and b(s) is the mean over the present
    agents of another Linear of it. With `masks` (REFIL's imagined groups) agent i attends
    only to the rows its mask allows. Absent agents get w_i = 0.

    The mixing formula is `primitives.mixers.attention_linear`; MIPI eq. 15 is
    sum_i w_i(s) Q_i + b(s) with w_i >= 0."""

    embed_in: eqx.nn.Linear
    qkv: eqx.nn.Linear
    weight: eqx.nn.Linear
    bias: eqx.nn.Linear
    heads: int = eqx.field(static=True)

    def __init__(self, state_entity_dim: int, embed: int, heads: int, *, key: PRNGKeyArray):
        if embed % heads:
            raise ValueError(f"algorithm.attention_heads: {heads} heads do not divide mixing_embed = {embed}")
        k = jax.random.split(key, 4)
        self.embed_in = linear(k[0], state_entity_dim, embed)
        self.qkv = linear(k[1], embed, 3 * embed, 1.0)
        self.weight = linear(k[2], embed, 1, 1.0)
        self.bias = linear(k[3], embed, 1, 1.0)
        self.heads = heads

    def __call__(
        self, rows: Float[Array, "G d"], present: Bool[Array, " G"], agent_mask: Bool[Array, " N"],
        masks: Bool[Array, "N G"] | None = None,
    ) -> tuple[Float[Array, " N"], Float[Array, ""]]:
        n = agent_mask.shape[0]
        tokens = jax.nn.relu(jax.vmap(self.embed_in)(rows))
        q, k, v = jnp.split(jax.vmap(self.qkv)(tokens), 3, axis=-1)
        allowed = jnp.broadcast_to(present[None, :], (n, rows.shape[0])) if masks is None else masks & present[None, :]
        allowed = allowed | jnp.eye(n, rows.shape[0], dtype=bool)  # an agent's own row, even when it is dead
        attended = jax.vmap(lambda qi, m: masked_attention(qi, k, v, m, self.heads))(q[:n], allowed)
        live = agent_mask.astype(rows.dtype)
        weights = jnp.abs(jax.vmap(self.weight)(attended)[:, 0]) * live
        bias = jnp.sum(jax.vmap(self.bias)(attended)[:, 0] * live) / jnp.maximum(live.sum(), 1.0)
        return weights, bias


class EntityActionHead(eqx.Module):
    """A last layer whose outputs do not depend on how many enemy slots there are: for
    environments whose actions are `moves` non-attack actions then one attack per enemy entity
    (`EnvInfo.attack_entities`), the non-attack outputs are a Linear of the agent's features h
    and the output of attacking enemy j is a bilinear score of h with enemy j's observation row
    r_j: <Linear(h), act(Linear(r_j))> / sqrt(k). The same parameters therefore give utilities
    or logits for any number of enemies, and attack j depends on enemy j's row only through
    r_j (a zero row, i.e. an absent or masked enemy, gives a constant; callers mask it).

    REFIL and MIPI instead pad the action space to the largest scenario and use one
    `Linear(hidden, num_actions)` (REFERENCE_FACTS.md, MIPI: it builds on REFIL); scoring
    attacks against the enemy rows is our deviation, so that training need not pay for the
    evaluation's larger slot count (benchmarks/results/mipi_smax_cost.md)."""

    move: eqx.nn.Linear
    query: eqx.nn.Linear
    target: eqx.nn.Linear
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(self, features: int, entity_dim: int, moves: int, width: int, activation: str, scale: float, *,
                 key: PRNGKeyArray):
        k = jax.random.split(key, 3)
        self.move = linear(k[0], features, moves, scale)
        self.query = linear(k[1], features, width, scale)
        self.target = linear(k[2], entity_dim, width)
        self.activation = ACTIVATIONS[activation]

    def __call__(self, features: Float[Array, " F"], rows: Float[Array, "E d"], attack_rows: tuple[int, ...]
                 ) -> Float[Array, " A"]:
        """Outputs for the non-attack actions, then one per attack (`attack_rows`: the row each
        attack targets, the environment's `EnvInfo.attack_entities`, not a parameter)."""
        enemies = self.activation(jax.vmap(self.target)(rows[jnp.asarray(attack_rows)]))
        scores = enemies @ self.query(features) / jnp.sqrt(jnp.asarray(enemies.shape[-1], features.dtype))
        return jnp.concatenate([self.move(features), scores])
