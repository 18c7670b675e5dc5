"""Hypothesis profiles for the theorem tests.

Select with the environment variable ``HYPOTHESIS_PROFILE``:

* ``ci`` (default): about 40 examples per property, no deadline. The whole
  ``tests/theory`` suite should finish in a few minutes on a 2-core CPU.
* ``thorough``: 1,000 examples per property, no deadline (tens of minutes).
* ``dev``: 10 examples, for editing loops.

Every profile prints Hypothesis's ``note`` output and the counterexample
rendered by ``theory.tabular.format_counterexample`` when a property fails.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)  # CI reruns the same examples
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.register_profile("dev", max_examples=10, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
