"""An autoregressive joint policy over agents: a MAT-style encoder-decoder transformer
(Wen et al. 2022, "Multi-agent reinforcement learning is a sequence modeling problem").

- The **encoder** reads every agent's input token (its observation, plus the global
  state where the caller appends it) with full self-attention, and gives each agent a
  representation and a centralized value V_i(o_1..o_N).
- The **decoder** produces agent i_j's action distribution from the representations and
  the actions of the agents before it in an order i_1..i_N:
  mu^{i_j}(a^{i_j} | o, a^{i_1:j-1}). Its input at position j is a start token (j = 0) or
  the embedding of a^{i_{j-1}}; causal masks keep position j from seeing later actions.
- **Training** evaluates all agents at once (teacher forcing with the causal mask,
  `conditional_logits`); **sampling** goes agent by agent
  (`primitives.factorization.autoregressive_sample`), calling the same decoder, so the
  log-probabilities of both paths agree.

Every `__call__`-like method handles ONE example (one environment step); callers `vmap`.
Actions enter the decoder through `action_features` (a one-hot for discrete actions);
continuous actions would pass their raw vector there and read a mean from `head`
(not implemented yet: the constructor rejects continuous spaces).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.primitives import factorization as fz


def linear(key: PRNGKeyArray, in_dim: int, out_dim: int, scale: float = 2**0.5) -> eqx.nn.Linear:
    """A Linear layer with truncated-normal weights of variance scale^2 / fan_avg and zero bias.

    Not the orthogonal init of `nn.torso.linear`. This was chosen while that init still issued
    batched LAPACK QRs under the seed `vmap`, which can deadlock jaxlib 0.10's CPU kernels
    (`nn.torso._one_key_at_a_time` now prevents it); it is kept so that the MAGPO results
    recorded with it stay reproducible."""
    layer = eqx.nn.Linear(in_dim, out_dim, key=key)
    init = jax.nn.initializers.variance_scaling(scale**2, "fan_avg", "normal")
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer,
                       (init(key, (out_dim, in_dim), jnp.float32), jnp.zeros((out_dim,), jnp.float32)))


def causal_mask(n: int) -> Bool[Array, "N N"]:
    """Position j may attend to positions 0..j."""
    return jnp.tril(jnp.ones((n, n), bool))


class Attention(eqx.Module):
    """Multi-head scaled dot-product attention of `queries` over `keys_values` (no dropout,
    so the module holds arrays only)."""

    query: eqx.nn.Linear
    key: eqx.nn.Linear
    value: eqx.nn.Linear
    out: eqx.nn.Linear
    heads: int = eqx.field(static=True)

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.query, self.key, self.value = linear(kq, dim, dim, 1.0), linear(kk, dim, dim, 1.0), linear(kv, dim, dim, 1.0)
        self.out = linear(ko, dim, dim, 1.0)
        self.heads = heads

    def __call__(
        self, queries: Float[Array, "Q d"], keys_values: Float[Array, "K d"], mask: Bool[Array, "Q K"] | None = None
    ) -> Float[Array, "Q d"]:
        split = lambda x: x.reshape(x.shape[0], self.heads, -1)
        q, k, v = split(jax.vmap(self.query)(queries)), split(jax.vmap(self.key)(keys_values)), split(jax.vmap(self.value)(keys_values))
        scores = jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
        if mask is not None:
            scores = jnp.where(mask[None], scores, -1e9)
        weights = jax.nn.softmax(scores, axis=-1)
        mixed = jnp.einsum("hqk,khd->qhd", weights, v).reshape(queries.shape[0], -1)
        return jax.vmap(self.out)(mixed)


class FeedForward(eqx.Module):
    """Linear -> GELU -> Linear, applied to one token."""

    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear

    def __init__(self, dim: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.fc1 = linear(k1, dim, dim)
        self.fc2 = linear(k2, dim, dim, 0.01)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        return self.fc2(jax.nn.gelu(self.fc1(x)))


class LayerNorm(eqx.Module):
    """Layer normalisation over the last axis."""

    weight: Float[Array, " d"]
    bias: Float[Array, " d"]

    def __init__(self, dim: int):
        self.weight, self.bias = jnp.ones((dim,), jnp.float32), jnp.zeros((dim,), jnp.float32)

    def __call__(self, x: Float[Array, "*b d"]) -> Float[Array, "*b d"]:
        # Means as matrix products: XLA compiles these much faster than reductions.
        centred = x - x.mean(-1, keepdims=True)
        scale = jax.lax.rsqrt((centred * centred).mean(-1, keepdims=True) + 1e-5)
        return centred * scale * jnp.broadcast_to(self.weight, x.shape) + jnp.broadcast_to(self.bias, x.shape)


def _rows(norm: LayerNorm, x: Float[Array, "N d"]) -> Float[Array, "N d"]:
    return norm(x)


class EncoderBlock(eqx.Module):
    """Post-norm transformer block with full self-attention over agents."""

    attn: Attention
    ff: FeedForward
    norm1: LayerNorm
    norm2: LayerNorm

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.attn = Attention(dim, heads, key=k1)
        self.ff = FeedForward(dim, key=k2)
        self.norm1, self.norm2 = LayerNorm(dim), LayerNorm(dim)

    def __call__(self, x: Float[Array, "N d"]) -> Float[Array, "N d"]:
        x = _rows(self.norm1, x + self.attn(x, x))
        return _rows(self.norm2, x + jax.vmap(self.ff)(x))


class DecoderBlock(eqx.Module):
    """MAT's decoder block: causal self-attention over the action stream, then attention
    whose queries are the encoder representations (agent i_j's at position j) and whose
    keys/values are the action stream up to j, then a feed-forward layer."""

    self_attn: Attention
    cross_attn: Attention
    ff: FeedForward
    norm1: LayerNorm
    norm2: LayerNorm
    norm3: LayerNorm

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.self_attn, self.cross_attn = Attention(dim, heads, key=k1), Attention(dim, heads, key=k2)
        self.ff = FeedForward(dim, key=k3)
        self.norm1, self.norm2, self.norm3 = (LayerNorm(dim) for _ in range(3))

    def __call__(
        self, x: Float[Array, "N d"], rep: Float[Array, "N d"], mask: Bool[Array, "N N"]
    ) -> Float[Array, "N d"]:
        x = _rows(self.norm1, x + self.self_attn(x, x, mask))
        x = _rows(self.norm2, rep + self.cross_attn(rep, x, mask))
        return _rows(self.norm3, x + jax.vmap(self.ff)(x))


class AutoregressivePolicy(eqx.Module):
    """MAT-style joint policy with a per-agent centralized value head (see the module docstring).

    `inputs` are one token per agent, `[N, in_dim]` (e.g. observation ⊕ global state ⊕ agent id).
    `order` is a permutation of the agents: `order[j]` acts j-th.
    """

    input_norm: LayerNorm
    embed: eqx.nn.Linear
    encoder: tuple[EncoderBlock, ...]
    value_hidden: eqx.nn.Linear
    value_out: eqx.nn.Linear
    action_embed: eqx.nn.Linear
    start: Float[Array, " d"]
    decoder: tuple[DecoderBlock, ...]
    head_hidden: eqx.nn.Linear
    head_out: eqx.nn.Linear
    num_actions: int = eqx.field(static=True)

    def __init__(
        self, in_dim: int, num_actions: int, *, dim: int = 64, blocks: int = 1, heads: int = 1,
        discrete: bool = True, key: PRNGKeyArray,
    ):
        if not discrete:
            raise NotImplementedError("AutoregressivePolicy supports discrete actions only for now")
        keys = jax.random.split(key, 8 + 2 * blocks)
        self.input_norm = LayerNorm(in_dim)
        self.embed = linear(keys[0], in_dim, dim)
        self.encoder = tuple(EncoderBlock(dim, heads, key=k) for k in keys[8 : 8 + blocks])
        self.value_hidden = linear(keys[1], dim, dim)
        self.value_out = linear(keys[2], dim, 1, 1.0)
        self.action_embed = linear(keys[3], num_actions, dim)
        self.start = 0.1 * jax.random.normal(keys[4], (dim,))
        self.decoder = tuple(DecoderBlock(dim, heads, key=k) for k in keys[8 + blocks :])
        self.head_hidden = linear(keys[5], dim, dim)
        self.head_out = linear(keys[6], dim, num_actions, 0.01)
        self.num_actions = num_actions

    # ------------------------------------------------------------------ encoder
    def encode(self, inputs: Float[Array, "N in"]) -> tuple[Float[Array, "N d"], Float[Array, " N"]]:
        """Per-agent representations and centralized values."""
        x = jax.nn.gelu(jax.vmap(self.embed)(_rows(self.input_norm, inputs)))
        for block in self.encoder:
            x = block(x)
        values = jax.vmap(lambda r: self.value_out(jax.nn.gelu(self.value_hidden(r)))[0])(x)
        return x, values

    # ------------------------------------------------------------------ decoder
    def action_features(self, actions: Int[Array, " N"]) -> Float[Array, "N A"]:
        return jax.nn.one_hot(actions, self.num_actions, dtype=jnp.float32)

    def decode(
        self, rep: Float[Array, "N d"], actions: Int[Array, " N"], order: Int[Array, " N"]
    ) -> Float[Array, "N A"]:
        """Every agent's logits given the others' actions, rows in agent-index order. Agent
        `order[j]`'s row depends only on the actions of `order[:j]` (causal)."""
        n = rep.shape[0]
        # Reordering as products with the permutation matrix (P[j, i] = 1 iff agent i acts
        # j-th): on CPU they run and differentiate much faster than gathers and scatters.
        perm = jax.nn.one_hot(order, n, dtype=rep.dtype)
        rep_seq = perm @ rep
        prev = jax.vmap(self.action_embed)((perm @ self.action_features(actions))[:-1])
        x = jnp.concatenate([self.start[None], prev], axis=0)
        mask = causal_mask(n)
        for block in self.decoder:
            x = block(x, rep_seq, mask)
        logits_seq = jax.vmap(lambda h: self.head_out(jax.nn.gelu(self.head_hidden(h))))(x)
        return perm.T @ logits_seq

    def conditional_logits(
        self, inputs: Float[Array, "N in"], actions: Int[Array, " N"], avail: Bool[Array, "N A"],
        order: Int[Array, " N"],
    ) -> tuple[Float[Array, "N A"], Float[Array, " N"]]:
        """Training path: all agents' masked conditional logits (teacher forcing) and values."""
        rep, values = self.encode(inputs)
        return fz.mask_logits(self.decode(rep, actions, order), avail), values

    def sample(
        self, key: PRNGKeyArray, inputs: Float[Array, "N in"], avail: Bool[Array, "N A"],
        order: Int[Array, " N"], greedy: bool = False,
    ) -> tuple[Int[Array, " N"], Float[Array, " N"], Float[Array, " N"]]:
        """Acting path: a joint action sampled agent by agent in `order`, each agent's
        conditional log-probability, and the values."""
        rep, values = self.encode(inputs)
        logits_of = lambda actions: fz.mask_logits(self.decode(rep, actions, order), avail)
        actions, log_probs = fz.autoregressive_sample(key, logits_of, order, greedy)
        return actions, log_probs, values
