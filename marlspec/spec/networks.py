"""Network specs: the torso used by actors and critics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from marlspec.spec.base import PositiveInt, Spec

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


NetworkSpec = Annotated[MLPSpec | GRUSpec, Field(discriminator="kind")]
"""Every network kind, chosen by the `kind` field."""
