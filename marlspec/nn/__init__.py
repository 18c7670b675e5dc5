"""Equinox building blocks. Each `__call__` handles one example; callers `vmap`."""

from marlspec.nn.autoregressive import AutoregressivePolicy
from marlspec.nn.torso import ACTIVATIONS, GRUTorso, MLPTorso, Net, Torso, TorsoFactory, linear

__all__ = ["AutoregressivePolicy", "ACTIVATIONS", "GRUTorso", "MLPTorso", "Net", "Torso", "TorsoFactory", "linear"]
