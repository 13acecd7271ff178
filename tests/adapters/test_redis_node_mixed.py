"""A mixed cluster (see ``node_mixed.py``): broadcasts, rooms, remote room changes and
disconnects, and fetch_sockets from either side reach the clients of both, on one Redis
with classic pub/sub and on a Redis Cluster with sharded pub/sub."""

from __future__ import annotations

import pytest

from .node_mixed import Mixed, marker, node_rooms, our_rooms, py_seen
from .redis_support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


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
    mixed.room_ready("r", 2)
    seen = [py_seen(c) for c in (pa, pa2, pn, pn2)]
    # ours -> room r (a one-room broadcast goes to <key>#/#r#)
    pa2.call("emit", {"event": "room", "args": ["from ours"], "to": "r"})
    # Node -> room r
    mixed.node.command("emit", event="room", args=["from node"], to="r")
    marker(mixed, 1, seen)
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
    marker(mixed, 2, seen)
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


# -- rooms and disconnects of the other server's clients ------------------------------------


def test_remote_join_leave_and_disconnect_in_both_directions(mixed: Mixed) -> None:
    pa, pb = mixed.py_ours(), mixed.py_ours()
    pn, pm = mixed.py_node(), mixed.py_node()
    seen = [py_seen(c) for c in (pa, pb, pn, pm)]
    # ours puts Node's client pn in "r"; Node puts ours' pa in "n".
    assert pa.call("ops", {"op": "enter_room", "sid": pn.sid, "room": "r"}) == "done"
    mixed.node.command("join", to=pa.sid, rooms=["n"])
    wait_until(lambda: "r" in node_rooms(mixed, pn.sid), "pn in r (seen by Node)")
    wait_until(lambda: "n" in our_rooms(pb, pa.sid), "pa in n (seen by ours)")
    mixed.room_ready("r", 1)
    mixed.room_ready("n", 1)
    pb.call("emit", {"event": "to-r", "args": [1], "to": "r"})
    mixed.node.command("emit", event="to-n", args=[2], to="n")
    marker(mixed, 1, seen)
    assert pn.got("to-r") == [(1,)]
    assert pa.got("to-n") == [(2,)]
    assert pm.got("to-r") == []
    assert pb.got("to-n") == []
    # and out again, both ways
    pa.call("ops", {"op": "leave_room", "sid": pn.sid, "room": "r"})
    mixed.node.command("leave", to=pa.sid, rooms=["n"])
    wait_until(lambda: "r" not in node_rooms(mixed, pn.sid), "pn out of r")
    wait_until(lambda: "n" not in our_rooms(pb, pa.sid), "pa out of n")
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
    wait_until(lambda: "x" in our_rooms(pa, pa.sid), "Node's RemoteSocket.join")
    wait_until(lambda: "y" in node_rooms(mixed, jn), "ours' ClusterSocket.join_room")
    assert pa.call("remote", {"sid": jn, "action": "disconnect"}) == "done"
    wait_until(lambda: js.got("jn", "disconnect"), "ours' ClusterSocket.disconnect")
    assert js.got("jn", "disconnect") == ["io server disconnect"]
