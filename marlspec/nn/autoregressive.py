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

from marlspec.nn.torso import linear
from marlspec.primitives import factorization as fz


def causal_mask(n: int) -> Bool[Array, "N N"]:
    """Position j may attend to positions 0..j."""
    return jnp.tril(jnp.ones((n, n), bool))


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


def _rows(norm: eqx.nn.LayerNorm, x: Float[Array, "N d"]) -> Float[Array, "N d"]:
    return jax.vmap(norm)(x)


class EncoderBlock(eqx.Module):
    """Post-norm transformer block with full self-attention over agents."""

    attn: eqx.nn.MultiheadAttention
    ff: FeedForward
    norm1: eqx.nn.LayerNorm
    norm2: eqx.nn.LayerNorm

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.attn = eqx.nn.MultiheadAttention(heads, dim, use_query_bias=True, use_key_bias=True,
                                              use_value_bias=True, use_output_bias=True, key=k1)
        self.ff = FeedForward(dim, key=k2)
        self.norm1, self.norm2 = eqx.nn.LayerNorm(dim), eqx.nn.LayerNorm(dim)

    def __call__(self, x: Float[Array, "N d"]) -> Float[Array, "N d"]:
        x = _rows(self.norm1, x + self.attn(x, x, x))
        return _rows(self.norm2, x + jax.vmap(self.ff)(x))


class DecoderBlock(eqx.Module):
    """MAT's decoder block: causal self-attention over the action stream, then attention
    whose queries are the encoder representations (agent i_j's at position j) and whose
    keys/values are the action stream up to j, then a feed-forward layer."""

    self_attn: eqx.nn.MultiheadAttention
    cross_attn: eqx.nn.MultiheadAttention
    ff: FeedForward
    norm1: eqx.nn.LayerNorm
    norm2: eqx.nn.LayerNorm
    norm3: eqx.nn.LayerNorm

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        make = lambda k: eqx.nn.MultiheadAttention(heads, dim, use_query_bias=True, use_key_bias=True,
                                                   use_value_bias=True, use_output_bias=True, key=k)
        self.self_attn, self.cross_attn = make(k1), make(k2)
        self.ff = FeedForward(dim, key=k3)
        self.norm1, self.norm2, self.norm3 = (eqx.nn.LayerNorm(dim) for _ in range(3))

    def __call__(
        self, x: Float[Array, "N d"], rep: Float[Array, "N d"], mask: Bool[Array, "N N"]
    ) -> Float[Array, "N d"]:
        x = _rows(self.norm1, x + self.self_attn(x, x, x, mask=mask))
        x = _rows(self.norm2, rep + self.cross_attn(rep, x, x, mask=mask))
        return _rows(self.norm3, x + jax.vmap(self.ff)(x))


class AutoregressivePolicy(eqx.Module):
    """MAT-style joint policy with a per-agent centralized value head (see the module docstring).

    `inputs` are one token per agent, `[N, in_dim]` (e.g. observation ⊕ global state ⊕ agent id).
    `order` is a permutation of the agents: `order[j]` acts j-th.
    """

    input_norm: eqx.nn.LayerNorm
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
        self.input_norm = eqx.nn.LayerNorm(in_dim)
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
        rep_seq = rep[order]
        prev = jax.vmap(self.action_embed)(self.action_features(actions[order][:-1]))
        x = jnp.concatenate([self.start[None], prev], axis=0)
        mask = causal_mask(n)
        for block in self.decoder:
            x = block(x, rep_seq, mask)
        logits_seq = jax.vmap(lambda h: self.head_out(jax.nn.gelu(self.head_hidden(h))))(x)
        return jnp.zeros_like(logits_seq).at[order].set(logits_seq)

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
