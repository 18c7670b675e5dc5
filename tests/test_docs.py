"""The Python examples in docs/algorithms.md run as written (and their asserts hold)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "algorithms.md"


def test_algorithms_doc_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/algorithms.md lost its examples"
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})
