"""The admin UI's protocol (``socketio.instrument()``) spoken by python-socketio's client
as the official UI speaks it: auth, session, config, all_sockets, the live events, the
actions, read-only and production modes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
import websocket
from werkzeug.security import generate_password_hash

from e2e.live_server import LiveServer
from flask_realtime.binding.admin_ui import ADMITTED
from flask_realtime.exceptions import ConfigurationError
from support.waiting import wait_until

from .observe_support import Client, admin, make_app

pytestmark = pytest.mark.interop


def served(**options: Any) -> LiveServer:
    app, sio = make_app(f"admin_app_{len(options)}_{options.get('mode', '')}")
    auth = {"username": "admin", "password": generate_password_hash("pw")}
    sio.instrument(auth=auth, server_id="test-server", server_stats_interval=0.2, **options)
    return LiveServer(app, sio)


@pytest.fixture
def server() -> Iterator[LiveServer]:
    with served() as live:
        yield live


def test_wrong_or_missing_credentials_are_refused(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    for auth, message in (({"username": "admin", "password": "nope"}, "invalid credentials"),
                          (None, "please log in"),
                          ({"sessionId": {"not": "hashable"}}, "please log in"),
                          ({"sessionId": ["x"], "username": 1}, "invalid credentials"),
                          ):  # fmt: skip
        client = socketio.Client(reconnection=False, handle_sigint=False)
        errors: list[Any] = []
        client.on("connect_error", errors.append, namespace="/admin")
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server.url, namespaces=["/admin"], auth=auth, wait_timeout=5)
        client.disconnect()
        assert errors == [{"message": message}]
    assert not [r for r in caplog.records if r.exc_info], "a client's auth raised"


def test_the_ui_sees_no_credentials_and_no_address_a_client_wrote(server: LiveServer) -> None:
    # Node shows every handshake header and believes X-Forwarded-For: here a client's
    # cookies and Authorization stay hidden, and without trust_forwarded_headers the
    # address is the peer's, whatever the client wrote.
    user = Client(server.url, transports=["websocket"], headers={
        "Cookie": "session=secret", "Authorization": "Bearer secret",
        "X-Forwarded-For": "203.0.113.9", "X-Custom": "shown",
    })  # fmt: skip
    watcher = admin(server.url)
    try:
        wait_until(lambda: watcher.received("all_sockets", "/admin"), 5, "all_sockets")
        ((sockets,),) = watcher.received("all_sockets", "/admin")
        (mine,) = [s for s in sockets if s["id"] == user.sio.get_sid()]
        headers = mine["handshake"]["headers"]
        assert headers["cookie"] == headers["authorization"] == "(hidden)"
        assert headers["x-custom"] == "shown"
        assert "secret" not in json.dumps(mine)
        assert mine["handshake"]["address"] == "127.0.0.1"
    finally:
        watcher.sio.disconnect()
        user.sio.disconnect()


def test_admin_gets_session_config_sockets_and_live_events(server: LiveServer) -> None:
    user = Client(server.url, transports=["websocket"])
    watcher = admin(server.url)
    try:
        wait_until(lambda: watcher.received("all_sockets", "/admin"), 5, "all_sockets")
        ((session_id,),) = watcher.received("session", "/admin")
        ((config,),) = watcher.received("config", "/admin")
        assert set(config["supportedFeatures"]) == {
            "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT",
            "AGGREGATED_EVENTS", "ALL_EVENTS",
        }  # fmt: skip
        ((sockets,),) = watcher.received("all_sockets", "/admin")
        (mine,) = [s for s in sockets if s["id"] == user.sio.get_sid()]
        assert mine["nsp"] == "/"
        assert mine["transport"] == "websocket"
        assert mine["rooms"] == [mine["id"]]
        assert mine["handshake"]["address"] == "127.0.0.1"
        assert "auth" not in mine["handshake"]
        assert len(mine["clientId"]) == 12

        stats = wait_until(lambda: watcher.received("server_stats", "/admin"), 5, "stats")
        assert stats[-1][0]["serverId"] == "test-server"
        assert stats[-1][0]["clientsCount"] == 2
        assert {"name": "/", "socketsCount": 1} in stats[-1][0]["namespaces"]

        assert user.sio.call("join", "lobby", timeout=5) == "lobby"
        assert user.sio.call("echo", "hi", timeout=5) == "hi"
        wait_until(lambda: watcher.received("event_sent", "/admin"), 5, "event_sent")
        (joined,) = [e for e in watcher.received("room_joined", "/admin") if e[1] == "lobby"]
        assert joined[:3] == ("/", "lobby", user.sio.get_sid())
        received = [e[2] for e in watcher.received("event_received", "/admin")]
        assert ["join", "lobby"] in received
        assert ["echo", "hi"] in received
        assert [e[2] for e in watcher.received("event_sent", "/admin")] == [["echo", "hi"]]

        # A reconnection with the session id needs no password.
        again = admin(server.url, {"sessionId": session_id})
        again_sid = again.sio.get_sid("/admin")
        shown = wait_until(lambda: [s for (s, _) in watcher.received("socket_connected", "/admin")
                                    if s["id"] == again_sid], 5, "the UI")  # fmt: skip
        assert shown[0]["rooms"] == [again_sid]  # the server's own room is not shown
        again.close()
        assert all(e[1] != ADMITTED for e in watcher.received("room_joined", "/admin"))

        # The UI's disconnect button: _disconnect(nsp, close=False, filter=sid).
        sid = user.sio.get_sid()
        watcher.sio.emit("_disconnect", ("/", False, sid), namespace="/admin")
        wait_until(user.disconnected.is_set, 5, "the user to be disconnected")
        gone = wait_until(lambda: [e for e in watcher.received("socket_disconnected", "/admin")
                                   if e[0] == "/"], 5, "socket_disconnected")  # fmt: skip
        assert gone[0][:3] == ("/", sid, "server disconnect")
    finally:
        user.close()
        watcher.close()


def test_read_only_admin_cannot_act() -> None:
    with served(read_only=True) as live:
        user = Client(live.url)
        watcher = admin(live.url)
        try:
            wait_until(lambda: watcher.received("config", "/admin"), 5, "config")
            ((config,),) = watcher.received("config", "/admin")
            assert config["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
            watcher.sio.emit("_disconnect", ("/", False, user.sio.get_sid()), namespace="/admin")
            assert user.sio.call("echo", "still here", timeout=5) == "still here"
            assert not user.disconnected.is_set()
        finally:
            user.close()
            watcher.close()


def test_production_mode_sends_statistics_only() -> None:
    with served(mode="production") as live:
        watcher = admin(live.url)
        user = Client(live.url)
        try:
            assert user.sio.call("echo", "x", timeout=5) == "x"
            expected = {"rawConnection", "packetsIn", "packetsOut", "bytesIn", "bytesOut"}

            def kinds() -> set[str]:
                stats = [s for (s,) in watcher.received("server_stats", "/admin")]
                return {e["type"] for s in stats for e in s["aggregatedEvents"]}

            wait_until(lambda: expected <= kinds(), 5, lambda: f"counts of {expected}: {kinds()}")
            assert not watcher.received("all_sockets", "/admin")
            assert not watcher.received("socket_connected", "/admin")
            assert not watcher.received("event_received", "/admin")
        finally:
            user.close()
            watcher.close()


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "needs auth"),
        ({"username": "admin", "password": "clear text"}, "not a known hash"),
        ({"username": "admin"}, "must be a hash"),
        ("admin:pw", "must be a dict"),
    ],
)
def test_bad_auth_is_refused_at_instrument(auth: Any, message: str) -> None:
    _app, sio = make_app("admin_bad_auth")
    with pytest.raises(ConfigurationError, match=message):
        sio.instrument(auth=auth)


def test_bcrypt_hashes_are_accepted() -> None:
    import bcrypt

    from flask_realtime.binding.admin_auth import AdminAuth

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    auth = AdminAuth({"username": "admin", "password": hashed})
    assert auth.accepts({"username": "admin", "password": "pw"})
    assert not auth.accepts({"username": "admin", "password": "other"})
    assert not auth.accepts({"username": "root", "password": "pw"})


def test_an_upgrade_to_websocket_is_reported(server: LiveServer) -> None:
    watcher = admin(server.url)
    wait_until(lambda: watcher.received("config", "/admin"), 5, "config")
    user = Client(server.url)  # long-polling first, then the upgrade
    try:
        sid = user.sio.get_sid()
        wait_until(lambda: user.sio.transport() == "websocket", 5, "the client's upgrade")

        def latest() -> str | None:
            """The socket's transport as the UI knows it: connected, then updated."""
            known = None
            for namespace, event, args in list(watcher.events):
                if namespace != "/admin":
                    continue
                if event == "socket_connected" and args[0]["id"] == sid:
                    known = args[0]["transport"]
                elif event == "socket_updated" and args[0]["id"] == sid:
                    assert known == "polling", "an update of a socket on websocket already"
                    assert args[0] == {"id": sid, "nsp": "/", "transport": "websocket"}
                    known = args[0]["transport"]
            return known

        # The client may upgrade before or after its namespace CONNECT: either way the
        # UI ends up showing websocket.
        wait_until(lambda: latest() == "websocket", 5, lambda: f"websocket, not {latest()}")
    finally:
        user.close()
        watcher.close()


def test_an_upgrade_after_the_connect_is_a_socket_updated(server: LiveServer) -> None:
    """Spoken by hand, so that the CONNECT surely comes before the upgrade."""
    watcher = admin(server.url)
    wait_until(lambda: watcher.received("config", "/admin"), 5, "config")
    http = requests.Session()
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    opened = json.loads(http.get(base, timeout=5).text[1:])
    eio_sid = opened["sid"]
    assert http.post(f"{base}&sid={eio_sid}", data="40", timeout=5).text == "ok"
    (connected,) = [p for p in http.get(f"{base}&sid={eio_sid}", timeout=5).text.split("\x1e")
                    if p.startswith("40")]  # fmt: skip
    sid = json.loads(connected[2:])["sid"]
    ws = websocket.create_connection(
        server.url.replace("http", "ws") + f"/socket.io/?EIO=4&transport=websocket&sid={eio_sid}",
        timeout=5,
    )
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")
        updates = wait_until(lambda: [u for (u,) in watcher.received("socket_updated", "/admin")
                                      if u["id"] == sid], 5, "socket_updated")  # fmt: skip
        assert updates == [{"id": sid, "nsp": "/", "transport": "websocket"}]
        (shown,) = [s for (s, _) in watcher.received("socket_connected", "/admin")
                    if s["id"] == sid]  # fmt: skip
        assert shown["transport"] == "polling"
    finally:
        ws.close()
        watcher.close()


def test_the_ui_actions_join_leave_emit_and_refuse_a_bad_filter(server: LiveServer) -> None:
    first = Client(server.url)
    second = Client(server.url)
    watcher = admin(server.url)
    try:
        wait_until(lambda: watcher.received("config", "/admin"), 5, "config")
        one = first.sio.get_sid()
        # A filter of another type selects nobody (never "everyone").
        watcher.sio.emit("_disconnect", ("/", False, 42), namespace="/admin")
        watcher.sio.emit("join", ("/", "vip", one), namespace="/admin")
        watcher.sio.emit("emit", ("/", "vip", "news", {"n": 1}), namespace="/admin")
        watcher.sio.emit("emit", ("/", None, "news", {"n": 2}), namespace="/admin")
        wait_until(lambda: len(second.received("news")) == 1, 5, "the emit to all")
        wait_until(lambda: len(first.received("news")) == 2, 5, "both emits")
        assert first.received("news") == [({"n": 1},), ({"n": 2},)]
        assert second.received("news") == [({"n": 2},)]
        watcher.sio.emit("leave", ("/", "vip", one), namespace="/admin")
        left = wait_until(lambda: [e for e in watcher.received("room_left", "/admin")
                                   if e[1] == "vip"], 5, "room_left")  # fmt: skip
        assert left[0][:3] == ("/", "vip", one)
        assert not first.disconnected.is_set()
        assert not second.disconnected.is_set()
    finally:
        first.close()
        second.close()
        watcher.close()


@pytest.mark.parametrize("kind", ["none", "function"])
def test_auth_false_or_a_function(kind: str) -> None:
    app, sio = make_app(f"admin_auth_{kind}")
    seen: list[Any] = []

    def check(auth: Any) -> bool:
        seen.append(auth)
        return auth.get("token") == "t0ken"

    sio.instrument(auth=False if kind == "none" else check)
    with LiveServer(app, sio) as live:
        if kind == "function":
            refused = socketio.Client(reconnection=False, handle_sigint=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                refused.connect(live.url, namespaces=["/admin"], auth={"token": "bad"},
                                wait_timeout=5)  # fmt: skip
            refused.disconnect()
        watcher = admin(live.url, {"token": "t0ken"} if kind == "function" else None)
        try:
            wait_until(lambda: watcher.received("config", "/admin"), 5, "config")
            # A session id to reconnect with, when there is something to check.
            assert bool(watcher.received("session", "/admin")) is (kind == "function")
        finally:
            watcher.close()
    assert seen == ([] if kind == "none" else [{"token": "bad"}, {"token": "t0ken"}])


def test_actions_sent_before_the_login_is_checked_are_refused() -> None:
    """With ``always_connect`` the CONNECT reply comes before the login is checked; the
    UI's actions sent meanwhile must not run (nor after the login is refused)."""
    app, sio = make_app("admin_always_connect", always_connect=True)
    gate = threading.Event()

    def check(auth: Any) -> bool:
        gate.wait(10)  # the check is slow: the attack happens meanwhile
        return False

    sio.instrument(auth=check)
    with LiveServer(app, sio) as live:
        victim = Client(live.url)
        ws = websocket.create_connection(
            live.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=5
        )
        try:
            assert ws.recv().startswith("0")
            ws.send("40")
            assert ws.recv().startswith("40{")
            ws.send('40/admin,{"username":"admin","password":"guess"}')
            assert ws.recv().startswith("40/admin,")  # always_connect: in, for now
            victim_sid = victim.sio.get_sid()
            ws.send(json_packet("42/admin,", ["join", "/", "owned", victim_sid]))
            ws.send(json_packet("42/admin,", ["emit", "/", victim_sid, "pwned"]))
            ws.send('421["aecho","sync"]')  # handled after the two above
            # Nothing of the admin namespace (room_joined, ...) reached it before.
            assert ws.recv() == '431["sync"]'
            gate.set()
            assert ws.recv().startswith("41/admin,")  # refused now
            sio.emit("to_owned", to="owned")
            sio.emit("marker", to=victim_sid)
            wait_until(lambda: victim.received("marker"), 5, "the marker")
            assert victim.received("pwned") == []
            assert victim.received("to_owned") == []
        finally:
            gate.set()
            ws.close()
            victim.close()


def json_packet(prefix: str, data: list[Any]) -> str:
    return prefix + json.dumps(data)
