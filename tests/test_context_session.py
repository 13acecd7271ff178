"""Handlers' context: the session."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface

from flask_realtime import SocketIO


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    return SocketIO(flask_app)


# -- the session ---------------------------------------------------------------------------


def test_managed_session_is_per_connection_and_seeded_from_flask(
    flask_app: Flask, socketio: SocketIO
) -> None:
    @flask_app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @socketio.on("whoami")
    def whoami() -> Any:
        return session.get("user")

    @socketio.on("rename")
    def rename(name: str) -> None:
        session["user"] = name

    http = flask_app.test_client()
    http.get("/login/ada")
    one = socketio.test_client(flask_app, flask_test_client=http)
    two = socketio.test_client(flask_app, flask_test_client=http)
    assert one.emit("whoami", callback=True) == "ada"
    one.emit("rename", "grace")
    assert one.emit("whoami", callback=True) == "grace"  # kept for the connection
    assert two.emit("whoami", callback=True) == "ada"  # another connection: its own copy
    with http.session_transaction() as cookie_session:
        assert cookie_session["user"] == "ada"  # the cookie is not changed by Socket.IO


def test_managed_session_is_shared_by_the_namespaces_of_a_connection(
    flask_app: Flask, socketio: SocketIO
) -> None:
    @socketio.on("set", namespace="/a")
    def set_value(value: str) -> None:
        session["v"] = value

    @socketio.on("get", namespace="/b")
    def get_value() -> Any:
        return session.get("v")

    client = socketio.test_client(flask_app, namespace="/a")
    client.connect("/b")
    client.emit("set", "shared", namespace="/a")
    assert client.emit("get", namespace="/b", callback=True) == "shared"


def test_unmanaged_session_is_flasks_own(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, manage_session=False)
    saved: list[Any] = []

    class Recording(SecureCookieSessionInterface):
        def save_session(self, app: Flask, session: Any, response: Any) -> None:
            saved.append(dict(session))
            super().save_session(app, session, response)

    flask_app.session_interface = Recording()

    @flask_app.route("/login")
    def login() -> str:
        session["user"] = "ada"
        return "ok"

    @socketio.on("whoami")
    def whoami() -> Any:
        return session.get("user")

    @socketio.on("touch")
    def touch() -> None:
        session["touched"] = True

    http = flask_app.test_client()
    http.get("/login")
    saved.clear()
    client = socketio.test_client(flask_app, flask_test_client=http)
    assert client.emit("whoami", callback=True) == "ada"
    assert saved == []  # not modified: not saved
    client.emit("touch")
    assert saved == [{"user": "ada", "touched": True}]


def test_catch_all_namespace_connect_and_disconnect_handlers_get_flask_socketio_arguments() -> None:
    # Handlers registered for every namespace get (auth) / (reason) as Flask-SocketIO
    # passes them; the namespace is in request.namespace, not in the arguments.
    app = Flask(__name__)
    socketio = SocketIO(app, namespaces="*")
    seen: list[tuple[str, object]] = []

    @socketio.on("connect", namespace="*")
    def on_connect(auth: object = None) -> None:
        seen.append((request.namespace, auth))

    @socketio.on("disconnect", namespace="*")
    def on_disconnect(reason: object = None) -> None:
        seen.append((request.namespace, reason))

    client = socketio.test_client(app, namespace="/chat", auth={"token": "t"})
    assert client.is_connected("/chat")
    client.disconnect(namespace="/chat")
    assert seen[0] == ("/chat", {"token": "t"})
    assert seen[1][0] == "/chat"
    assert seen[1][1] == "client disconnect"


def test_manage_session_changed_at_run_time_takes_effect(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    assert socketio.manage_session is True

    @flask_app.route("/login")
    def login() -> str:
        session["user"] = "ada"
        return "ok"

    @socketio.on("set")
    def set_user(name: str) -> None:
        session["user"] = name

    @socketio.on("whoami")
    def whoami() -> Any:
        return session.get("user")

    http = flask_app.test_client()
    http.get("/login")
    client = socketio.test_client(flask_app, flask_test_client=http)
    client.emit("set", "grace")
    assert client.emit("whoami", callback=True) == "grace"  # the connection's own copy
    socketio.manage_session = False
    assert socketio.server_options["manage_session"] is False
    # Flask's cookie session now: what the handshake's cookie says; a change made in a
    # handler cannot reach the browser's cookie over Socket.IO, so later events miss it.
    assert client.emit("whoami", callback=True) == "ada"
    client.emit("set", "linus")
    assert client.emit("whoami", callback=True) == "ada"
