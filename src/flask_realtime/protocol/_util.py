"""Small helpers shared by the codecs: error excerpts and fast frozen-packet construction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["excerpt", "slot_setter"]


def excerpt(data: str | bytes, limit: int = 24) -> str:
    """Return a short, printable quotation of ``data`` for an error message."""
    text = repr(data[:limit])
    return text + "..." if len(data) > limit else text


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """Return the raw setter of slot ``name`` of ``cls``, bypassing a frozen ``__setattr__``.

    A frozen dataclass's generated ``__init__`` assigns through ``object.__setattr__``,
    which costs about twice as much as calling the slot descriptor. Packets are built for
    every message, so their hand-written ``__init__`` uses these setters.
    """
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter
