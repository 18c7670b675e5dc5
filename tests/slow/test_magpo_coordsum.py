"""MAGPO and CTDS learning tests on CoordSum 3x10-30 (nox -s slow; about 20 minutes on 2 cores shared with a benchmark).

Each trains 5 seeds for 0.5M steps inside one compiled program, with the configuration of
benchmarks/coordsum_table.py (specs/coordsum/magpo_3x10-30.yaml), whose recorded results
are in benchmarks/results/coordsum.md (its 3x10-30 rows `magpo` and `ctds` are this exact
program; the spec has used the paper's vf_coef = 0.1 since session 6). Returns are
the final evaluation's mean over 32 sampled-action episodes per seed; a uniform-random team
scores 6.5 on this task.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.coordsum_table import spec_text  # noqa: E402
from marlspec.spec import parse_spec  # noqa: E402
from marlspec.train.runner import run  # noqa: E402

pytestmark = pytest.mark.slow

SEEDS = [0, 1, 2, 3, 4]


@functools.cache
def final(algorithm: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed final (execution, behaviour) returns."""
    text, overrides = spec_text("3x10-30", algorithm, 500_000, SEEDS, [])
    spec = parse_spec(text, f"<{algorithm} 3x10-30>", overrides)
    rundir = run(spec, Path(tempfile.mkdtemp(prefix=f"{algorithm}_")), progress=False)
    rows = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    last = max(r["env_steps"] for r in rows)
    rows = sorted((r for r in rows if r["env_steps"] == last), key=lambda r: r["seed"])
    return np.array([r["eval_return"] for r in rows]), np.array([r["behaviour_return"] for r in rows])


def test_magpo_learns_and_its_learners_keep_up_with_the_guider():
    """5 seeds x 0.5M steps. Measured 2026-11-30 (vf_coef 0.1): learners 83.8 (per seed 89.5 /
    84.9 / 80.2 / 79.4 / 84.7), guider 84.9, mean gap 1.2. At vf_coef 0.5 it was 60.8, gap 0.5.
    Thresholds: the learners' mean >= 60 (random 6.5), and the mean guider-minus-learner
    gap <= 3."""
    execution, behaviour = final("magpo")
    assert execution.mean() >= 60.0, execution
    assert (behaviour - execution).mean() <= 3.0, (behaviour, execution)


def test_ctds_students_trail_their_teacher():
    """5 seeds x 0.5M steps. Measured 2026-11-30 (vf_coef 0.1): students 81.5, teachers 89.3,
    a mean gap of 7.8, every seed's gap between 3.5 and 10.8 (MAGPO's mean gap is 1.2 at the
    same budget; at vf_coef 0.5 the gaps were 9.0 and 0.5): distillation without the delta
    constraint leaves an imitation gap. Threshold: the mean teacher-minus-student gap >= 3."""
    execution, behaviour = final("ctds")
    assert (behaviour - execution).mean() >= 3.0, (behaviour, execution)
