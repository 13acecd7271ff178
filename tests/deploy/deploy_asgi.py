"""``deploy_app`` as one ASGI application, for the uvicorn tests."""

from __future__ import annotations

from .deploy_app import app, socketio

application = socketio.asgi_app(app)
