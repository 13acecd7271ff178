"""Helpers shared by the test_extension_*.py modules."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

WaitUntil = Callable[..., None]


def make_app(name: str = "app") -> Flask:
    app = Flask(name)
    app.config["SECRET_KEY"] = "secret"
    return app
