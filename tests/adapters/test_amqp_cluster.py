"""The RabbitMQ adapter end to end: three server processes on a real RabbitMQ (each test its
own exchange), python-socketio and official socket.io-client sockets on each; an emitter
process with no server; the servers' broker connections closed from the broker's side
(``rabbitmqctl close_connection``) under a running cluster.

Every server's broker connection is named after the test's channel, so a test closes the
connections of its own cluster only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .amqp_support import close_connections
from .cluster_harness import Cluster
from .redis_support import ServerProcess, _env, unique_channel, wait_until

pytestmark = [pytest.mark.amqp, pytest.mark.timeout(90)]


@pytest.fixture
def cluster(amqp_url: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(amqp_url, tmp_path)
    yield c
    c.close()


def test_a_broadcast_from_any_process_reaches_every_client(cluster: Cluster) -> None:
    py = {name: cluster.py(name) for name in "abc"}
    js = cluster.js_clients([("jc", "c", True)])
    for n, sender in enumerate("abc"):
        assert py[sender].call("emit", {"event": "news", "args": [{"n": n}, b"\x00\xff"]}) == "sent"
    # Three senders on three servers: each sender's messages keep their order, but nothing
    # orders one server's broadcast before another's, so compare them by their number.
    for client in py.values():
        wait_until(lambda c=client: len(c.got("news")) == 3, "three news on a python client")
        got = sorted(client.got("news"), key=lambda item: item[0]["n"])
        assert got == [({"n": n}, b"\x00\xff") for n in range(3)]
    wait_until(lambda: len(js.got("jc", "news")) == 3, "three news on the JS client")
    got_js = sorted(js.got("jc", "news"), key=lambda item: item[0]["n"])
    assert got_js == [[{"n": n}, {"$bin": "AP8="}] for n in range(3)]


def test_a_room_spans_processes_with_remote_join_leave_close_and_disconnect(
    cluster: Cluster,
) -> None:
    pa, pb, pc = cluster.py("a"), cluster.py("b"), cluster.py("c")
    assert pb.call("join", "r") == "joined"
    # a's server puts c's client in the room: it is connected to another process.
    assert pa.call("ops", {"op": "enter_room", "sid": pc.sid, "room": "r"}) == "done"

    def round_trip(n: int) -> None:
        pa.call("emit", {"event": "room", "args": [n], "to": "r"})
        pa.call("emit", {"event": "mark", "args": [n]})
        wait_until(lambda: (n,) in pc.got("mark") and (n,) in pb.got("mark"), "mark")

    round_trip(1)  # messages from one server arrive in order: the join came first
    assert pa.got("room") == []
    assert pb.got("room") == [(1,)]
    assert pc.got("room") == [(1,)]
    pa.call("ops", {"op": "leave_room", "sid": pc.sid, "room": "r"})
    round_trip(2)
    assert pb.got("room") == [(1,), (2,)]
    assert pc.got("room") == [(1,)]
    pa.call("ops", {"op": "close_room", "room": "r"})
    round_trip(3)
    assert pb.got("room") == [(1,), (2,)]
    pa.call("ops", {"op": "disconnect", "sid": pc.sid})
    assert pc.disconnected.wait(10), "the remote disconnect"
    assert not pb.disconnected.is_set()


def test_a_broadcast_call_gathers_every_answer_and_names_the_silent_client(
    cluster: Cluster,
) -> None:
    pa = cluster.py("a", answer=lambda data: {"py": "a", "got": data})
    pc = cluster.py("c", answer=lambda data: {"py": "c", "got": data})
    js = cluster.js_clients([("jb", "b", True), ("silent", "c", False)])
    for client in (pa, pc):
        client.call("join", "all")
    pa.call("ops", {"op": "enter_room", "sid": js.sids["jb"], "room": "all"})
    pa.call("ops", {"op": "enter_room", "sid": js.sids["silent"], "room": "all"})
    everyone = {pa.sid, pc.sid, js.sids["jb"], js.sids["silent"]}
    wait_until(lambda: cluster.everyone(pa, everyone, "all"), "everyone in the room")
    started = time.monotonic()
    result = pc.call("call-room", {"event": "q", "data": 5, "to": "all", "timeout": 1.5})
    assert time.monotonic() - started < 5
    assert result["responses"] == {
        pa.sid: {"py": "a", "got": 5},
        pc.sid: {"py": "c", "got": 5},
        js.sids["jb"]: {"js": "jb", "got": 5},
    }
    assert result["missing"] == [js.sids["silent"]]
    assert result["missing_count"] == 1


def test_fetch_sockets_and_server_side_emit_across_processes(cluster: Cluster) -> None:
    pa, pb, pc = cluster.py("a"), cluster.py("b"), cluster.py("c")
    pb.call("join", "team")
    wait_until(lambda: cluster.everyone(pa, {pa.sid, pb.sid, pc.sid}), "every server's sockets")
    assert pa.call("fetch", {"to": "team"}) == [{"sid": pb.sid, "rooms": [pb.sid, "team"]}]
    assert pc.call("fetch", {"to": "nobody"}) == []
    # a asks the other servers; each handler answers and emits to everyone.
    assert pa.call("sse", {"data": 42}) == ["hello from b", "hello from c"]
    wait_until(lambda: len(pa.got("server-hello")) == 2, "both handlers' emits")
    assert sorted(m[0]["on"] for m in pa.got("server-hello")) == ["b", "c"]
    assert all(m[0]["data"] == 42 for m in pa.got("server-hello"))


EMITTER_SCRIPT = textwrap.dedent(
    """
    import sys
    from flask_realtime import SocketIO
    from flask_realtime.emitter import Emitter

    url, channel, sid = sys.argv[1], sys.argv[2], sys.argv[3]
    socketio = SocketIO(message_queue=url, channel=channel)   # no app: an emitter
    socketio.emit("from-worker", {"step": 1})
    socketio.emit("to-one", b"\\x01\\x02", to=sid)
    socketio.enter_room(sid, "workers")
    with Emitter(url, channel=channel) as emitter:
        emitter.emit("to-room", "hi", to="workers")
        emitter.send("plain message")
        emitter.server_side_emit("hello", "from the emitter")
        emitter.disconnect(sid)
    print("emitted", emitter)
    """
)


def test_an_emitter_process_without_a_server_reaches_every_client(cluster: Cluster) -> None:
    pa, pc = cluster.py("a"), cluster.py("c")
    done = subprocess.run(
        [sys.executable, "-c", EMITTER_SCRIPT, cluster.url, cluster.channel, pc.sid],
        capture_output=True, text=True, timeout=30, env=_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "guest:guest" not in done.stdout  # the emitter's repr hides the password
    assert pc.disconnected.wait(10), "the emitter's disconnect"
    wait_until(lambda: len(pa.got("server-hello")) == 3, "every server's server-side event")
    assert pa.got("from-worker") == [({"step": 1},)]
    assert pc.got("from-worker") == [({"step": 1},)]
    assert pc.got("to-one") == [(b"\x01\x02",)]
    assert pa.got("to-one") == []
    assert pc.got("to-room") == [("hi",)]  # the join came first, in order
    assert pa.got("to-room") == []
    assert pc.got("message") == [("plain message",)]
    assert sorted(m[0]["on"] for m in pa.got("server-hello")) == ["a", "b", "c"]


def test_an_unreachable_broker_at_start_is_a_clear_error(tmp_path: Path) -> None:
    from .redis_support import free_port

    url = f"amqp://guest:secret@127.0.0.1:{free_port()}//"
    with pytest.raises(pytest.fail.Exception) as failed:
        ServerProcess("x", url, unique_channel(), tmp_path)
    shown = url.replace("secret", "***")
    assert "cannot reach the message queue at " + shown in str(failed.value)
    assert "secret" not in str(failed.value)


def test_broker_connections_closed_under_a_running_cluster(cluster: Cluster) -> None:
    pa, pb = cluster.py("a"), cluster.py("b")
    pa.call("emit", {"event": "before", "args": [0]})
    wait_until(lambda: pb.got("before"), "the cluster before the outage")
    # Every server of the cluster loses its connection: the broker closes it.
    assert close_connections(cluster.channel) == 3
    # Local clients keep being served: handlers answer, local emits arrive.
    n = 0
    for n in range(1, 6):
        assert pa.call("emit", {"event": "local", "args": [n], "to": pa.sid}) == "sent"
    wait_until(lambda: len(pa.got("local")) == n, "local delivery during the outage")
    n = 0

    def recovered() -> bool:
        nonlocal n
        n += 1
        pa.call("emit", {"event": "after", "args": [n]})
        return bool(pb.got("after")) and bool(cluster.clients[0].got("after"))

    wait_until(recovered, "the cluster after the outage", 30)
    # Requests find the other servers again (the heartbeat said hello again).
    pc = cluster.py("c")
    wait_until(lambda: cluster.everyone(pb, {pa.sid, pb.sid, pc.sid}), "fetch_sockets after", 15)
    for name in "abc":
        output = cluster.servers[name].output()
        assert output.count("unreachable") == 1, output  # one line for the outage
        assert output.count("reachable again") == 1, output
        assert "guest:guest" not in output
