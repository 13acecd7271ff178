"""Fixtures of the engine tests (the classes they build are in ``helpers.py``)."""

from __future__ import annotations

import pytest

from .helpers import Harness


@pytest.fixture
def h() -> Harness:
    """An Engine.IO server with the default options, a recording handler and a clock."""
    return Harness()
