"""Sable's retentive joint policy (Mahjoub et al. 2025, "Sable: a performant, efficient and
scalable sequence model for MARL"): MAT's encoder-decoder with attention replaced by
multi-scale retention (RetNet, Sun et al. 2023), so that the joint policy also remembers
earlier timesteps of the episode.

Retention of a query token l over key/value tokens m, per head with decay gamma_h:

    Ret(l) = sum_m  (q_l . k_m) * gamma_h^(t(l) - t(m)) * [m visible to l] * v_m

where t(.) is the token's timestep and m is visible to l when it is from an earlier step of
the same episode, or from the same step and allowed by the within-step mask (all agents in
the encoder; agents at or before l's decoding position in the decoder). Agents of one
timestep therefore share one decay exponent: the decay runs over time, not over agents.

This module evaluates retention in its *recurrent* form over time and its *parallel* form
over the agents of a step: the memory S (one [head, key, value] matrix per retention layer)
is S_t = gamma * S_{t-1} + sum_{m in step t} k_m^T v_m, and step t's outputs are
q_l (gamma S_{t-1}) plus the masked within-step term. That equals the parallel and
chunkwise forms Sable trains with (tests/test_retention.py checks it against the dense
parallel form); a rollout is replayed with one `lax.scan` over its steps.

Each retention output is normalised per head (GroupNorm) and gated, out = W_O(swish(W_G x) *
GroupNorm(Ret)), as in RetNet, with x the key/value stream (for the decoder's
cross-retention, the action stream rather than the encoder's representation, as in Mava). Because GroupNorm removes any per-token, per-head scale,
RetNet's and Mava's extra scale normalisations of the decay matrix and of q.k (numerical
safeguards for long chunks) are left out; so is Mava's optional timestep positional encoding.
Blocks follow Mava's Sable network (RMSNorm, SwiGLU feed-forward, a value head on the
encoder, the decoder's cross-retention with queries from the encoder's representation);
the per-head decays are 1 - exp(linspace(log 1/32, log 1/512, heads)) times a scaling
factor, Sable's `decay_scaling_factor` (tuned in {0.3, 0.5, 0.8, 1}, MAGPO Table 5).

Every method handles ONE environment; callers `vmap`. A new episode starts from
`initial_memory()` (zeros): the runner resets the carry there, and `sequence` zeroes the
memory where `first` is set.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.nn.autoregressive import causal_mask, linear
from marlspec.primitives import factorization as fz

Memory = tuple[Float[Array, "B H K K"], Float[Array, "B H K K"], Float[Array, "B H K K"]]
"""(encoder self-retention, decoder self-retention, decoder cross-retention), one matrix per
block and head."""
MemorySequence = tuple[Float[Array, "T B H K K"], Float[Array, "T B H K K"], Float[Array, "T B H K K"]]
"""The memory after each step of a rollout."""


def head_decays(heads: int, scaling: float = 1.0) -> tuple[float, ...]:
    """Sable's per-head decay rates gamma_h (the RetNet schedule, scaled)."""
    gammas = 1.0 - np.exp(np.linspace(np.log(1 / 32), np.log(1 / 512), heads))
    return tuple(float(g) for g in gammas * scaling)


def zero_memory(dim: int, blocks: int, heads: int) -> Memory:
    """The memory at an episode start."""
    zeros = jnp.zeros((blocks, heads, dim // heads, dim // heads), jnp.float32)
    return zeros, zeros, zeros


def _matrix(key: PRNGKeyArray, in_dim: int, out_dim: int) -> eqx.nn.Linear:
    """A bias-free projection with N(0, 1/in_dim^2) weights (the scale of Mava's retention weights)."""
    layer = eqx.nn.Linear(in_dim, out_dim, use_bias=False, key=key)
    return eqx.tree_at(lambda m: m.weight, layer, jax.random.normal(key, (out_dim, in_dim)) / in_dim)


class RMSNorm(eqx.Module):
    """Root-mean-square normalisation over the last axis, with a learned gain."""

    weight: Float[Array, " d"]

    def __init__(self, dim: int):
        self.weight = jnp.ones((dim,), jnp.float32)

    def __call__(self, x: Float[Array, "*b d"]) -> Float[Array, "*b d"]:
        return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + 1e-6) * jnp.broadcast_to(self.weight, x.shape)


class SwiGLU(eqx.Module):
    """W_2 (swish(W_1 x) * W_3 x), applied to one token."""

    w1: eqx.nn.Linear
    w2: eqx.nn.Linear
    w3: eqx.nn.Linear

    def __init__(self, dim: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.w1, self.w3 = linear(k1, dim, dim), linear(k3, dim, dim)
        self.w2 = linear(k2, dim, dim, 0.01)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        return self.w2(jax.nn.swish(self.w1(x)) * self.w3(x))


class Retention(eqx.Module):
    """Gated multi-scale retention over the tokens of one timestep, with a memory of earlier
    steps (see the module docstring)."""

    query: eqx.nn.Linear
    key: eqx.nn.Linear
    value: eqx.nn.Linear
    gate: eqx.nn.Linear
    out: eqx.nn.Linear
    norm_weight: Float[Array, " d"]
    norm_bias: Float[Array, " d"]
    heads: int = eqx.field(static=True)
    decays: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, dim: int, heads: int, decays: tuple[float, ...], *, key: PRNGKeyArray):
        kq, kk, kv, kg, ko = jax.random.split(key, 5)
        self.query, self.key, self.value = _matrix(kq, dim, dim), _matrix(kk, dim, dim), _matrix(kv, dim, dim)
        self.gate, self.out = _matrix(kg, dim, dim), _matrix(ko, dim, dim)
        self.norm_weight, self.norm_bias = jnp.ones((dim,), jnp.float32), jnp.zeros((dim,), jnp.float32)
        self.heads, self.decays = heads, decays

    def __call__(
        self, memory: Float[Array, "H K K"], queries: Float[Array, "N d"], keys_values: Float[Array, "N d"],
        mask: Bool[Array, "N N"] | None = None,
    ) -> tuple[Float[Array, "N d"], Float[Array, "H K K"]]:
        """This step's outputs and the memory after it. `memory` is S_{t-1} (zeros at an
        episode start); `mask[l, m]` says whether token m of this step is visible to query l."""
        n, dim = queries.shape
        split = lambda x: x.reshape(n, self.heads, -1)
        q = split(jax.vmap(self.query)(queries))
        k = split(jax.vmap(self.key)(keys_values)) * (dim // self.heads) ** -0.5
        v = split(jax.vmap(self.value)(keys_values))
        prior = jnp.asarray(self.decays, jnp.float32)[:, None, None] * memory  # gamma * S_{t-1}
        scores = jnp.einsum("qhd,khd->hqk", q, k)
        if mask is not None:
            scores = jnp.where(mask[None], scores, 0.0)
        ret = jnp.einsum("hqk,khe->qhe", scores, v) + jnp.einsum("qhd,hde->qhe", q, prior)
        new_memory = prior + jnp.einsum("khd,khe->hde", k, v)
        centred = ret - ret.mean(-1, keepdims=True)  # GroupNorm: one group per head
        normed = (centred * jax.lax.rsqrt((centred * centred).mean(-1, keepdims=True) + 1e-5)).reshape(n, dim)
        normed = normed * jnp.broadcast_to(self.norm_weight, normed.shape) + jnp.broadcast_to(self.norm_bias, normed.shape)
        return jax.vmap(self.out)(jax.nn.swish(jax.vmap(self.gate)(keys_values)) * normed), new_memory


class RetentionEncoderBlock(eqx.Module):
    """Full (unmasked) self-retention over the agents' tokens, then SwiGLU; post-norm."""

    retention: Retention
    ff: SwiGLU
    norm1: RMSNorm
    norm2: RMSNorm

    def __init__(self, dim: int, heads: int, decays: tuple[float, ...], *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.retention, self.ff = Retention(dim, heads, decays, key=k1), SwiGLU(dim, key=k2)
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)

    def __call__(
        self, memory: Float[Array, "H K K"], x: Float[Array, "N d"]
    ) -> tuple[Float[Array, "N d"], Float[Array, "H K K"]]:
        ret, memory = self.retention(memory, x, x)
        x = self.norm1(x + ret)
        return self.norm2(x + jax.vmap(self.ff)(x)), memory


class RetentionDecoderBlock(eqx.Module):
    """Causal self-retention over the action stream, then causal cross-retention whose queries
    are the encoder representations and whose keys/values are the action stream, then SwiGLU."""

    self_retention: Retention
    cross_retention: Retention
    ff: SwiGLU
    norm1: RMSNorm
    norm2: RMSNorm
    norm3: RMSNorm

    def __init__(self, dim: int, heads: int, decays: tuple[float, ...], *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.self_retention = Retention(dim, heads, decays, key=k1)
        self.cross_retention = Retention(dim, heads, decays, key=k2)
        self.ff = SwiGLU(dim, key=k3)
        self.norm1, self.norm2, self.norm3 = RMSNorm(dim), RMSNorm(dim), RMSNorm(dim)

    def __call__(
        self, memory: tuple[Float[Array, "H K K"], Float[Array, "H K K"]], x: Float[Array, "N d"],
        rep: Float[Array, "N d"], mask: Bool[Array, "N N"],
    ) -> tuple[Float[Array, "N d"], tuple[Float[Array, "H K K"], Float[Array, "H K K"]]]:
        ret, m_self = self.self_retention(memory[0], x, x, mask)
        x = self.norm1(x + ret)
        ret, m_cross = self.cross_retention(memory[1], rep, x, mask)
        y = self.norm2(rep + ret)
        return self.norm3(y + jax.vmap(self.ff)(y)), (m_self, m_cross)


class RetentivePolicy(eqx.Module):
    """Sable's joint policy with a per-agent centralized value head. The interface mirrors
    `AutoregressivePolicy`, with the episode memory passed in and returned.

    `inputs` are one token per agent, `[N, in_dim]`; `order[j]` is the agent that acts j-th.
    """

    input_norm: RMSNorm
    embed: eqx.nn.Linear
    encoder_norm: RMSNorm
    encoder: tuple[RetentionEncoderBlock, ...]
    value_hidden: eqx.nn.Linear
    value_norm: RMSNorm
    value_out: eqx.nn.Linear
    action_embed: eqx.nn.Linear
    start: Float[Array, " d"]
    decoder_norm: RMSNorm
    decoder: tuple[RetentionDecoderBlock, ...]
    head_hidden: eqx.nn.Linear
    head_norm: RMSNorm
    head_out: eqx.nn.Linear
    num_actions: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)

    def __init__(
        self, in_dim: int, num_actions: int, *, dim: int = 64, blocks: int = 1, heads: int = 1,
        decay_scaling: float = 1.0, discrete: bool = True, key: PRNGKeyArray,
    ):
        if not discrete:
            # A guard for direct library use: specs never get here, because JointPolicyFamilySpec
            # sets supports_continuous = False and the spec check rejects continuous envs with exit
            # code 2. Continuous actions are left to a later issue (issue 6 scopes them out).
            raise NotImplementedError("RetentivePolicy supports discrete actions only for now")
        decays = head_decays(heads, decay_scaling)
        keys = jax.random.split(key, 8 + 2 * blocks)
        self.input_norm, self.embed = RMSNorm(in_dim), linear(keys[0], in_dim, dim)
        self.encoder_norm = RMSNorm(dim)
        self.encoder = tuple(RetentionEncoderBlock(dim, heads, decays, key=k) for k in keys[8 : 8 + blocks])
        self.value_hidden, self.value_norm = linear(keys[1], dim, dim), RMSNorm(dim)
        self.value_out = linear(keys[2], dim, 1, 0.01)
        self.action_embed = linear(keys[3], num_actions, dim)
        self.start = 0.1 * jax.random.normal(keys[4], (dim,))
        self.decoder_norm = RMSNorm(dim)
        self.decoder = tuple(RetentionDecoderBlock(dim, heads, decays, key=k) for k in keys[8 + blocks :])
        self.head_hidden, self.head_norm = linear(keys[5], dim, dim), RMSNorm(dim)
        self.head_out = linear(keys[6], dim, num_actions, 0.01)
        self.num_actions, self.heads = num_actions, heads

    def initial_memory(self) -> Memory:
        return zero_memory(self.start.shape[0], len(self.encoder), self.heads)

    # ------------------------------------------------------------------ encoder
    def encode(
        self, memory: Float[Array, "B H K K"], inputs: Float[Array, "N in"]
    ) -> tuple[Float[Array, "N d"], Float[Array, " N"], Float[Array, "B H K K"]]:
        """Per-agent representations, centralized values and the encoder memory after this step."""
        x = jax.nn.gelu(jax.vmap(self.embed)(self.input_norm(inputs)))
        new = []
        for b, block in enumerate(self.encoder):
            x, m = block(memory[b], self.encoder_norm(x))
            new.append(m)
        values = jax.vmap(lambda r: self.value_out(self.value_norm(jax.nn.gelu(self.value_hidden(r))))[0])(x)
        return x, values, jnp.stack(new)

    # ------------------------------------------------------------------ decoder
    def decode(
        self, memory: tuple[Float[Array, "B H K K"], Float[Array, "B H K K"]], rep: Float[Array, "N d"],
        actions: Int[Array, " N"], order: Int[Array, " N"],
    ) -> tuple[Float[Array, "N A"], tuple[Float[Array, "B H K K"], Float[Array, "B H K K"]]]:
        """Every agent's logits given the previous agents' actions (rows in agent-index order;
        agent `order[j]`'s row depends only on the actions of `order[:j]` and on earlier steps),
        and the decoder memory after this step."""
        n = rep.shape[0]
        perm = jax.nn.one_hot(order, n, dtype=rep.dtype)  # P[j, i] = 1 iff agent i acts j-th
        rep_seq = perm @ rep
        prev = jax.nn.gelu(jax.vmap(self.action_embed)((perm @ jax.nn.one_hot(actions, self.num_actions))[:-1]))
        x = self.decoder_norm(jnp.concatenate([self.start[None], prev], axis=0))
        mask, m_self, m_cross = causal_mask(n), [], []
        for b, block in enumerate(self.decoder):
            x, (ms, mc) = block((memory[0][b], memory[1][b]), x, rep_seq, mask)
            m_self.append(ms)
            m_cross.append(mc)
        logits_seq = jax.vmap(lambda h: self.head_out(self.head_norm(jax.nn.gelu(self.head_hidden(h)))))(x)
        return perm.T @ logits_seq, (jnp.stack(m_self), jnp.stack(m_cross))

    def step_logits(
        self, memory: Memory, inputs: Float[Array, "N in"], actions: Int[Array, " N"], avail: Bool[Array, "N A"],
        order: Int[Array, " N"],
    ) -> tuple[Float[Array, "N A"], Float[Array, " N"], Memory]:
        """One step, teacher-forced: masked conditional logits, values and the next memory."""
        rep, values, m_enc = self.encode(memory[0], inputs)
        logits, (m_self, m_cross) = self.decode(memory[1:], rep, actions, order)
        return fz.mask_logits(logits, avail), values, (m_enc, m_self, m_cross)

    def sample(
        self, key: PRNGKeyArray, memory: Memory, inputs: Float[Array, "N in"], avail: Bool[Array, "N A"],
        order: Int[Array, " N"], greedy: bool = False,
    ) -> tuple[Int[Array, " N"], Float[Array, " N"], Float[Array, " N"], Memory]:
        """Acting path: a joint action sampled agent by agent in `order`, each agent's
        conditional log-probability, the values, and the memory after this step."""
        rep, values, m_enc = self.encode(memory[0], inputs)
        logits_of = lambda a: fz.mask_logits(self.decode(memory[1:], rep, a, order)[0], avail)
        actions, log_probs = fz.autoregressive_sample(key, logits_of, order, greedy)
        _, (m_self, m_cross) = self.decode(memory[1:], rep, actions, order)
        return actions, log_probs, values, (m_enc, m_self, m_cross)

    def sequence(
        self, memory: Memory, inputs: Float[Array, "T N in"], actions: Int[Array, "T N"], avail: Bool[Array, "T N A"],
        first: Bool[Array, " T"], order: Int[Array, " N"],
    ) -> tuple[Float[Array, "T N A"], Float[Array, "T N"], MemorySequence]:
        """Training path: replay one environment's rollout from `memory` (its carry before the
        rollout), zeroing the memory where an episode starts. Returns the logits and values of
        every step and the memory after every step (`[T, ...]` leaves)."""

        def step(m: Memory, xs: tuple[Array, ...]) -> tuple[Memory, tuple[Array, Array, Memory]]:
            x, a, av, f = xs
            m = jax.tree.map(lambda leaf: jnp.where(f, jnp.zeros_like(leaf), leaf), m)
            logits, values, m = self.step_logits(m, x, a, av, order)
            return m, (logits, values, m)

        _, (logits, values, after) = jax.lax.scan(step, memory, (inputs, actions, avail, first))
        return logits, values, after

    def sequence_values(
        self, memory: Memory, inputs: Float[Array, "T N in"], next_inputs: Float[Array, "T N in"],
        first: Bool[Array, " T"],
    ) -> tuple[Float[Array, "T N"], Float[Array, "T N"]]:
        """The values of a rollout's steps, V(o_t | episode memory), and of each step's next
        observation (the final one where the episode ended), read with the memory after step t.
        Only the encoder runs."""

        def step(m: Float[Array, "B H K K"], xs: tuple[Array, Array]) -> tuple[Array, tuple[Array, Array]]:
            x, f = xs
            _, values, m = self.encode(jnp.where(f, jnp.zeros_like(m), m), x)
            return m, (values, m)

        _, (values, after) = jax.lax.scan(step, memory[0], (inputs, first))
        next_values = jax.vmap(lambda m, x: self.encode(m, x)[1])(after, next_inputs)
        return values, next_values
