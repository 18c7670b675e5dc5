"""Moved to `marlspec.algorithms.replay` (the replay belongs to the off-policy algorithms, and
`algorithms/` must not import `train/`: tests/test_import_layers.py). This name stays for code
written against it."""

from marlspec.algorithms.replay import EpisodeReplay, Episodes, ReplayState

__all__ = ["EpisodeReplay", "Episodes", "ReplayState"]
