"""Extract the Python blocks of the documentation pages, for the tests that run them.

A block is a fenced Markdown block whose info string is ``python``. The line before its
fence (blank lines aside) may say what it is, as a MyST comment, which the site does not
show:

- ``% snippet: fragment``: a piece of a larger program (a signature, a method of a class
  shown elsewhere); not run. Keep these few.
- ``% snippet: client``: a python-socketio client that runs against the server started by
  the block before it (its ``http://127.0.0.1:5000`` is replaced by the server's URL).
- nothing: a whole program. When it calls ``socketio.run(``, it is a server: it is started
  on a free port, checked, and stopped; otherwise it must run to completion and exit 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DOCS", "GUIDE_PAGES", "PAGES", "REFERENCE_PAGES", "Block", "blocks_of"]

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE_PAGES = [DOCS / "getting-started.md", *sorted((DOCS / "guide").glob("*.md"))]
# The user-facing pages outside the guide (internals.md is a map of the code, for
# contributors; api.md and changelog.md hold no examples).
REFERENCE_PAGES = [
    DOCS / name
    for name in (
        "index.md",
        "deployment.md",
        "observability.md",
        "migrating.md",
        "security.md",
        "limits.md",
        "performance.md",
    )
]
PAGES = GUIDE_PAGES + REFERENCE_PAGES

_FENCE = re.compile(r"^(```+)\s*(\S*)\s*$")
_MARK = re.compile(r"^%\s*snippet:\s*(\w+)\s*$")
KINDS = ("program", "server", "fragment", "client")


@dataclass(frozen=True)
class Block:
    """One Python block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    kind: str  # one of KINDS
    code: str
    client: Block | None = None  # a server's client block

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(DOCS)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The Python blocks of ``page``, a server's client block attached to it.

    Raises:
        ValueError: an unknown mark, or a client block with no server before it.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    mark: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is None:
            m = _MARK.match(line)
            if m:
                mark = m.group(1)
                if mark not in KINDS:
                    raise ValueError(f"{page.name}:{i + 1}: unknown snippet mark {mark!r}")
            elif line.strip():
                mark = None
            i += 1
            continue
        ticks, lang = fence.group(1), fence.group(2)
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != ticks:
            body.append(lines[i])
            i += 1
        i += 1
        if lang == "python":
            code = "\n".join(body) + "\n"
            kind = mark or ("server" if "socketio.run(" in code else "program")
            block = Block(page, start + 1, kind, code)
            if kind == "client":
                if not found or found[-1].kind != "server" or found[-1].client is not None:
                    raise ValueError(f"{page.name}:{start + 1}: a client block follows a server")
                server = found.pop()
                block = Block(server.page, server.line, "server", server.code, block)
            found.append(block)
        mark = None
    return found
