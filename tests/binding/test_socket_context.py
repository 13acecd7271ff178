"""SocketRequestContext: its shared URL matches live as long as their app."""

from __future__ import annotations

import gc
import weakref

from flask import Flask

from flask_realtime.binding import socket_context
from flask_realtime.binding.environ import build_environ
from flask_realtime.binding.socket_context import SocketRequestContext
from flask_realtime.engine import Handshake


def _matched_context(app: Flask) -> SocketRequestContext:
    handshake = Handshake(
        method="GET",
        path="/socket.io/",
        query_string="EIO=4&transport=polling",
        headers={"host": "example.com"},
        scheme="http",
        remote_addr=("127.0.0.1", 5000),
    )
    environ = build_environ(handshake)
    ctx = SocketRequestContext(app, environ, request=app.request_class(environ), session=None)
    ctx.match_request()
    return ctx


def test_the_match_of_a_handshake_is_shared_and_goes_with_its_app() -> None:
    app = Flask("socket_context_test")

    @app.route("/<path:anything>")
    def catch_all(anything: str) -> str:
        return anything

    first = _matched_context(app)
    second = _matched_context(app)
    # A route matches the handshake (its rule holds the URL map); the second context
    # reused the first's match.
    assert first.request.url_rule is not None
    assert second.request.url_rule is first.request.url_rule
    assert second.request.view_args == {"anything": "socket.io/"}

    app_ref = weakref.ref(app)
    map_ref = weakref.ref(app.url_map)
    del app, first, second
    gc.collect()
    # Nothing the table keeps holds the app or its URL map: both go, and their entry.
    assert app_ref() is None
    assert map_ref() is None
    assert not any(
        getattr(key, "name", None) == "socket_context_test" for key in socket_context._matches
    )
