"""Shared fixtures of the top-level tests (the Flask extension)."""

from __future__ import annotations

import pytest
from flask import Flask


@pytest.fixture
def flask_app() -> Flask:
    """A fresh Flask app with a secret key (for the session)."""
    app = Flask("realtime_test")
    app.config["SECRET_KEY"] = "test secret"
    return app
