"""Algorithm specs, one per `kind`. Hyper-parameters only; the algorithm itself
lives in `marlspec.algorithms`."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from marlspec.spec.base import Spec


class PPOFamilySpec(Spec):
    """Hyper-parameters shared by the PPO-based algorithms (Schulman et al. 2017; Yu et al. 2022)."""

    supports_continuous: ClassVar[bool] = True
    centralized_critic: ClassVar[bool] = False

    gamma: float = Field(0.99, gt=0.0, le=1.0)
    """Discount factor."""
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0)
    """GAE(lambda) parameter."""
    clip_eps: float = Field(0.2, gt=0.0, lt=1.0)
    """PPO ratio clip epsilon."""
    value_clip_eps: float | None = Field(0.2, gt=0.0)
    """Value-function clip around the rollout-time value; null disables value clipping."""
    ent_coef: float = Field(0.01, ge=0.0)
    """Entropy bonus coefficient."""
    vf_coef: float = Field(0.5, ge=0.0)
    """Value loss coefficient."""
    max_grad_norm: float = Field(0.5, gt=0.0)
    """Global gradient-norm clip."""
    epochs: int = Field(4, ge=1, le=100)
    """Passes over each rollout."""
    num_minibatches: int = Field(4, ge=1)
    """Minibatches per epoch; each holds whole environment sequences, so it must divide train.num_envs."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""


class IPPOSpec(PPOFamilySpec):
    """Independent PPO: shared-parameter actor and critic on each agent's own observation."""

    kind: Literal["ippo"] = "ippo"


class MAPPOSpec(PPOFamilySpec):
    """MAPPO: shared-parameter actor on local observations, centralized critic on the global state."""

    centralized_critic: ClassVar[bool] = True
    kind: Literal["mappo"] = "mappo"


AlgorithmSpec = Annotated[IPPOSpec | MAPPOSpec, Field(discriminator="kind")]
"""Every algorithm kind, chosen by the `kind` field."""
