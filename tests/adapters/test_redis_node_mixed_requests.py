"""A mixed cluster (see ``node_mixed.py``): requests that wait for answers across our
server and Node's: server-side events with and without acknowledgements, broadcast
acknowledgements, a call to one client of the other server; on one Redis with classic
pub/sub and on a Redis Cluster with sharded pub/sub."""

from __future__ import annotations

import pytest

from .node_mixed import Mixed
from .redis_support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


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
