"""Handlers' context: request and app context, connect and disconnect handlers."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, appcontext_pushed, current_app, g, request, url_for
from flask.globals import request_ctx

from flask_realtime import SocketIO, emit


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    return SocketIO(flask_app)


# -- request and app context ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["def", "async"])
def test_request_describes_the_client_and_event(
    flask_app: Flask, socketio: SocketIO, kind: str
) -> None:
    def describe(data: Any) -> dict[str, Any]:
        g.marker = "per-call"
        return {
            "sid": request.sid,
            "namespace": request.namespace,
            "event": [request.event["message"], list(request.event["args"])],
            "arg": request.args.get("room"),
            "header": request.headers.get("X-Client"),
            "cookie": request.cookies.get("flavour"),
            "app": current_app.name,
            "remote": request.remote_addr,
        }

    if kind == "def":
        socketio.on_event("describe", describe, namespace="/ns")
    else:

        async def describe_async(data: Any) -> dict[str, Any]:
            return describe(data)

        socketio.on_event("describe", describe_async, namespace="/ns")

    client = socketio.test_client(
        flask_app,
        namespace="/ns",
        query_string="room=42",
        headers={"X-Client": "yes", "Cookie": "flavour=lemon"},
    )
    assert client.emit("describe", 5, namespace="/ns", callback=True) == {
        "sid": client.get_sid("/ns"),
        "namespace": "/ns",
        "event": ["describe", [5]],
        "arg": "42",
        "header": "yes",
        "cookie": "lemon",
        "app": flask_app.name,
        "remote": "127.0.0.1",
    }


def test_g_is_fresh_for_each_event_and_url_for_works(flask_app: Flask, socketio: SocketIO) -> None:
    @flask_app.route("/page/<int:n>")
    def page(n: int) -> str:
        return str(n)

    @socketio.on("mark")
    def mark() -> list[Any]:
        before = getattr(g, "mark", None)
        g.mark = "set"
        return [before, url_for("page", n=3), request.event["message"]]

    client = socketio.test_client(flask_app)
    assert client.emit("mark", callback=True) == [None, "/page/3", "mark"]
    assert client.emit("mark", callback=True) == [None, "/page/3", "mark"]


def test_the_handshake_url_is_matched_as_flask_would_for_every_connection(
    flask_app: Flask, socketio: SocketIO
) -> None:
    """Each connection's request has Flask's match of the handshake URL (a 404 when no
    route serves it), also when a route added since changes the answer; a handler that
    changes its ``view_args`` changes no other connection's."""
    seen: list[Any] = []

    @socketio.on("connect")
    def connect() -> None:
        error = request.routing_exception
        seen.append(
            (
                type(error).__name__ if error is not None else None,
                request.url_rule.rule if request.url_rule is not None else None,
                request.endpoint,
                dict(request.view_args) if request.view_args is not None else None,
            )
        )
        if request.view_args is not None:
            request.view_args["changed"] = True

    socketio.test_client(flask_app)
    socketio.test_client(flask_app)

    @flask_app.route("/<path:rest>")
    def anything(rest: str) -> str:
        return rest

    socketio.test_client(flask_app)
    socketio.test_client(flask_app)
    served = ("/<path:rest>", "anything", {"rest": "socket.io/"})
    assert seen == [("NotFound", None, None, None)] * 2 + [(None, *served)] * 2


@pytest.mark.parametrize("trusted", [False, True], ids=["any-host", "trusted-hosts"])
def test_connections_to_one_url_share_its_url_adapter_and_build_their_own_urls(
    flask_app: Flask, socketio: SocketIO, trusted: bool
) -> None:
    """Binding the URL map is done once per handshake URL and host, not per connection
    (``binding/socket_context.py``); a connection from another host gets its own, and
    with ``TRUSTED_HOSTS`` every request is bound (and checked) by Flask itself."""
    if trusted:
        flask_app.config["TRUSTED_HOSTS"] = ["a.test", "b.test"]
    seen: list[tuple[object, str, str]] = []

    @flask_app.route("/page/<int:n>")
    def page(n: int) -> str:
        return str(n)

    @socketio.on("connect")
    def connect() -> None:
        adapter = request_ctx.url_adapter
        seen.append((adapter, request.host, url_for("page", n=1, _external=True)))

    for host in ("a.test", "a.test", "b.test"):
        socketio.test_client(flask_app, headers={"Host": host})
    assert [(host, url) for _, host, url in seen] == [
        ("a.test", "http://a.test/page/1"),
        ("a.test", "http://a.test/page/1"),
        ("b.test", "http://b.test/page/1"),
    ]
    adapters = [adapter for adapter, _, _ in seen]
    assert (adapters[0] is adapters[1]) is not trusted
    assert adapters[2] is not adapters[0]


def test_teardown_request_runs_after_each_handler(flask_app: Flask, socketio: SocketIO) -> None:
    torn: list[str] = []

    @flask_app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn.append(getattr(request, "event", {}).get("message", "?"))

    @socketio.on("connect")
    def connect() -> None:
        pass

    @socketio.on("one")
    def one() -> None:
        pass

    client = socketio.test_client(flask_app)
    client.emit("one")
    assert torn == ["connect", "one"]


def test_teardown_appcontext_and_context_signals_run_for_each_event(
    flask_app: Flask, socketio: SocketIO
) -> None:
    # With nothing hooked, contexts are pushed by their variables alone; anything hooked
    # (teardown_appcontext: Flask-SQLAlchemy's session cleanup; the context signals) gets
    # Flask's own push and pop, for every event, def and async def alike.
    seen: list[str] = []

    @socketio.on("one")
    def one() -> str:
        return getattr(g, "mark", "fresh")

    @socketio.on("two")
    async def two() -> str:
        g.mark = "set"
        return "ok"

    client = socketio.test_client(flask_app)
    assert client.emit("two", callback=True) == "ok"  # nothing hooked yet
    assert client.emit("one", callback=True) == "fresh"

    @flask_app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        seen.append("teardown")

    def pushed(sender: Flask, **kwargs: Any) -> None:
        seen.append("pushed")

    appcontext_pushed.connect(pushed, flask_app)
    try:
        assert client.emit("one", callback=True) == "fresh"
        assert client.emit("two", callback=True) == "ok"
        assert client.emit("one", callback=True) == "fresh"  # g does not outlive its event
    finally:
        appcontext_pushed.disconnect(pushed, flask_app)
    assert seen == ["pushed", "teardown"] * 3


# -- connect and disconnect handlers -------------------------------------------------------


def test_connect_handler_with_and_without_auth(flask_app: Flask, socketio: SocketIO) -> None:
    seen: list[Any] = []

    @socketio.on("connect")
    def with_auth(auth: Any) -> None:
        seen.append(("with", auth))

    @socketio.on("connect", namespace="/plain")
    def without_auth() -> None:
        seen.append(("without",))

    client = socketio.test_client(flask_app, auth={"token": "t"})
    client.connect("/plain", auth={"ignored": True})
    other = socketio.test_client(flask_app)
    assert client.is_connected()
    assert client.is_connected("/plain")
    assert other.is_connected()
    assert seen == [("with", {"token": "t"}), ("without",), ("with", None)]


def test_connect_handler_emits_arrive_after_the_connection(
    flask_app: Flask, socketio: SocketIO
) -> None:
    @socketio.on("connect")
    def connect() -> None:
        emit("welcome", request.sid)

    client = socketio.test_client(flask_app)
    assert client.get_received() == [{"name": "welcome", "args": [client.sid], "namespace": "/"}]


def test_connect_returning_false_refuses(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("connect")
    def connect(auth: Any) -> bool:
        return bool(auth)

    refused = socketio.test_client(flask_app)
    assert not refused.is_connected()
    assert refused.connect_error == {"message": "Connection rejected by server"}
    assert socketio.test_client(flask_app, auth={"ok": 1}).is_connected()


def test_disconnect_handler_with_and_without_reason(flask_app: Flask, socketio: SocketIO) -> None:
    seen: list[Any] = []

    @socketio.on("disconnect")
    def with_reason(reason: str) -> None:
        seen.append(("/", reason, request.sid))

    @socketio.on("disconnect", namespace="/plain")
    def without_reason() -> None:
        seen.append(("/plain", request.sid))

    @socketio.on("connect", namespace="/plain")
    def plain_connect() -> None:
        pass

    client = socketio.test_client(flask_app)
    client.connect("/plain")
    sid, plain_sid = client.sid, client.get_sid("/plain")
    client.disconnect("/plain")
    client.disconnect()
    assert seen == [("/plain", plain_sid), ("/", "client disconnect", sid)]


def test_catch_all_events_and_namespaces(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("*")
    def any_event(event: str, *args: Any) -> list[Any]:
        return ["any", event, list(args)]

    @socketio.on("ping", namespace="*")
    def ping_anywhere(data: Any) -> list[Any]:
        return ["ping", request.namespace, data]

    @socketio.on("*", namespace="*")
    def anything(event: str, data: Any) -> list[Any]:
        return ["anything", event, request.namespace, data]

    @socketio.on("connect", namespace="/x")
    def x_connect() -> None:
        pass

    client = socketio.test_client(flask_app)
    client.connect("/x")
    assert client.emit("whatever", 1, 2, callback=True) == ["any", "whatever", [1, 2]]
    assert client.emit("ping", 3, namespace="/x", callback=True) == ["ping", "/x", 3]
    assert client.emit("other", 4, namespace="/x", callback=True) == ["anything", "other", "/x", 4]
