"""Summarise a thorough run of the theorem tests into THEOREMS.md ("Thorough run").

    HYPOTHESIS_PROFILE=thorough python -m pytest -m theory tests/theory --hypothesis-show-statistics \\
        -p no:cacheprovider | tee thorough.log
    python -m tests.theory.thorough_summary thorough.log --write

Reads Hypothesis's statistics (``--hypothesis-show-statistics``) from the pytest output: for every
property test, the passing, failing and invalid (rejected by ``assume`` or a strategy filter) examples
of the generate phase, why generation stopped, and the events the test records. Writes a table between
the ``thorough`` markers of THEOREMS.md, or prints it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THEOREMS = ROOT / "theory" / "THEOREMS.md"
BEGIN, END = "<!-- thorough:begin (written by tests/theory/thorough_summary.py) -->", "<!-- thorough:end -->"


def parse(text: str) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    test, phase = None, None
    for line in text.splitlines():
        m = re.match(r"^(tests/theory/\S+::\S+):$", line)
        if m:
            test, phase = m.group(1), None
            out[test] = {"passing": 0, "failing": 0, "invalid": 0, "stopped": "", "events": []}
            continue
        if test is None:
            continue
        m = re.match(r"^  - during (\w+) phase", line)
        if m:
            phase = m.group(1)
            continue
        m = re.match(r"^    - (\d+) passing, (\d+) failing, and (\d+) invalid test cases", line)
        if m and phase in ("reuse", "generate"):  # both count toward max_examples (reuse: the example database)
            rec = out[test]
            for key, val in zip(("passing", "failing", "invalid"), m.groups(), strict=True):
                rec[key] = int(rec[key]) + int(val)  # type: ignore[call-overload]
            continue
        m = re.match(r"^      \* ([\d.]+)%, (.*)$", line)
        if m and phase == "generate" and not m.group(2).startswith("gave up because"):
            out[test]["events"].append(f"{m.group(2)}: {m.group(1)}%")  # type: ignore[union-attr]
            continue
        m = re.match(r"^  - Stopped because (.*)$", line)
        if m:
            out[test]["stopped"] = m.group(1)
    return out


def table(stats: dict[str, dict[str, object]], source: str) -> str:
    lines = [
        f"From `{source}`: the examples of every property test (generate phase, plus any replayed from the example database) (`invalid` = draws rejected by "
        "`assume`, by a strategy's filter, or for exceeding Hypothesis's data budget; every counted, passing "
        "example asserted). Event percentages "
        "are over all generated examples, invalid ones included. Regenerate with "
        "`python -m tests.theory.thorough_summary LOG --write` (see its docstring).",
        "",
        "| property test | passing | failing | invalid | stopped because | events |",
        "|---|---|---|---|---|---|",
    ]
    for name, rec in stats.items():
        short = name.replace("tests/theory/", "")
        events = "; ".join(rec["events"]) or ""  # type: ignore[arg-type]
        lines.append(f"| `{short}` | {rec['passing']:,} | {rec['failing']} | {rec['invalid']:,} | "
                     f"{rec['stopped']} | {events} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--source", default=None, help="how to name the run in the text (default: the log's name)")
    args = parser.parse_args()
    stats = parse(Path(args.log).read_text())
    if not stats:
        sys.exit(f"{args.log}: no Hypothesis statistics found (run pytest with --hypothesis-show-statistics)")
    text = table(stats, args.source or Path(args.log).name)
    if args.write:
        doc = THEOREMS.read_text()
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        THEOREMS.write_text(head + BEGIN + "\n" + text + "\n" + END + tail)
    print(text)


if __name__ == "__main__":
    main()
