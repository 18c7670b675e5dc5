"""AgentMixer's Policy Modifier (Li, Zhao, Wu & Pajarinen, AAAI 2024; paper 000, section
"Policy Modifier").

The modifier reads, for every agent of ONE environment step, the global state, the agent's
own observation, its individual policy (probabilities, or means for continuous actions) and
its id, and mixes them across agents and across features with MLP-Mixer blocks:

    H_agent   = H_input + W2_agent  sigma(W1_agent  LayerNorm(H_input))     (mixing over the agent axis)
    H_channel = H_agent + sigma(LayerNorm(H_agent) W1_channel) W2_channel    (mixing over features)

(the paper's two equations for agent- and channel-mixing). A final LayerNorm and a linear
head give one output row per agent: a head value per action (discrete IGC turns it into
Gumbel-like noise, `primitives.igc`) or a scale per action dimension (continuous IGC).

Sizes follow the authors' development code (REFERENCE_FACTS.md): every input is encoded to
`width` = 64 features; the agent-mixing MLP maps N -> 32 -> N; the channel-mixing MLP maps
64 -> 256 -> 64. Two choices of ours, where the summary and the facts are silent:

- the four per-agent inputs are encoded separately (Linear + ReLU each) and summed with a
  learned id embedding, which is a single linear layer on their concatenation;
- the individual policy enters as probabilities, not logits: masked logits carry -1e9 for
  unavailable actions, which a linear encoder cannot take.

The agent-mixing weights are sized to the number of agents N, as in the paper, so the module
is tied to one team size. Permuting the agents together with those weights (and the id
embedding) permutes the output: nothing else in the module depends on agent positions.
`__call__` handles one environment step; callers `vmap` over time and environments.
"""

from __future__ import annotations

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from marlspec.nn.torso import linear


class MixerMLP(eqx.Module):
    """Linear -> ReLU -> Linear, applied to the last axis."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, in_dim: int, hidden: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.first = linear(k1, in_dim, hidden)
        self.second = linear(k2, hidden, in_dim)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        return self.second(jax.nn.relu(self.first(x)))


class MixerBlock(eqx.Module):
    """One agent-mixing step then one channel-mixing step, each pre-LayerNorm with a residual."""

    agent_norm: eqx.nn.LayerNorm
    agent_mlp: MixerMLP
    channel_norm: eqx.nn.LayerNorm
    channel_mlp: MixerMLP

    def __init__(self, num_agents: int, width: int, agent_hidden: int, channel_hidden: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.agent_norm = eqx.nn.LayerNorm(width)
        self.agent_mlp = MixerMLP(num_agents, agent_hidden, key=k1)
        self.channel_norm = eqx.nn.LayerNorm(width)
        self.channel_mlp = MixerMLP(width, channel_hidden, key=k2)

    def __call__(self, h: Float[Array, "N W"]) -> Float[Array, "N W"]:
        normed = jax.vmap(self.agent_norm)(h)
        h = h + jax.vmap(self.agent_mlp, in_axes=1, out_axes=1)(normed)  # H_agent: one MLP per feature, over agents
        return h + jax.vmap(lambda row: self.channel_mlp(self.channel_norm(row)))(h)  # H_channel: per agent


class PolicyModifier(eqx.Module):
    """The Policy Modifier: per-agent inputs -> `blocks` MixerBlocks -> LayerNorm -> head.

    `__call__(state, obs, policy)` returns `[N, out_dim]`: one head row per agent."""

    state_encoder: eqx.nn.Linear
    obs_encoder: eqx.nn.Linear
    policy_encoder: eqx.nn.Linear
    agent_embedding: Float[Array, "N W"]
    blocks: tuple[MixerBlock, ...]
    final_norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(
        self, num_agents: int, state_dim: int, obs_dim: int, policy_dim: int, out_dim: int, *,
        width: int, agent_hidden: int, channel_hidden: int, blocks: int, key: PRNGKeyArray,
    ):
        keys = jax.random.split(key, 5 + blocks)
        self.state_encoder = linear(keys[0], state_dim, width)
        self.obs_encoder = linear(keys[1], obs_dim, width)
        self.policy_encoder = linear(keys[2], policy_dim, width)
        self.agent_embedding = 0.1 * jax.random.normal(keys[3], (num_agents, width))
        self.blocks = tuple(MixerBlock(num_agents, width, agent_hidden, channel_hidden, key=k) for k in keys[5:])
        self.final_norm = eqx.nn.LayerNorm(width)
        # A small head: at initialisation the modifier barely moves the individual policies.
        self.head = linear(keys[4], width, out_dim, 0.01)

    def __call__(
        self, state: Float[Array, " S"], obs: Float[Array, "N O"], policy: Float[Array, "N P"]
    ) -> Float[Array, "N out"]:
        encoded_state = jax.nn.relu(self.state_encoder(state))
        per_agent = jax.nn.relu(jax.vmap(self.obs_encoder)(obs)) + jax.nn.relu(jax.vmap(self.policy_encoder)(policy))
        h = per_agent + encoded_state[None, :] + self.agent_embedding
        for block in self.blocks:
            h = block(h)
        return jax.vmap(lambda row: self.head(self.final_norm(row)))(h)
