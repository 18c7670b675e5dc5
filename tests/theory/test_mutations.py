"""Every claim's own property test fails on realistic bugs in the tabular reference.

The registry and the runner are in ``tests/theory/mutants.py``; its table in THEOREMS.md
("Mutants") is written by ``nox -s mutants``. Here every (mutant, property test) pair of the
registry runs with ``CI_EXAMPLES`` derandomized examples and must end in a failed assertion
(not a pass, not a crash), and the registry must cover every claim of THEOREMS.md.
"""

from __future__ import annotations

import re

import pytest

from tests.theory.mutants import CI_EXAMPLES, MUTANTS, THEOREMS, patched, run_killer

pytestmark = [
    pytest.mark.theory,
    # beartype samples container items with `random` inside the strategies of the tests run here
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

PAIRS = [(m, k) for m in MUTANTS for k in m.killers]


@pytest.mark.parametrize(("mutant", "killer"), PAIRS, ids=[f"claim{m.claim}-{m.name}-{k.split('::')[1]}" for m, k in PAIRS])
def test_property_test_kills_mutant(mutant, killer):
    import importlib

    mod, attr = mutant.target.split(":")
    with patched(mutant.target, mutant.make(getattr(importlib.import_module(mod), attr))):
        status, examples, _, message = run_killer(killer, CI_EXAMPLES)
    assert status == "killed", f"{mutant.name} {status} {killer} after {examples} examples: {message}"


def test_every_claim_has_mutants_and_the_catalog_lists_them():
    """Claims 1-13 of THEOREMS.md all have a mutant, and the committed table lists exactly the registry."""
    text = THEOREMS.read_text()
    claims = set(re.findall(r"^\| (\d+) \| ", text.split("## Claim 1 ")[0], flags=re.M))
    assert claims == {str(i) for i in range(1, 14)}
    assert claims <= {m.claim for m in MUTANTS}
    table = text.split("<!-- mutants:begin")[1].split("<!-- mutants:end -->")[0]
    rows = re.findall(r"^\| (\d+) \| `([a-z0-9_]+)` \| (?:[^|]|\\\|)*? \| `([a-z_]+::[a-z0-9_]+)` \| killed \|", table, flags=re.M)
    listed = set(rows)
    assert listed == {(m.claim, m.name, k) for m, k in PAIRS}, "run `nox -s mutants` to refresh THEOREMS.md"
