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


API = DOC.parent / "api"
PACKAGE = DOC.parent.parent / "marlspec"


def test_api_reference_covers_every_primitive_network_and_algorithm() -> None:
    """Each module of `primitives/`, `nn/` and `algorithms/` has a `::: module` entry in
    docs/api/ (the mkdocs API reference, `nox -s docs`), so a new one cannot go undocumented."""
    documented = set(re.findall(r"^::: (marlspec[\w.]*)", "\n".join(p.read_text() for p in API.glob("*.md")), re.M))
    modules = {f"marlspec.{sub}.{p.stem}" for sub in ("primitives", "nn", "algorithms")
               for p in (PACKAGE / sub).glob("*.py") if p.stem != "__init__"}
    assert modules, "no modules found"
    assert not modules - documented, f"missing from docs/api/: {sorted(modules - documented)}"
    missing = {m for m in documented if not (PACKAGE.parent / (m.replace(".", "/") + ".py")).is_file()
               and not (PACKAGE.parent / m.replace(".", "/") / "__init__.py").is_file()}
    assert not missing, f"docs/api/ names modules that do not exist: {sorted(missing)}"
