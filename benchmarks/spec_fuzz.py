"""Issue 18: the spec loader and `--set` fuzz at full size.

Runs every property of tests/test_spec_fuzz.py with `--examples` Hypothesis examples each
(default 10,000) and records, per
property, how many examples loaded and how many were refused with a one-line SpecError. Any
other exception, or a message of more than one line, fails the run (and nothing is
written). CI runs the same properties with 60 examples each.

    nice -n 10 python benchmarks/spec_fuzz.py [--examples 10000]

Writes benchmarks/results/spec_fuzz.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "outcomes.json"
        env = {**os.environ, "MARLSPEC_FUZZ_EXAMPLES": str(args.examples), "MARLSPEC_FUZZ_REPORT": str(report)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_spec_fuzz.py", "-q", "-n", "0",
                               "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"the fuzz found a failure:\n{proc.stdout[-4000:]}")
        outcomes = json.loads(report.read_text())
    rows = [{"property": name, "examples": sum(c.values()), "loaded": c.get("loaded", 0),
             "refused_one_line": c.get("refused", 0), "other_exceptions": 0} for name, c in outcomes.items()]
    total = sum(r["examples"] for r in rows)
    notes = (f"{total:,} examples in all ({args.examples:,} per property), "
             f"{seconds / 60:.0f} minutes: every one either loaded or was refused with a one-line SpecError; no other "
             "exception and no multi-line message. `loaded` examples of `validates_then_compiles` were also compiled"
             " (`marlspec.compile.compile`) without error. Regenerate with `nice -n 10 python benchmarks/spec_fuzz.py`.")
    write("spec_fuzz", {"examples_per_property": args.examples, "seconds": seconds, "rows": rows}, rows, notes)
    print(notes)


if __name__ == "__main__":
    main()
