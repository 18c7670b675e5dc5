"""Equinox building blocks. Each `__call__` handles one example; callers `vmap`."""

from marlspec.nn.autoregressive import AutoregressivePolicy
from marlspec.nn.mixing import AttentionWeights, DependencyCorrection, Hypernet
from marlspec.nn.retention import RetentivePolicy
from marlspec.nn.torso import ACTIVATIONS, GRUTorso, MLPTorso, Net, Torso, TorsoFactory, linear

__all__ = [
    "ACTIVATIONS", "AttentionWeights", "AutoregressivePolicy", "DependencyCorrection", "GRUTorso", "Hypernet",
    "MLPTorso", "Net", "RetentivePolicy", "Torso", "TorsoFactory", "linear",
]
