"""A mixed cluster (see ``node_mixed.py``) and the emitters: Node's
``@socket.io/redis-emitter`` reaches our clients (classic pub/sub: it knows no other), and
our emitter reaches Node's clients, on classic and on sharded pub/sub."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from .node_mixed import Mixed, node_rooms
from .redis_support import _env, run_node_emitter, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


def test_dates_from_node_arrive_as_nodes_own_clients_get_them(mixed_classic: Mixed) -> None:
    mixed = mixed_classic
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


# -- the emitters --------------------------------------------------------------------------


def test_nodes_redis_emitter_reaches_our_clients(mixed_classic: Mixed) -> None:
    mixed = mixed_classic
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

    url, channel, sid, other, phase = sys.argv[1:6]
    with Emitter(url, channel=channel) as emitter:
        if phase == "1":
            emitter.emit("all", {"n": 1}, "x")
            emitter.emit("bin", b"\\x01\\x02", {"k": b"\\xff"})
            emitter.enter_room(sid, "joined")
            sys.exit(0)
        if phase == "2":
            emitter.emit("to-joined", "hi", to="joined")
            emitter.emit("skipped", 1, skip_sid=sid)
            emitter.leave_room(sid, "joined")
            sys.exit(0)
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

    def emitter(phase: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", OUR_EMITTER, mixed.redis_url, mixed.channel, jn,
             js.sids["gone"], phase],
            capture_output=True, text=True, timeout=30, env=_env(), check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    # In three runs, the remote join and leave landed in between: sharded, a one-room
    # broadcast and a join or leave travel on different channels (see Mixed.room_ready).
    emitter("1")
    wait_until(lambda: "joined" in node_rooms(mixed, jn), "the emitter's join")
    mixed.room_ready("joined", 1)
    emitter("2")
    wait_until(lambda: js.got("jn", "to-joined"), "the broadcast to the joined room")
    wait_until(lambda: "joined" not in node_rooms(mixed, jn), "the emitter's leave")
    emitter("3")
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
