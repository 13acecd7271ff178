"""Helpers shared by the test_extension_*.py modules."""

from __future__ import annotations

from flask import Flask


def make_app(name: str = "app") -> Flask:
    app = Flask(name)
    app.config["SECRET_KEY"] = "secret"
    return app
