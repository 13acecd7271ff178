"""SocketIOTestClient: Flask-SocketIO's test client API, on the real server, and more."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, request

from flask_realtime import ConnectionRefusedError, SocketIO, emit
from flask_realtime.exceptions import CallTimeoutError, ConfigurationError, DisconnectedError


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    socketio = SocketIO(flask_app)

    @socketio.on("echo")
    def echo(*args: Any) -> Any:
        emit("echo", args)
        return args

    @socketio.on("connect", namespace="/other")
    def other_connect() -> None:
        emit("hi-other")

    return socketio


def test_get_received_drains_one_namespace(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    client.connect("/other")
    client.emit("echo", 1)
    assert client.get_received("/other") == [
        {"name": "hi-other", "args": [], "namespace": "/other"}
    ]
    # emit("echo", args) with a tuple sends its items as the arguments (python-socketio)
    assert client.get_received() == [{"name": "echo", "args": [1], "namespace": "/"}]
    assert client.get_received() == []
    assert client.get_received("/other") == []


@pytest.mark.parametrize(
    ("args", "ack"),
    [((), []), ((1,), 1), ((1, "two"), [1, "two"]), (({"a": None},), {"a": None})],
)
def test_emit_with_callback_returns_the_ack_as_flask_socketio(
    flask_app: Flask, socketio: SocketIO, args: tuple[Any, ...], ack: Any
) -> None:
    client = socketio.test_client(flask_app)
    assert client.emit("echo", *args, callback=True) == ack


def test_emit_without_callback_returns_none(flask_app: Flask, socketio: SocketIO) -> None:
    assert socketio.test_client(flask_app).emit("echo", 1) is None


def test_emit_with_a_callback_function(flask_app: Flask, socketio: SocketIO) -> None:
    got: list[Any] = []
    client = socketio.test_client(flask_app)
    assert client.emit("echo", "a", "b", callback=lambda *ack: got.append(ack)) == ["a", "b"]
    assert got == [("a", "b")]


def test_send_with_callback(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("message")
    def message(text: str) -> str:
        return text[::-1]

    @socketio.on("json")
    def json_message(data: dict[str, int]) -> int:
        return sum(data.values())

    client = socketio.test_client(flask_app)
    assert client.send("abc", callback=True) == "cba"
    assert client.send({"a": 1, "b": 2}, json=True, callback=True) == 3


def test_binary_data_round_trips(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    payload = {"blob": b"\x00\x01\xff", "nested": [b"x"]}
    assert client.emit("echo", payload, callback=True) == payload
    assert client.get_received() == [{"name": "echo", "args": [payload], "namespace": "/"}]


def test_received_data_is_a_snapshot(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("go")
    def go() -> None:
        data = {"n": 1}
        emit("state", data)
        data["n"] = 2  # too late: what was emitted is what the client gets

    client = socketio.test_client(flask_app)
    client.emit("go")
    assert client.get_received() == [{"name": "state", "args": [{"n": 1}], "namespace": "/"}]


def test_connect_disconnect_and_reconnect(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    first_eio, first_sid = client.eio_sid, client.sid
    assert client.is_connected()
    assert first_sid
    assert first_eio
    assert not client.is_connected("/other")
    client.connect("/other")
    assert client.is_connected("/other")
    assert client.get_sid("/other") not in (None, first_sid)
    client.disconnect("/other")
    assert not client.is_connected("/other")
    assert client.is_connected()
    client.disconnect()
    assert not client.is_connected()
    assert client.sid is None
    client.connect()
    assert client.is_connected()
    assert client.eio_sid != first_eio  # a new Engine.IO session, as a real client


def test_connecting_twice_to_a_namespace_is_harmless(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    connects: list[str] = []

    @socketio.on("connect")
    def connect() -> None:
        connects.append(request.sid)

    client = socketio.test_client(flask_app)
    sid = client.sid
    client.connect()
    assert client.is_connected()
    assert client.sid == sid
    assert connects == [sid]


def test_using_a_namespace_that_is_not_connected(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    with pytest.raises(DisconnectedError, match="/nowhere"):
        client.emit("echo", namespace="/nowhere")
    with pytest.raises(DisconnectedError):
        client.disconnect("/nowhere")
    client.disconnect()
    with pytest.raises(DisconnectedError):
        client.send("x")


def test_unknown_namespace_is_refused(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app, namespace="/unknown")
    assert not client.is_connected("/unknown")
    assert client.connect_error == {"message": "Invalid namespace"}


def test_refused_connection_exposes_the_error(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("connect")
    def connect(auth: Any) -> None:
        if auth != {"token": "letmein"}:
            raise ConnectionRefusedError("unauthorized", {"hint": "token"})

    refused = socketio.test_client(flask_app, auth={"token": "wrong"})
    assert not refused.is_connected()
    assert refused.connect_error == {"message": "unauthorized", "data": {"hint": "token"}}
    allowed = socketio.test_client(flask_app, auth={"token": "letmein"})
    assert allowed.is_connected()
    assert allowed.connect_error is None


@pytest.mark.parametrize("kind", ["def", "async"])
def test_a_handler_exception_is_raised_in_the_test(flask_app: Flask, kind: str) -> None:
    socketio = SocketIO(flask_app)

    def fail(data: Any) -> None:
        raise ZeroDivisionError(f"failed on {data}")

    async def fail_async(data: Any) -> None:
        raise ZeroDivisionError(f"failed on {data}")

    socketio.on_event("fail", fail if kind == "def" else fail_async)
    client = socketio.test_client(flask_app)
    with pytest.raises(ZeroDivisionError, match="failed on 3"):
        client.emit("fail", 3)
    assert client.is_connected()  # the connection survives, as on a real server


def test_an_exception_in_connect_is_raised_by_test_client(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("connect")
    def connect() -> None:
        raise LookupError("no such user")

    with pytest.raises(LookupError, match="no such user"):
        socketio.test_client(flask_app)


@pytest.mark.parametrize("kind", ["def", "async"])
def test_emitting_data_that_cannot_be_serialised_fails_the_test(
    flask_app: Flask, kind: str
) -> None:
    socketio = SocketIO(flask_app)

    def bad() -> None:
        emit("bad", object())

    async def bad_async() -> None:
        emit("bad", object())

    socketio.on_event("bad", bad if kind == "def" else bad_async)
    client = socketio.test_client(flask_app)
    with pytest.raises(ConfigurationError, match="serialise"):
        client.emit("bad")


def test_an_ack_that_cannot_be_serialised_fails_the_test(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("bad")
    def bad() -> object:
        return object()

    client = socketio.test_client(flask_app)
    with pytest.raises(ConfigurationError, match="serialise"):
        client.emit("bad", callback=True)


def test_auth_must_be_an_object(flask_app: Flask, socketio: SocketIO) -> None:
    with pytest.raises(ConfigurationError, match="auth"):
        socketio.test_client(flask_app, auth="a string")


def test_the_clients_own_arguments_must_serialise(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    with pytest.raises(ConfigurationError):
        client.emit("echo", {1, 2})


def test_clients_are_independent(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("tell")
    def tell(text: str) -> None:
        emit("told", [request.sid, text])

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    assert a.sid != b.sid
    assert a.eio_sid != b.eio_sid
    a.emit("tell", "a")
    b.emit("tell", "b")
    assert a.get_received() == [{"name": "told", "args": [[a.sid, "a"]], "namespace": "/"}]
    assert b.get_received() == [{"name": "told", "args": [[b.sid, "b"]], "namespace": "/"}]
    a.disconnect()
    assert b.is_connected()


def test_on_call_answers_the_servers_call(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("start")
    def start() -> Any:
        return socketio.call("pick", [3, 1, 2], to=request.sid)

    client = socketio.test_client(flask_app)
    client.on_call("pick", lambda items: (min(items), max(items)))
    assert client.emit("start", callback=True) == [1, 3]
    assert client.get_received() == [{"name": "pick", "args": [[3, 1, 2]], "namespace": "/"}]


def test_a_failing_responder_fails_the_test(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("start")
    def start() -> None:
        socketio.emit("ask", to=request.sid, callback=lambda *a: None)

    client = socketio.test_client(flask_app)

    def responder() -> None:
        raise ArithmeticError("responder")

    client.on_call("ask", responder)
    with pytest.raises(ArithmeticError, match="responder"):
        client.emit("start")


def test_server_side_disconnect_is_seen(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)
    assert client.sid
    socketio.disconnect(client.sid)
    socketio.rooms(client.sid)  # waits for the loop
    assert not client.is_connected()


def test_a_handler_that_outlives_the_timeout_fails_the_test(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    release = threading.Event()

    @socketio.on("stuck")
    def stuck() -> None:
        release.wait(5)

    client = socketio.test_client(flask_app)
    client.timeout = 0.05
    try:
        with pytest.raises(CallTimeoutError, match="did not finish"):
            client.emit("stuck")
    finally:
        release.set()


def test_flask_test_client_cookies_reach_handlers(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @flask_app.route("/set")
    def set_cookie() -> Any:
        response = flask_app.make_response("ok")
        response.set_cookie("flavour", "mint")
        return response

    @socketio.on("flavour")
    def flavour() -> Any:
        return request.cookies.get("flavour")

    http = flask_app.test_client()
    http.get("/set")
    client = socketio.test_client(flask_app, flask_test_client=http)
    assert client.emit("flavour", callback=True) == "mint"


def test_flask_test_client_must_be_a_flask_test_client(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    with pytest.raises(ConfigurationError, match="test_client"):
        socketio.test_client(flask_app, flask_test_client=object())


def test_a_def_handler_may_emit_many_binary_attachments() -> None:
    # The limit on attachments guards against clients, not against the app's own emits.
    app = Flask(__name__)
    socketio = SocketIO(app)
    blobs = [bytes([n]) * 3 for n in range(40)]

    @socketio.on("go")
    def go() -> None:
        emit("blobs", blobs)

    client = socketio.test_client(app)
    try:
        client.emit("go")
        (received,) = client.get_received()
        assert received["name"] == "blobs"
        assert received["args"] == [blobs]
    finally:
        client.disconnect()


# -- what tests written for Flask-SocketIO rely on ------------------------------------------


def test_server_side_keywords_are_accepted_and_ignored(
    flask_app: Flask, socketio: SocketIO
) -> None:
    other = socketio.test_client(flask_app)
    client = socketio.test_client(flask_app)
    # The server decides who gets its answer: "echo" answers the sender only, whatever
    # the client asks for, as with Flask-SocketIO's test client.
    ack = client.emit("echo", 1, broadcast=True, include_self=False, to="x", callback=True)
    assert ack == 1
    assert client.get_received() == [{"name": "echo", "args": [1], "namespace": "/"}]
    assert other.get_received() == []


def test_an_unknown_keyword_of_the_clients_emit_is_an_error(
    flask_app: Flask, socketio: SocketIO
) -> None:
    client = socketio.test_client(flask_app)
    with pytest.raises(ConfigurationError, match="'calback'"):
        client.emit("echo", 1, calback=True)


def test_get_received_of_a_namespace_not_connected_raises(
    flask_app: Flask, socketio: SocketIO
) -> None:
    client = socketio.test_client(flask_app)
    with pytest.raises(RuntimeError, match="not connected"):
        client.get_received("/nowhere")
    client.disconnect()
    with pytest.raises(RuntimeError, match="not connected"):
        client.get_received()


def test_emits_made_outside_a_handler_are_there_at_once(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @flask_app.route("/notify")
    def notify() -> str:
        socketio.emit("note", "from a view")
        return "ok"

    client = socketio.test_client(flask_app)
    for n in range(50):  # no sleep between the trigger and the check, as users write it
        socketio.emit("tick", n)
        assert client.get_received() == [{"name": "tick", "args": [n], "namespace": "/"}]
    assert flask_app.test_client().get("/notify").data == b"ok"
    assert client.get_received() == [{"name": "note", "args": ["from a view"], "namespace": "/"}]


def test_a_def_handler_may_wait_for_the_callback_of_its_own_emit(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("ask")
    def ask() -> Any:
        answered = threading.Event()
        got: list[Any] = []

        def on_answer(*args: Any) -> None:
            got.extend(args)
            answered.set()

        emit("question", callback=on_answer)
        # The callback runs outside this client's lane: waiting here does not deadlock.
        assert answered.wait(10), "the callback never ran"
        return got[0]

    client = socketio.test_client(flask_app)
    client.on_call("question", lambda: "forty-two")
    assert client.emit("ask", callback=True) == "forty-two"


def test_a_wrong_argument_count_is_raised_in_the_test_as_a_type_error(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app)
    called: list[Any] = []

    @socketio.on("one")
    def one(value: Any) -> None:
        called.append(value)

    client = socketio.test_client(flask_app)
    with pytest.raises(TypeError, match="sent 0 arguments; the handler takes 1"):
        client.emit("one")
    client.emit("one", 1)
    assert called == [1]
