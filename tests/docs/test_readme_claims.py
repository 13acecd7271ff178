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
