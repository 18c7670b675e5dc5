"""MIPI learns the team-composition matrix game (slow: `nox -s slow`).

specs/matrix/mipi_team_matrix.yaml with 5 seeds side by side. The thresholds are the game's
payoffs (marlspec/envs/team_matrix.py), not measured values: on the training compositions
(A, B) and (B, A) only the joint action (1, 1) pays 1.5 (every other pays at most 1.0), and on
the held-out (B, B) the generalizable joint action (0, 0) pays 1.0 (its optimum 1.25; the
training optimum -1.0). Evaluation is greedy, so a seed's return is exactly one payoff.

The paper's claim (section 5.1, Figure 2d: MI finds the generalizable action on (B, B)) does
NOT reproduce with our payoffs: benchmarks/results/mipi_matrix.md has MI, entropy and value all
playing (1, 1) on (B, B) in 10 of 10 seeds. That test is kept as a strict xfail: it documents
the finding and turns into a failure, to be looked at, the day it passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marlspec.spec import load_spec
from marlspec.train.runner import run

ROOT = Path(__file__).resolve().parents[2]
SEEDS = 5
NEEDED = 4
"""Seeds (of SEEDS) that must reach the threshold."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    spec = load_spec(ROOT / "specs" / "matrix" / "mipi_team_matrix.yaml",
                     overrides=[f"train.seeds={list(range(SEEDS))}", "log.plot=false", "log.checkpoint=false"])
    path = run(spec, tmp_path_factory.mktemp("mipi_matrix") / "run").path
    return json.loads((path / "summary.json").read_text())


def test_mipi_plays_the_training_optimum(summary: dict) -> None:
    per_seed = summary["final_return_per_seed"]
    assert len(per_seed) == SEEDS
    assert sum(r >= 1.5 - 1e-6 for r in per_seed.values()) >= NEEDED, per_seed


@pytest.mark.xfail(strict=True, reason="paper 002's matrix-game claim does not reproduce with our payoffs"
                   " (benchmarks/results/mipi_matrix.md: (1, 1) on (B, B) in 10/10 seeds)")
def test_mipi_plays_the_generalizable_action_on_the_held_out_composition(summary: dict) -> None:
    per_seed = summary["compositions"]["BB"]["final_return_per_seed"]
    assert len(per_seed) == SEEDS
    assert sum(r >= 1.0 - 1e-6 for r in per_seed.values()) >= NEEDED, per_seed
