"""A mixed cluster: one of our servers and one Node socket.io 4.8 server with
``@socket.io/redis-adapter`` on the same Redis and key, clients on both; then Node's
``@socket.io/redis-emitter`` and our ``Emitter`` across the two.

Our server is ``cluster_app.py`` (driven by its clients' events), Node's is
``tests/interop/js/redis_node_server.mjs`` (driven by commands on its stdin). A "marker"
broadcast sent after an event that must not arrive proves it did not: Redis delivers one
publisher's messages to a subscriber in order.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .redis_support import (
    JsClients,
    NodeServer,
    PyClient,
    ServerProcess,
    _env,
    run_node_emitter,
    unique_channel,
    wait_until,
)

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


class Mixed:
    """Our server "a" and the Node server on one Redis and one key, and their clients."""

    def __init__(self, redis_url: str, tmp: Path) -> None:
        self.redis_url = redis_url
        self.channel = unique_channel()
        self.clients: list[PyClient] = []
        self.js: list[JsClients] = []
        self.ours = ServerProcess("a", redis_url, self.channel, tmp)
        try:
            self.node = NodeServer(redis_url, self.channel, tmp)
        except BaseException:
            self.ours.stop()
            raise
        # Both subscribed: each counts the other (PUBSUB NUMSUB of the request channel).
        assert self.node.command("serverCount") == 2

    def py_ours(self, answer: Any = None) -> PyClient:
        return self._py(self.ours.url, answer)

    def py_node(self, answer: Any = None) -> PyClient:
        return self._py(self.node.url, answer)

    def _py(self, url: str, answer: Any) -> PyClient:
        client = PyClient(url, answer)
        self.clients.append(client)
        return client

    def js_clients(self, specs: list[tuple[str, str, bool]]) -> JsClients:
        """``(id, "ours" | "node", answers)`` each."""
        urls = {"ours": self.ours.url, "node": self.node.url}
        clients = JsClients([
            {"id": ident, "url": urls[where], "answer": answer} for ident, where, answer in specs
        ])  # fmt: skip
        self.js.append(clients)
        return clients

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for js in self.js:
            js.close()
        self.node.stop()
        self.ours.stop()


@pytest.fixture
def mixed(redis_url: str, tmp_path: Path) -> Iterator[Mixed]:
    m = Mixed(redis_url, tmp_path)
    yield m
    m.close()


def _marker(mixed: Mixed, n: int, seen: list[Any]) -> None:
    """Broadcast ``mark n`` from both servers and wait until every observer saw both."""
    mixed.node.command("emit", event="mark", args=["node", n])
    mixed.clients[0].call("emit", {"event": "mark", "args": ["ours", n]})
    for check in seen:
        wait_until(lambda c=check: c(("node", n)) and c(("ours", n)), f"mark {n}")


def _py_seen(client: PyClient) -> Any:
    return lambda mark: mark in client.got("mark")


def _js_seen(js: JsClients, ident: str) -> Any:
    return lambda mark: list(mark) in js.got(ident, "mark")


# -- broadcasts --------------------------------------------------------------------------------


def test_broadcasts_reach_both_servers_clients_in_both_directions(mixed: Mixed) -> None:
    pa = mixed.py_ours()
    pn = mixed.py_node()
    js = mixed.js_clients([("ja", "ours", True), ("jn", "node", True)])
    # ours -> everyone
    assert pa.call("emit", {"event": "news", "args": [{"n": 1}, "two", 3.5, None]}) == "sent"
    wait_until(lambda: pn.got("news") and js.got("jn", "news"), "ours' news on Node's clients")
    assert pn.got("news") == [({"n": 1}, "two", 3.5, None)]
    assert js.got("jn", "news") == [[{"n": 1}, "two", 3.5, None]]
    # Node -> everyone
    mixed.node.command("emit", event="news", args=[{"from": "node"}, [1, 2, 3], True])
    wait_until(lambda: len(pa.got("news")) == 2 and len(js.got("ja", "news")) == 2, "Node's news")
    assert pa.got("news")[1] == ({"from": "node"}, [1, 2, 3], True)
    assert js.got("ja", "news")[1] == [{"from": "node"}, [1, 2, 3], True]


def test_room_and_except_broadcasts_in_both_directions(mixed: Mixed) -> None:
    pa, pa2 = mixed.py_ours(), mixed.py_ours()
    pn, pn2 = mixed.py_node(), mixed.py_node()
    assert pa.call("join", "r") == "joined"
    assert pn.call("join", "r") == "joined"
    seen = [_py_seen(c) for c in (pa, pa2, pn, pn2)]
    # ours -> room r (a one-room broadcast goes to <key>#/#r#)
    pa2.call("emit", {"event": "room", "args": ["from ours"], "to": "r"})
    # Node -> room r
    mixed.node.command("emit", event="room", args=["from node"], to="r")
    _marker(mixed, 1, seen)
    for client in (pa, pn):
        assert sorted(client.got("room")) == [("from node",), ("from ours",)]
    assert pa2.got("room") == []
    assert pn2.got("room") == []
    # several rooms, and except, from both sides
    pa2.call("join", "s")
    pn2.call("join", "s")
    mixed.node.command("emit", event="two", args=["node"], to=["r", "s"])
    pa.call("emit", {"event": "two", "args": ["ours"], "to": ["r", "s"], "skip": "s"})
    mixed.node.command("emit", **{"event": "skip", "args": ["node"], "except": "r"})
    _marker(mixed, 2, seen)
    for client in (pa, pa2, pn, pn2):
        assert ("node",) in client.got("two")
    for client in (pa, pn):  # in r and not in s
        assert ("ours",) in client.got("two")
        assert client.got("skip") == []
    for client in (pa2, pn2):  # in s: skipped by ours' skip_sid="s"
        assert ("ours",) not in client.got("two")
        assert client.got("skip") == [("node",)]


def test_binary_crosses_in_both_directions(mixed: Mixed) -> None:
    pa, pn = mixed.py_ours(), mixed.py_node()
    js = mixed.js_clients([("ja", "ours", True), ("jn", "node", True)])
    pa.call("emit", {"event": "blob", "args": [b"\x00\xff", {"k": b"xyz", "t": "text"}]})
    wait_until(lambda: pn.got("blob") and js.got("jn", "blob"), "ours' binary on Node's clients")
    assert pn.got("blob") == [(b"\x00\xff", {"k": b"xyz", "t": "text"})]
    assert js.got("jn", "blob") == [[{"$bin": "AP8="}, {"k": {"$bin": "eHl6"}, "t": "text"}]]
    mixed.node.command("emit", event="nblob", args=[{"$bin": "AQID"}, [{"$bin": ""}, 1]])
    wait_until(lambda: pa.got("nblob") and js.got("ja", "nblob"), "Node's binary on ours' clients")
    assert pa.got("nblob") == [(b"\x01\x02\x03", [b"", 1])]
    assert js.got("ja", "nblob") == [[{"$bin": "AQID"}, [{"$bin": ""}, 1]]]


def test_dates_from_node_arrive_as_nodes_own_clients_get_them(mixed: Mixed) -> None:
    # notepack.io 3 writes a Date as a msgpack timestamp: ours dropped the whole message.
    pa = mixed.py_ours()
    js = mixed.js_clients([("ja", "ours", True), ("jn", "node", True)])
    when = {"$date": "2024-05-06T07:08:09.123Z"}
    mixed.node.command("emit", event="dated", args=[{"at": when}, [when]])
    dated = {"op": "emit", "event": "dated", "args": [{"at": when}, [when]]}
    run_node_emitter(mixed.redis_url, mixed.channel, [dated])
    wait_until(lambda: len(js.got("jn", "dated")) == 2, "the dates on Node's client")
    wait_until(lambda: len(pa.got("dated")) == 2, "the dates on ours' client")
    iso = "2024-05-06T07:08:09.123Z"
    assert js.got("jn", "dated") == [[{"at": iso}, [iso]]] * 2
    assert pa.got("dated") == [({"at": iso}, [iso])] * 2
    assert js.got("ja", "dated") == js.got("jn", "dated")


# -- rooms and disconnects of the other server's clients ------------------------------------


def test_remote_join_leave_and_disconnect_in_both_directions(mixed: Mixed) -> None:
    pa, pb = mixed.py_ours(), mixed.py_ours()
    pn, pm = mixed.py_node(), mixed.py_node()
    seen = [_py_seen(c) for c in (pa, pb, pn, pm)]
    # ours puts Node's client pn in "r"; Node puts ours' pa in "n".
    assert pa.call("ops", {"op": "enter_room", "sid": pn.sid, "room": "r"}) == "done"
    mixed.node.command("join", to=pa.sid, rooms=["n"])
    wait_until(lambda: "r" in _node_rooms(mixed, pn.sid), "pn in r (seen by Node)")
    wait_until(lambda: "n" in _our_rooms(pb, pa.sid), "pa in n (seen by ours)")
    pb.call("emit", {"event": "to-r", "args": [1], "to": "r"})
    mixed.node.command("emit", event="to-n", args=[2], to="n")
    _marker(mixed, 1, seen)
    assert pn.got("to-r") == [(1,)]
    assert pa.got("to-n") == [(2,)]
    assert pm.got("to-r") == []
    assert pb.got("to-n") == []
    # and out again, both ways
    pa.call("ops", {"op": "leave_room", "sid": pn.sid, "room": "r"})
    mixed.node.command("leave", to=pa.sid, rooms=["n"])
    wait_until(lambda: "r" not in _node_rooms(mixed, pn.sid), "pn out of r")
    wait_until(lambda: "n" not in _our_rooms(pb, pa.sid), "pa out of n")
    # a room of both servers' clients, closed by ours (a leave of everyone in it)
    pb.call("join", "both")
    pm.call("join", "both")
    wait_until(lambda: len(pa.call("fetch", {"to": "both"})) == 2, "both in 'both'")
    pa.call("ops", {"op": "close_room", "room": "both"})
    wait_until(lambda: pa.call("fetch", {"to": "both"}) == [], "the room closed on both")
    # disconnect by room: Node disconnects every socket in "gone" (ours' pb, its own pm)
    pb.call("join", "gone")
    pm.call("join", "gone")
    wait_until(lambda: len(mixed.node.command("fetch", to="gone")) == 2, "both in 'gone'")
    mixed.node.command("disconnect", to="gone")
    assert pb.disconnected.wait(10)
    assert pm.disconnected.wait(10)
    # ours disconnects every socket in "bye" (Node's pn, and ours' pa), by the room's name
    pa.call("join", "bye")
    pn.call("join", "bye")
    wait_until(lambda: len(mixed.node.command("fetch", to="bye")) == 2, "both in 'bye'")
    third = mixed.py_ours()
    third.call("ops", {"op": "disconnect", "sid": "bye"})
    assert pn.disconnected.wait(10)
    assert pa.disconnected.wait(10)


def _node_rooms(mixed: Mixed, sid: str) -> list[str]:
    found = [s for s in mixed.node.command("fetch") if s["id"] == sid]
    return list(found[0]["rooms"]) if found else []


def _our_rooms(client: PyClient, sid: str) -> list[str]:
    found = [s for s in client.call("fetch", {}) if s["sid"] == sid]
    return list(found[0]["rooms"]) if found else []


# -- fetch_sockets ---------------------------------------------------------------------------


def test_fetch_sockets_in_both_directions_and_their_remote_operations(mixed: Mixed) -> None:
    pa = mixed.py_ours()
    pn = mixed.py_node()
    js = mixed.js_clients([("jn", "node", True)])
    jn = js.sids["jn"]
    pa.call("join", "team")
    pn.call("join", "team")
    # Node's fetchSockets returns ours, in Node's shape
    by_id = {s["id"]: s for s in mixed.node.command("fetch")}
    assert set(by_id) == {pa.sid, pn.sid, jn}
    assert by_id[pa.sid]["rooms"] == sorted([pa.sid, "team"])
    assert by_id[pa.sid]["handshake"]["url"].startswith("/socket.io/?")
    assert by_id[pa.sid]["handshake"]["query"]["EIO"] == "4"
    assert by_id[pa.sid]["handshake"]["address"] == "127.0.0.1"
    assert by_id[pn.sid]["data"] == {"server": "node", "n": 1}
    assert [s["id"] for s in mixed.node.command("fetch", to="team")] in (
        [pn.sid, pa.sid], [pa.sid, pn.sid],
    )  # fmt: skip
    # ours' fetch_sockets returns Node's, with their socket.data
    found = {s["sid"]: s for s in pa.call("fetch-full", {})}
    assert set(found) == {pa.sid, pn.sid, jn}
    assert found[pn.sid]["rooms"] == sorted([pn.sid, "team"])
    assert found[pn.sid]["data"] == {"server": "node", "n": 1}
    assert found[jn]["data"] == {"server": "node", "n": 2}
    assert found[jn]["url"].startswith("/socket.io/?")
    assert found[pa.sid]["data"] == {}
    assert {s["sid"] for s in pa.call("fetch-full", {"to": "team"})} == {pa.sid, pn.sid}
    # Node's RemoteSocket of ours' client, ours' ClusterSocket of Node's
    assert mixed.node.command("remote", sid=pa.sid, action="emit", event="direct",
                              args=["from node"]) == "done"  # fmt: skip
    assert pa.call("remote", {"sid": jn, "action": "emit", "event": "direct",
                              "args": ["from ours"]}) == "done"  # fmt: skip
    wait_until(lambda: pa.got("direct") and js.got("jn", "direct"), "the remote emits")
    assert pa.got("direct") == [("from node",)]
    assert js.got("jn", "direct") == [["from ours"]]
    assert mixed.node.command("remote", sid=pa.sid, action="join", room="x") == "done"
    assert pa.call("remote", {"sid": jn, "action": "join", "room": "y"}) == "done"
    wait_until(lambda: "x" in _our_rooms(pa, pa.sid), "Node's RemoteSocket.join")
    wait_until(lambda: "y" in _node_rooms(mixed, jn), "ours' ClusterSocket.join_room")
    assert pa.call("remote", {"sid": jn, "action": "disconnect"}) == "done"
    wait_until(lambda: js.got("jn", "disconnect"), "ours' ClusterSocket.disconnect")
    assert js.got("jn", "disconnect") == ["io server disconnect"]


# -- server-side events --------------------------------------------------------------------


def test_server_side_emit_in_both_directions_with_and_without_acks(mixed: Mixed) -> None:
    pa = mixed.py_ours()
    pn = mixed.py_node()
    # ours -> Node, answers wanted: Node's io.on("hello", (data, ack) => ack(...))
    assert pa.call("sse", {"data": {"k": 1}}) == ["hello from node"]
    [event] = mixed.node.server_events("hello")
    assert event["args"] == [{"k": 1}]
    assert event["ack"] is True
    # ours -> Node, no answers
    assert pa.call("sse", {"data": 2, "ack": False}) is None
    wait_until(lambda: len(mixed.node.server_events("hello")) == 2, "the second event on Node")
    assert mixed.node.server_events("hello")[1]["args"] == [2]
    assert mixed.node.server_events("hello")[1]["ack"] is False
    # Node -> ours, no answers: ours' handler broadcasts server-hello
    assert mixed.node.command("sse", event="hello", args=["plain"]) is True
    wait_until(lambda: pn.got("server-hello"), "ours' handler's broadcast")
    assert pn.got("server-hello") == [({"on": "a", "data": "plain"},)]
    # Node -> ours, answers wanted: io.serverSideEmitWithAck
    assert mixed.node.command("sse", event="hello", args=[7], ack=True) == {
        "answers": ["hello from a"]
    }
    wait_until(lambda: len(pa.got("server-hello")) == 2, "ours' handler ran twice")


# -- broadcast acknowledgements ------------------------------------------------------------


def test_broadcast_acks_across_the_two(mixed: Mixed) -> None:
    pa = mixed.py_ours(answer=lambda data: {"py": "ours", "got": data})
    pn = mixed.py_node(answer=lambda data: {"py": "node", "got": data})
    js = mixed.js_clients([("ja", "ours", True), ("jn", "node", True), ("mute", "node", False)])
    for client in (pa, pn):
        client.call("join", "q")
    mixed.node.command("join", to=[js.sids["ja"], js.sids["jn"]], rooms=["q"])
    wait_until(lambda: len(pa.call("fetch", {"to": "q"})) == 4, "four in q")
    expected = [
        {"py": "ours", "got": 5}, {"py": "node", "got": 5},
        {"js": "ja", "got": 5}, {"js": "jn", "got": 5},
    ]  # fmt: skip
    # Node: io.to("q").timeout(3000).emitWithAck("q", 5) gets every answer, ours' included
    answer = mixed.node.command("call", event="q", args=[5], to="q", timeout=3000)
    assert "error" not in answer, answer
    assert sorted(answer["answers"], key=str) == sorted(expected, key=str)
    # ours: socketio.call("q", 6, to="q") gets every answer, Node's clients' included;
    # Node's adapter does not say which client answered: those are keyed "<server>#<n>".
    result = pa.call("call-room", {"event": "q", "data": 6, "to": "q", "timeout": 3})
    assert result["missing_count"] == 0
    assert result["responses"][pa.sid] == {"py": "ours", "got": 6}
    assert result["responses"][js.sids["ja"]] == {"js": "ja", "got": 6}
    assert sorted(result["responses"].values(), key=str) == sorted(
        [dict(e, got=6) for e in expected], key=str
    )
    # a silent client of Node's: counted as missing (by count only: Node names no one)
    mixed.node.command("join", to=js.sids["mute"], rooms=["q"])
    wait_until(lambda: len(pa.call("fetch", {"to": "q"})) == 5, "five in q")
    result = pa.call("call-room", {"event": "q", "data": 7, "to": "q", "timeout": 1})
    assert len(result["responses"]) == 4
    assert result["missing_count"] == 1
    assert result["missing"] == []


def test_our_call_to_one_client_of_node_returns_its_answer(mixed: Mixed) -> None:
    # Node's adapter does not name the client that answered: socketio.call(to=sid)
    # returned a BroadcastAcks (and no CallTimeoutError) for a client of Node's.
    pa = mixed.py_ours()
    pn = mixed.py_node(answer=lambda data: {"node": data})
    js = mixed.js_clients([("mute", "node", False)])
    assert pa.call("call-one", {"event": "q", "data": 1, "to": pn.sid}) == {"answer": {"node": 1}}
    silent = pa.call("call-one", {"event": "q", "data": 2, "to": js.sids["mute"], "timeout": 1})
    assert silent["error"].startswith("CallTimeoutError")
    # a room of one client of Node's is still a room: a BroadcastAcks
    pn.call("join", "solo")
    room = pa.call("call-room", {"event": "q", "data": 3, "to": "solo", "timeout": 2})
    assert list(room["responses"].values()) == [{"node": 3}]
    gone = pa.call("call-one", {"event": "q", "data": 4, "to": "nobody", "timeout": 1})
    assert gone["error"].startswith("DisconnectedError")


def test_an_answer_of_several_values_reaches_node_as_its_first(mixed: Mixed) -> None:
    # Node's socket.io hands a broadcast ack's first argument on; ours sent them all.
    pa = mixed.py_ours(answer=lambda data: ("one", data))
    pb = mixed.py_ours(answer=lambda data: ("b", data))
    pn = mixed.py_node(answer=lambda data: ("n1", data))
    for client in (pa, pb, pn):
        client.call("join", "several")
    wait_until(lambda: len(mixed.node.command("fetch", to="several")) == 3, "three in the room")
    answer = mixed.node.command("call", event="q", args=[1], to="several")
    assert sorted(answer["answers"]) == ["b", "n1", "one"]
    single = mixed.node.command("remote", sid=pa.sid, action="call", event="q", args=[2])
    assert single == {"answer": "one"}
    # ours still gets every value of its own servers' clients (Node's: the first only)
    result = pb.call("call-room", {"event": "q", "data": 3, "to": "several", "timeout": 3})
    assert result["missing_count"] == 0
    assert result["responses"][pa.sid] == ["one", 3]
    assert result["responses"][pb.sid] == ["b", 3]
    assert sorted(v for k, v in result["responses"].items() if k not in (pa.sid, pb.sid)) == ["n1"]


# -- the emitters --------------------------------------------------------------------------


def test_nodes_redis_emitter_reaches_our_clients(mixed: Mixed) -> None:
    pa, pb = mixed.py_ours(), mixed.py_ours()
    pn = mixed.py_node()
    pa.call("join", "r")
    run_node_emitter(mixed.redis_url, mixed.channel, [
        {"op": "emit", "event": "all", "args": [{"n": 1}, "x"]},
        {"op": "emit", "event": "room", "args": ["r only"], "to": "r"},
        {"op": "emit", "event": "not-r", "args": [1], "except": "r"},
        {"op": "emit", "event": "bin", "args": [{"$bin": "AQI="}]},
        {"op": "join", "to": pb.sid, "rooms": ["joined"]},
        {"op": "emit", "event": "to-joined", "args": ["hi"], "to": "joined"},
        {"op": "leave", "to": pa.sid, "rooms": ["r"]},
        {"op": "emit", "event": "room", "args": ["after leave"], "to": "r"},
        {"op": "sse", "event": "hello", "args": ["from node's emitter"]},
        {"op": "emit", "event": "last", "args": []},
    ])  # fmt: skip
    wait_until(lambda: pa.got("last") and pb.got("last") and pn.got("last"), "the last event")
    assert pa.got("all") == pb.got("all") == pn.got("all") == [({"n": 1}, "x")]
    assert pa.got("room") == [("r only",)]
    assert pb.got("room") == []
    assert pa.got("not-r") == []
    assert pb.got("not-r") == [(1,)]
    assert pa.got("bin") == pb.got("bin") == pn.got("bin") == [(b"\x01\x02",)]
    assert pb.got("to-joined") == [("hi",)]
    assert pa.got("to-joined") == []
    # the server-side event reached ours' handler (which broadcast server-hello)
    wait_until(lambda: pn.got("server-hello"), "ours' handler's broadcast")
    assert pn.got("server-hello") == [({"on": "a", "data": "from node's emitter"},)]
    run_node_emitter(mixed.redis_url, mixed.channel, [{"op": "disconnect", "to": pb.sid}])
    assert pb.disconnected.wait(10)
    assert pa.client.connected


OUR_EMITTER = textwrap.dedent(
    """
    import sys
    from flask_realtime.emitter import Emitter

    url, channel, sid, other = sys.argv[1:5]
    with Emitter(url, channel=channel) as emitter:
        emitter.emit("all", {"n": 1}, "x")
        emitter.emit("bin", b"\\x01\\x02", {"k": b"\\xff"})
        emitter.enter_room(sid, "joined")
        emitter.emit("to-joined", "hi", to="joined")
        emitter.emit("skipped", 1, skip_sid=sid)
        emitter.leave_room(sid, "joined")
        emitter.emit("to-joined", "after leave", to="joined")
        emitter.server_side_emit("hello", "from our emitter")
        emitter.emit("last")
        emitter.disconnect(other)
    print("emitted")
    """
)


def test_our_emitter_reaches_nodes_clients(mixed: Mixed) -> None:
    pa = mixed.py_ours()
    js = mixed.js_clients([("jn", "node", True), ("gone", "node", True)])
    jn = js.sids["jn"]
    done = subprocess.run(
        [sys.executable, "-c", OUR_EMITTER, mixed.redis_url, mixed.channel, jn,
         js.sids["gone"]],
        capture_output=True, text=True, timeout=30, env=_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_until(lambda: js.got("jn", "last") and pa.got("last"), "the last event")
    assert js.got("jn", "all") == [[{"n": 1}, "x"]]
    assert js.got("jn", "bin") == [[{"$bin": "AQI="}, {"k": {"$bin": "/w=="}}]]
    assert js.got("jn", "to-joined") == [["hi"]]
    assert js.got("jn", "skipped") == []
    assert js.got("gone", "skipped") == [[1]]
    assert pa.got("to-joined") == []
    wait_until(lambda: mixed.node.server_events("hello"), "the server-side event on Node")
    assert mixed.node.server_events("hello")[0]["args"] == ["from our emitter"]
    wait_until(lambda: js.got("gone", "disconnect"), "the emitter's disconnect")
    assert js.got("gone", "disconnect") == ["io server disconnect"]
    assert js.got("jn", "disconnect") == []
