"""No module of the package draws from the global ``random`` state.

Ids and tokens come from ``secrets``; and the test configuration ignores Hypothesis's
warning about the global ``random`` state changing during data generation (peers' threads
do it), which must not hide a use of our own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "flask_realtime"


def _imports_random(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import) and any(a.name == "random" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "random":
            return True
    return False


def test_no_module_of_the_package_imports_random() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 100  # the package, not an empty directory
    assert [str(m.relative_to(SRC)) for m in modules if _imports_random(m)] == []
