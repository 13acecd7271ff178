"""The browser client's files: the ES module build is current, and both builds parse.

No browser here: these run wherever the suite runs (Node is needed, as for the interop tests).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from support.requirements import missing

STATIC = Path(__file__).resolve().parents[2] / "src" / "flask_realtime" / "static"
CLASSIC = STATIC / "socket.io.js"
MODULE = STATIC / "socket.io.esm.js"
NODE = shutil.which("node")


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("static_build", STATIC / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


def test_module_build_is_current() -> None:
    assert MODULE.read_text("utf-8") == build.to_module(CLASSIC.read_text("utf-8")), (
        "socket.io.esm.js is stale: run python src/flask_realtime/static/build.py"
    )


def test_check_mode_reports_current_build() -> None:
    completed = subprocess.run(
        [sys.executable, str(STATIC / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_to_module_drops_fenced_lines_and_exports() -> None:
    source = "// head\n// @classic-only-begin\n(function () {\n// @classic-only-end\nbody();\n"
    source += "// @classic-only-begin\n})();\n// @classic-only-end\n"
    module = build.to_module(source)
    assert module == (
        build.BANNER
        + "// head\nbody();\n\nexport { io, io as connect, Manager, Socket };\nexport default io;\n"
    )


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("body();\n", "no // @classic-only-begin fence"),
        ("// @classic-only-begin\nx\n", "never closed"),
        ("// @classic-only-end\n", "without"),
        ("// @classic-only-begin\n// @classic-only-begin\n", "inside a fence"),
    ],
)
def test_to_module_rejects_unbalanced_fences(source: str, problem: str) -> None:
    with pytest.raises(build.BuildError, match=problem):
        build.to_module(source)


def test_sources_have_no_module_syntax_in_classic_script() -> None:
    classic = CLASSIC.read_text("utf-8")
    assert "\nexport " not in classic
    assert "\nimport " not in classic


def test_both_builds_parse_and_classic_defines_io() -> None:
    if NODE is None:
        missing("node", "the node command is not installed (Node 18+)")
    classic = subprocess.run(
        [NODE, "--check", str(CLASSIC)], capture_output=True, text=True, timeout=30, check=False
    )
    assert classic.returncode == 0, classic.stderr
    module = subprocess.run(
        [NODE, "--input-type=module", "--check"],
        input=MODULE.read_text("utf-8"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    # Loading it outside a browser must not throw (nothing touches the DOM until io() runs).
    loaded = subprocess.run(
        [NODE, "-e", f"require({str(CLASSIC)!r}); console.log(typeof globalThis.io)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert loaded.stdout.strip() == "function", loaded.stderr
