"""How benchmarks/coordsum_table.py groups a task's run directories into figures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.coordsum_table import figure_groups  # noqa: E402


def test_runs_split_into_algorithms_variants_and_ablation_arms() -> None:
    configs = {tag: {"tag": tag} for tag in
               ("ctds", "magpo", "mappo", "ctds_vf0.1", "magpo_vf0.1", "mappo_vf0.1", "delta1.1", "lambda0", "qmix_x", "delta3_vf0.1")}
    algorithms, variants, arms = figure_groups(configs)
    assert list(algorithms) == ["ctds", "magpo", "mappo"]
    assert {v: list(g) for v, g in variants.items()} == {"vf0.1": ["ctds_vf0.1", "magpo_vf0.1", "mappo_vf0.1"]}
    # Tags that do not start with one of the table's algorithms are single-algorithm arms,
    # grouped by the variant they were run under ("" when the suffix names no variant).
    assert {v: list(g) for v, g in arms.items()} == {"": ["delta1.1", "lambda0", "qmix_x"], "vf0.1": ["delta3_vf0.1"]}
