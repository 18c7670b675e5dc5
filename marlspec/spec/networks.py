"""Network specs: the torso used by actors and critics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from marlspec.spec.base import PositiveInt, Spec, fail

Activation = Literal["relu", "tanh", "elu", "gelu"]


class MLPSpec(Spec):
    """Feed-forward torso."""

    kind: Literal["mlp"] = "mlp"
    hidden: tuple[PositiveInt, ...] = Field((64, 64), strict=False)
    """Hidden layer widths, each >= 1 (a list in YAML; an empty list gives linear heads on the raw input)."""
    activation: Activation = "tanh"
    """Non-linearity between layers."""
    agent_id: bool = True
    """Append a one-hot agent id to each agent's input (needed with parameter sharing)."""


class GRUSpec(Spec):
    """Recurrent torso: Linear -> activation -> GRU. The hidden state resets at episode starts."""

    kind: Literal["gru"] = "gru"
    fc: int = Field(64, ge=1)
    """Width of the layer before the GRU."""
    hidden: int = Field(64, ge=1)
    """GRU hidden size."""
    activation: Activation = "relu"
    """Non-linearity after the input layer."""
    agent_id: bool = True
    """Append a one-hot agent id to each agent's input (needed with parameter sharing)."""


class EntitySpec(Spec):
    """Entity-attention network for teams whose size changes (REFIL; MIPI): each agent embeds
    its own features and every entity row it sees, attends over them (itself as the query),
    then a Linear layer and a GRU (or none). Nothing is sized to the number of agents and there
    is no agent id, so the same parameters run on any team (`marlspec.nn.entity`). Used by
    algorithm kind `mipi`."""

    kind: Literal["entity"] = "entity"
    embed: int = Field(64, ge=1)
    """Width of the entity embeddings and of the attention."""
    heads: int = Field(4, ge=1)
    """Attention heads; must divide embed."""
    hidden: int = Field(64, ge=1)
    """Width after the attention (the GRU's hidden size when recurrent)."""
    recurrent: bool = True
    """A GRU after the attention (agents act on their history, as in REFIL and MIPI's SMAC runs)."""
    activation: Activation = "relu"
    """Non-linearity of the embeddings and the layer after the attention."""

    @model_validator(mode="after")
    def _heads(self) -> EntitySpec:
        if self.embed % self.heads:
            fail("network.heads", f"{self.heads} heads do not divide embed = {self.embed}; pick a divisor", self.heads)
        return self


NetworkSpec = Annotated[MLPSpec | GRUSpec | EntitySpec, Field(discriminator="kind")]
"""Every network kind, chosen by the `kind` field."""
