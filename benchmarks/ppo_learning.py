"""The IPPO/MAPPO learning tests of issue 2, recorded: benchmarks/results/ppo_learning.{json,md}.

    nice -n 10 python benchmarks/ppo_learning.py run       # train: runs tests/slow/test_ppo_learning.py
    python benchmarks/ppo_learning.py report               # the table, from the recorded runs only

`run` executes the slow learning tests themselves (`pytest tests/slow/test_ppo_learning.py -m slow`),
so the budgets, specs, seeds and thresholds are the tests' own (5 seeds, trained in one vmapped
program per test). Each test's run directory keeps its `summary.json`; `run` copies them to
results/ppo_learning_runs/<spec name>.json together with the test's outcome, then writes the report.
`report` rebuilds ppo_learning.{json,md} from those recorded files without training. The threshold
column is the "threshold:" sentence of each test's docstring, so it cannot disagree with the test.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, write  # noqa: E402

TEST_FILE = "tests/slow/test_ppo_learning.py"
RUNS = RESULTS / "ppo_learning_runs"


def _test_docs() -> dict[str, str]:
    """The docstring of every test in TEST_FILE, read from its source (no import of JAX needed)."""
    import ast

    tree = ast.parse((ROOT / TEST_FILE).read_text())
    return {n.name: ast.get_docstring(n) or "" for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name.startswith("test_")}


def _threshold(doc: str) -> str:
    """The text after "threshold:" up to the end of that clause."""
    flat = " ".join(doc.split())
    m = re.search(r"threshold:\s*(.*?)(?:, i\.e\.|\.\s|\.$|$)", flat)
    return m.group(1).strip() if m else "(see the test)"


def run(k: str | None = None) -> None:
    """Run the learning tests once (pytest's `-k K` if given) and record them."""
    base = Path(tempfile.mkdtemp(prefix="ppo_learning_"))  # kept, so that a failed `record` can be redone
    cmd = [sys.executable, "-m", "pytest", TEST_FILE, "-m", "slow", "-s", "-p", "no:cacheprovider", "-n", "0",
           f"--basetemp={base / 'tmp'}", f"--junitxml={base / 'junit.xml'}", *(["-k", k] if k else [])]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=False)
    record(base)
    report()


def record(base: Path) -> None:
    """Copy each test's summary.json (plus its outcome) and spec.yaml from a `run` directory to RUNS."""
    outcomes = {}
    for case in ET.parse(base / "junit.xml").getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name")] = ("fail" if failed else "pass", float(case.get("time", 0.0)))
    RUNS.mkdir(parents=True, exist_ok=True)
    for summary_path in sorted((base / "tmp").glob("*/*/summary.json")):
        if summary_path.parent.parent.is_symlink():  # pytest's "<name>current" link to the same directory
            continue
        test_dir = summary_path.parent.parent.name  # pytest's tmp_path: the test name, cut to 30 characters, + a number
        test = next(t for t in outcomes if t.startswith(test_dir.rstrip("0123456789")))
        summary = json.loads(summary_path.read_text())
        summary["test"], (summary["result"], summary["test_seconds"]) = test, outcomes[test]
        summary["measured"] = time.strftime("%Y-%m-%d", time.localtime(summary_path.stat().st_mtime))
        (RUNS / f"{summary['name']}.json").write_text(json.dumps(summary, indent=2) + "\n")
        shutil.copy(summary_path.parent / "spec.yaml", RUNS / f"{summary['name']}.yaml")


def report() -> None:
    docs = _test_docs()
    records = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    order = list(docs)
    records.sort(key=lambda r: order.index(r["test"]) if r["test"] in order else len(order))
    rows: list[dict[str, Any]] = []
    for r in records:
        finals = [float(v) for v in r["final_return_per_seed"].values()]
        rows.append({
            "test": r["test"], "env": r["env"], "algorithm": r["algorithm"],
            "env steps per seed": f"{r['env_steps_per_seed']:,}",
            "final greedy return per seed": ", ".join(f"{x:.4g}" for x in finals),
            "mean": f"{sum(finals) / len(finals):.4g}",
            "threshold (from the test)": _threshold(docs.get(r["test"], "")),
            "result": r["result"],
            "env steps/s (all seeds)": round(r["sps"]) if r.get("sps") else "-", "wall s": round(r["wall_seconds"]),
            "measured": r.get("measured", "?"),
        })
    notes = (
        "Each row is one test of `tests/slow/test_ppo_learning.py` (seeds "
        + ", ".join(sorted({str(s) for r in records for s in r["seeds"]}))
        + ", trained in one vmapped program), run through the one runner; returns are greedy evaluation "
        "returns at the end of training. Regenerate with `nice -n 10 python benchmarks/ppo_learning.py run` "
        f"(trains; the recorded runs took {sum(r['test_seconds'] for r in records) / 60:.0f} minutes of wall time on the shared "
        "2-core CPU, other jobs running) or re-render this table from the recorded run "
        "summaries in `results/ppo_learning_runs/` with `python benchmarks/ppo_learning.py report`. "
        "Throughput is measured on a shared machine (other jobs running), so it is only roughly comparable "
        "across runs."
    )
    write("ppo_learning", {"runs": records}, rows, notes)
    print((RESULTS / "ppo_learning.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "record", "report"])
    parser.add_argument("-k", default=None, help="run: only the tests pytest's -k selects")
    parser.add_argument("--base", default=None, help="record: the directory a `run` printed")
    args = parser.parse_args()
    if args.command == "run":
        run(args.k)
    elif args.command == "record":
        record(Path(args.base))
        report()
    else:
        report()


if __name__ == "__main__":
    main()
