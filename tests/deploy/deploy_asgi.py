"""``deploy_app`` as one ASGI application, for the uvicorn tests."""

from __future__ import annotations

from .deploy_app import app, socketio

application = socketio.asgi_app(app)

sticky_application = socketio.asgi_app(app, sticky_sessions=True)
"""For several uvicorn workers whose clients stay on one worker (with a message_queue)."""
