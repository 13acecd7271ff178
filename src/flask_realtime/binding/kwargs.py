"""Misspelt keyword arguments get the closest valid name, not a bare ``TypeError``.

``emit("x", data, brodcast=True)`` raises ``ConfigurationError: emit() got an unknown
argument 'brodcast': did you mean broadcast?``. The check costs nothing on a good call: the
arguments are compared with the signature only after Python refused them.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ..exceptions import ConfigurationError

__all__ = ["suggest_keywords"]

P = ParamSpec("P")
R = TypeVar("R")

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def suggest_keywords(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``fn`` so that an unknown keyword argument names the closest valid one."""
    names = [p.name for p in inspect.signature(fn).parameters.values() if p.kind in _NAMED]

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TypeError:
            unknown = [key for key in kwargs if key not in names]
            if not unknown:
                raise  # a TypeError from inside fn, not from its arguments
            key = unknown[0]
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = f": did you mean {close[0]}?" if close else ""
            raise ConfigurationError(
                f"{fn.__name__}() got an unknown argument {key!r}{hint}"
            ) from None

    return wrapper
