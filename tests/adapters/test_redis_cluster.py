"""The Redis adapters end to end: three server processes on a real Redis and on a real
Redis Cluster, with classic and with sharded pub/sub, python-socketio and official
socket.io-client sockets on each; an emitter process with no server; Redis restarted
under a running cluster."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster_harness import Cluster
from .redis_servers import PrivateRedis, PrivateRedisCluster
from .redis_support import ServerProcess, _env, unique_channel, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


@pytest.fixture
def cluster(redis_flavour_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Three servers on each of the Redis flavours (one Redis, classic or sharded pub/sub;
    a Redis Cluster, classic or sharded)."""
    c = Cluster(redis_flavour_url, tmp_path)
    yield c
    c.close()


def test_a_broadcast_from_any_process_reaches_every_client(cluster: Cluster) -> None:
    py = {name: cluster.py(name) for name in "abc"}
    js = cluster.js_clients([("ja", "a", True), ("jb", "b", True), ("jc", "c", True)])
    assert py["b"].call("emit", {"event": "news", "args": [{"n": 1}, "two"]}) == "sent"
    for client in py.values():
        wait_until(lambda c=client: c.got("news"), "news on a python client")
        assert client.got("news") == [({"n": 1}, "two")]
    for ident in ("ja", "jb", "jc"):
        wait_until(lambda i=ident: js.got(i, "news"), f"news on {ident}")
        assert js.got(ident, "news") == [[{"n": 1}, "two"]]


def test_binary_crosses_processes(cluster: Cluster) -> None:
    a, c = cluster.py("a"), cluster.py("c")
    js = cluster.js_clients([("jb", "b", True)])
    a.call("emit", {"event": "blob", "args": [b"\x00\xff", {"k": b"xyz"}]})
    wait_until(lambda: c.got("blob"), "the binary event on c")
    assert c.got("blob") == [(b"\x00\xff", {"k": b"xyz"})]
    wait_until(lambda: js.got("jb", "blob"), "the binary event on the JS client")
    assert js.got("jb", "blob") == [[{"$bin": "AP8="}, {"k": {"$bin": "eHl6"}}]]


def test_a_room_spans_processes_with_remote_join_leave_close_and_disconnect(
    cluster: Cluster,
) -> None:
    pa, pb = cluster.py("a"), cluster.py("b")
    js = cluster.js_clients([("jc", "c", True)])
    jc = js.sids["jc"]
    assert pb.call("join", "r") == "joined"
    # a's server puts c's JS client in the room: it is connected to another process.
    assert pa.call("ops", {"op": "enter_room", "sid": jc, "room": "r"}) == "done"

    def round_trip(n: int) -> None:
        pa.call("emit", {"event": "room", "args": [n], "to": "r"})
        pa.call("emit", {"event": "mark", "args": [n]})
        wait_until(lambda: [n] in js.got("jc", "mark") and (n,) in pb.got("mark"), "mark")

    # Retried: with sharded pub/sub in the dynamic mode a server listens on a room's own
    # channel a moment after the room's first member joined there (Node's too).
    wait_until(
        lambda: (round_trip(1) or True) and js.got("jc", "room") and (1,) in pb.got("room"),
        "the remote join",
    )
    assert pa.got("room") == []
    pa.call("ops", {"op": "leave_room", "sid": jc, "room": "r"})
    round_trip(2)
    wait_until(lambda: (round_trip(3) or True) and (3,) in pb.got("room"), "b still in r")
    assert [3] not in js.got("jc", "room")
    pa.call("ops", {"op": "close_room", "room": "r"})
    round_trip(4)
    wait_until(lambda: (round_trip(5) or True) and (5,) not in pb.got("room"), "the room closed")
    pa.call("ops", {"op": "disconnect", "sid": jc})
    wait_until(lambda: js.got("jc", "disconnect"), "the remote disconnect")
    assert js.got("jc", "disconnect") == ["io server disconnect"]


def test_a_broadcast_call_gathers_every_answer_and_names_the_silent_client(
    cluster: Cluster,
) -> None:
    pa = cluster.py("a", answer=lambda data: {"py": "a", "got": data})
    pb = cluster.py("b", answer=lambda data: {"py": "b", "got": data})
    js = cluster.js_clients([("jc", "c", True), ("silent", "b", False)])
    for client in (pa, pb):
        client.call("join", "all")
    cluster.py("c").call("ops", {"op": "enter_room", "sid": js.sids["jc"], "room": "all"})
    pa.call("ops", {"op": "enter_room", "sid": js.sids["silent"], "room": "all"})
    wait_until(
        lambda: (
            {s["sid"] for s in pa.call("fetch", {"to": "all"})}
            == {pa.sid, pb.sid, js.sids["jc"], js.sids["silent"]}
        ),
        "everyone in the room",
    )
    result = pb.call("call-room", {"event": "q", "data": 5, "to": "all", "timeout": 1.5})
    assert result["responses"] == {
        pa.sid: {"py": "a", "got": 5},
        pb.sid: {"py": "b", "got": 5},
        js.sids["jc"]: {"js": "jc", "got": 5},
    }
    assert result["missing"] == [js.sids["silent"]]
    assert result["missing_count"] == 1


def test_fetch_sockets_and_server_side_emit_across_processes(cluster: Cluster) -> None:
    pa, pb = cluster.py("a"), cluster.py("b")
    js = cluster.js_clients([("jc", "c", True)])
    pb.call("join", "team")
    found = pa.call("fetch", {})
    assert {s["sid"] for s in found} == {pa.sid, pb.sid, js.sids["jc"]}
    team = pa.call("fetch", {"to": "team"})
    assert team == [{"sid": pb.sid, "rooms": [pb.sid, "team"]}]
    # a asks the other servers; each handler answers and emits to its own clients.
    assert pa.call("sse", {"data": 42}) == ["hello from b", "hello from c"]
    wait_until(lambda: js.got("jc", "server-hello"), "c's handler emitting")
    # b's handler broadcast reaches everyone, c's too: the JS client on c sees both.
    wait_until(lambda: len(js.got("jc", "server-hello")) == 2, "both handlers' emits")
    assert sorted(m[0]["on"] for m in js.got("jc", "server-hello")) == ["b", "c"]


EMITTER_SCRIPT = textwrap.dedent(
    """
    import sys
    from flask_realtime import SocketIO
    from flask_realtime.emitter import Emitter

    url, channel, sid, phase = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    if phase == "1":
        socketio = SocketIO(message_queue=url, channel=channel)   # no app: an emitter
        socketio.emit("from-worker", {"step": 1})
        socketio.emit("to-one", b"\\x01\\x02", to=sid)
        socketio.enter_room(sid, "workers")
    else:
        with Emitter(url, channel=channel) as emitter:
            emitter.emit("to-room", "hi", to="workers")
            emitter.send("plain message")
    print("emitted")
    """
)


def test_an_emitter_process_without_a_server_reaches_every_client(cluster: Cluster) -> None:
    """Two emitter runs, with the remote join landed in between: with sharded pub/sub in
    the dynamic mode a server listens on a room's own channel from the room's first
    member on, so a broadcast to a room that a remote join has just created may miss it
    (Node's sharded adapter behaves alike)."""
    pa = cluster.py("a")
    js = cluster.js_clients([("jc", "c", True)])
    target = js.sids["jc"]

    def emitter(phase: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", EMITTER_SCRIPT, cluster.url, cluster.channel, target, phase],
            capture_output=True, text=True, timeout=30, env=_env(), check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    emitter("1")
    wait_until(lambda: cluster.everyone(pa, {target}, "workers"), "the emitter's join")
    emitter("2")
    wait_until(lambda: pa.got("from-worker") and js.got("jc", "message"), "the emitter's events")
    assert pa.got("from-worker") == [({"step": 1},)]
    assert js.got("jc", "from-worker") == [[{"step": 1}]]
    assert js.got("jc", "to-one") == [[{"$bin": "AQI="}]]
    assert pa.got("to-one") == []
    assert js.got("jc", "to-room") == [["hi"]]
    assert js.got("jc", "message") == [["plain message"]]


def test_an_unreachable_broker_at_start_is_a_clear_error(tmp_path: Path) -> None:
    from .redis_support import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(pytest.fail.Exception) as failed:
        ServerProcess("x", url, unique_channel(), tmp_path)
    assert "cannot reach the message queue at " + url in str(failed.value)


@pytest.mark.parametrize("query", ["", "?sharded=true"], ids=["classic", "sharded"])
def test_redis_restarted_under_a_running_cluster(tmp_path: Path, query: str) -> None:
    redis = PrivateRedis(tmp_path)
    cluster = Cluster(redis.url + query, tmp_path, ("a", "b"))
    try:
        pa, pb = cluster.py("a"), cluster.py("b")
        pa.call("emit", {"event": "before", "args": [0]})
        wait_until(lambda: pb.got("before"), "the cluster before the outage")
        redis.stop()
        # Local clients keep being served: handlers answer, local emits arrive.
        for n in range(3):
            assert pa.call("emit", {"event": "local", "args": [n], "to": pa.sid}) == "sent"
        wait_until(lambda: len(pa.got("local")) == 3, "local delivery during the outage")
        wait_until(lambda: "unreachable" in cluster.servers["a"].output(), "the warning")
        redis.start()
        cluster.wait_reconnected(pa, pb, "the cluster after the outage", 30)
        output = cluster.servers["a"].output()
        assert output.count("unreachable") == 1, output  # one line for the outage
        assert "reachable again" in output
    finally:
        cluster.close()
        redis.stop()


def test_a_sharded_cluster_follows_a_slot_moved_to_another_node(tmp_path: Path) -> None:
    """The slot of the namespace's channel moves to another master (as a resharding
    does): the servers' subscriptions there end (Redis 7.0 answers MOVED when they
    subscribe again; later versions unsubscribe them); they ask the cluster where the
    channel lives now, and subscribe there. A Redis Cluster of the test's own: the
    session's is not resharded under the other tests."""
    redis_cluster = PrivateRedisCluster(tmp_path / "redis")
    cluster = Cluster(redis_cluster.url + "?sharded=true", tmp_path, ("a", "b"))
    try:
        pa, pb = cluster.py("a"), cluster.py("b")
        pa.call("emit", {"event": "before", "args": [0]})
        wait_until(lambda: pb.got("before"), "the cluster before the move")
        channel = f"{cluster.channel}#/#"
        source, target = redis_cluster.move_slot_of(channel)
        assert source != target
        n = 0

        def moved_and_working() -> bool:
            nonlocal n
            n += 1
            pa.call("emit", {"event": "after", "args": [n]})
            return bool(pb.got("after")) and redis_cluster.shard_subscribers(channel) == 2

        wait_until(moved_and_working, "the cluster after the move", 30)
        for server in cluster.servers.values():
            assert "unreachable" not in server.output()  # a move is not an outage
    finally:
        cluster.close()
        redis_cluster.stop()
