"""The README's claims point at tests that exist: each row of "What is supported" cites the
test modules behind it, and every opt-out variable of the suite is named in the README."""

from __future__ import annotations

import re
from pathlib import Path

from support.requirements import OPT_OUTS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def supported_rows() -> list[list[str]]:
    section = README.split("## What is supported", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header, *rows = lines
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Area", "Supported", "Tested by",
    ]  # fmt: skip
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_every_supported_row_cites_test_modules_that_exist() -> None:
    rows = supported_rows()
    assert len(rows) >= 10
    for area, _, tested_by in rows:
        cited = re.findall(r"`([^`]+)`", tested_by)
        assert cited, f"the row {area!r} cites no test module"
        for module in cited:
            assert re.fullmatch(r"tests/[\w/]+/?test_\w+\.py|tests/test_\w+\.py", module), module
            assert (ROOT / module).is_file(), f"{area!r} cites {module}, which does not exist"


def test_every_opt_out_variable_is_in_the_readme() -> None:
    for variable in OPT_OUTS.values():
        assert variable in README, f"{variable} is not explained in the README"


_LINK = re.compile(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)")


def _without_code(text: str) -> str:
    """``text`` with its fenced code blocks blanked (a ``# comment`` is no heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _sections() -> list[tuple[str, str]]:
    """(heading, body up to the next heading) of each ``##``/``###`` section."""
    parts = re.split(r"^(#{2,3} .+)$", _without_code(README), flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def _anchors(page: Path) -> set[str]:
    """The heading anchors MyST gives ``page`` (``myst_heading_anchors``: GitHub's slugs)."""
    headings = re.findall(r"^#{1,3} (.+)$", _without_code(page.read_text("utf-8")), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_section_links_to_its_docs_page() -> None:
    sections = _sections()
    assert len(sections) >= 12
    unlinked = [heading for heading, body in sections if not _LINK.search(body)]
    assert unlinked == [], f"README sections without a link to their docs page: {unlinked}"


def test_every_docs_link_resolves() -> None:
    links = _LINK.findall(README)
    assert len(links) >= 15
    for path, anchor in links:
        target = ROOT / path
        assert target.is_file(), f"the README links to {path}, which does not exist"
        if anchor:
            assert anchor in _anchors(target), f"{path} has no heading #{anchor}"
