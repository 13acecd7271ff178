"""Helpers shared by the test_context_*.py modules."""

from __future__ import annotations

from typing import Any


def names(received: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in received]
