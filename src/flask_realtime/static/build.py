"""Derive the ES module build of the browser client from its one source.

``socket.io.js`` is a classic script: its body sits in a function wrapper that
ends by setting the global ``io``. The lines of that wrapper are fenced by
``// @classic-only-begin`` and ``// @classic-only-end``. The module build,
``socket.io.esm.js``, is the same text without the fenced lines, plus a banner
and the exports. The transformation is deterministic, so the generated file is
committed and a test checks it is up to date.

Usage (from anywhere)::

    python src/flask_realtime/static/build.py          # rewrite socket.io.esm.js
    python src/flask_realtime/static/build.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "socket.io.js"
TARGET = HERE / "socket.io.esm.js"

BEGIN = "// @classic-only-begin"
END = "// @classic-only-end"
BANNER = "// Generated from socket.io.js by build.py: edit that file, then run build.py.\n"
EXPORTS = "\nexport { io, io as connect, Manager, Socket };\nexport default io;\n"


class BuildError(Exception):
    """The source's markers are missing, unbalanced or nested."""


def to_module(source: str) -> str:
    """Return the ES module text for the classic script text ``source``.

    Raises:
        BuildError: if the ``@classic-only`` fences are not balanced pairs.
    """
    kept: list[str] = []
    fenced = False
    fences = 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if fenced:
                raise BuildError(f"line {number}: {BEGIN} inside a fence")
            fenced = True
            fences += 1
        elif marker == END:
            if not fenced:
                raise BuildError(f"line {number}: {END} without {BEGIN}")
            fenced = False
        elif not fenced:
            kept.append(line)
    if fenced:
        raise BuildError(f"{BEGIN} is never closed")
    if fences == 0:
        raise BuildError(f"no {BEGIN} fence: is this the classic script?")
    return BANNER + "".join(kept).rstrip("\n") + "\n" + EXPORTS


def main(argv: list[str]) -> int:
    """Write the module build, or with ``--check`` report whether it is stale."""
    expected = to_module(SOURCE.read_text(encoding="utf-8"))
    if argv[1:] == ["--check"]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != expected:
            print(f"{TARGET.name} is stale: run {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    TARGET.write_text(expected, encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
