"""Prometheus metrics scraped over HTTP while python-socketio clients connect, emit and
disconnect: each figure checked by value."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from e2e.live_server import LiveServer
from flask_realtime.binding.metrics import METRICS_KEY
from flask_realtime.exceptions import ConfigurationError
from support.waiting import wait_until

from .observe_support import Client, make_app

pytestmark = pytest.mark.interop


@pytest.fixture
def served() -> Iterator[LiveServer]:
    app, sio = make_app("metrics_app")
    sio.metrics(path="/ops/metrics", max_event_names=3)
    with LiveServer(app, sio) as server:
        yield server


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by name and sorted labels."""
    response = requests.get(url + "/ops/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float | None:  # fmt: skip
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_count_connections_events_bytes_handlers_and_disconnects(
    served: LiveServer,
) -> None:
    url = served.url
    ws = Client(url, transports=["websocket"])
    polling = Client(url, transports=["polling"])
    try:
        assert ws.sio.call("echo", "hi", timeout=5) == "hi"
        assert ws.sio.call("echo", "again", timeout=5) == "again"
        assert ws.sio.call("aecho", {"n": 1}, timeout=5) == {"n": 1}
        assert ws.sio.call("join", "r1", timeout=5) == "r1"
        assert polling.sio.call("echo", "p", timeout=5) == "p"
        polling.sio.emit("boom")  # no ack: the handler raises
        # Past max_event_names=3 (echo, aecho, join), new names are "other".
        polling.sio.emit("no-such-event-1")
        assert polling.sio.call("echo", "last", timeout=5) == "last"

        def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            samples = scrape(url)
            return samples if value(samples, "socketio_handler_errors_total",
                                    kind="event") == 1 else None  # fmt: skip

        s = wait_until(settled, 5, "the failing handler to be counted")
        assert value(s, "socketio_connections", transport="websocket") == 1
        assert value(s, "socketio_connections", transport="polling") == 1
        assert value(s, "socketio_connections_opened_total", transport="websocket") == 1
        assert value(s, "socketio_connections_opened_total", transport="polling") == 1
        assert value(s, "socketio_namespaces") == 1
        assert value(s, "socketio_sockets", namespace="/") == 2
        assert value(s, "socketio_rooms", namespace="/") == 1
        assert value(s, "socketio_sockets_connected_total", namespace="/") == 2
        received = "socketio_events_received_total"
        assert value(s, received, namespace="/", event="echo") == 4
        assert value(s, received, namespace="/", event="aecho") == 1
        assert value(s, received, namespace="/", event="join") == 1
        # "boom" (the fourth name) and the event without a handler count as "other".
        assert value(s, received, namespace="/", event="other") == 2
        assert value(s, "socketio_events_sent_total", namespace="/", event="echo") == 4
        hist = "socketio_handler_seconds_count"
        assert value(s, hist, kind="event", mode="def") == 6  # 4 echo, join, boom
        assert value(s, hist, kind="event", mode="async") == 1
        assert value(s, hist, kind="connect", mode="def") is None  # no connect handler
        # In: 2 CONNECTs and 8 events; out: 2 CONNECT replies, 4 echo events and 6 acks
        # (each counted where the connection sends it).
        assert value(s, "socketio_messages_received_total") == 10
        assert value(s, "socketio_messages_sent_total") == 12
        assert 10 * 2 < value(s, "socketio_received_bytes_total") < 10 * 40
        assert 12 * 5 < value(s, "socketio_sent_bytes_total") < 12 * 40
        assert value(s, "socketio_client_buffered_bytes_max") == 0
        assert value(s, "socketio_worker_queue_depth") == 0
        assert value(s, "socketio_worker_threads") >= 1
        assert value(s, "socketio_volatile_dropped_total") == 0
        assert value(s, "socketio_disconnects_total", reason="client disconnect") is None

        ws.close()
        s = wait_until(lambda: (d := scrape(url)) and value(d, "socketio_connections",
                       transport="websocket") == 0 and d, 5, "the disconnect")  # fmt: skip
        reasons = {dict(labels)["reason"]: n for (name, labels), n in s.items()
                   if name == "socketio_disconnects_total"}  # fmt: skip
        # python-socketio sends CLOSE then closes the WebSocket: which the server reads
        # first decides the reason.
        assert reasons in ({"client disconnect": 1}, {"transport close": 1}), reasons
        assert value(s, "socketio_sockets", namespace="/") == 1
        assert value(s, "socketio_rooms", namespace="/") == 0  # r1 left with its member
    finally:
        ws.close()
        polling.close()


def test_metrics_refuse_a_bad_path() -> None:
    _app, sio = make_app("metrics_bad_path")
    with pytest.raises(ConfigurationError, match="start with '/'"):
        sio.metrics(path="metrics")


def test_an_upgrade_is_counted(served: LiveServer) -> None:
    user = Client(served.url)  # long-polling first, then the upgrade
    try:
        s = wait_until(lambda: (d := scrape(served.url)) and value(
            d, "socketio_transport_upgrades_total") == 1 and d, 5, "the upgrade")  # fmt: skip
        assert value(s, "socketio_connections_opened_total", transport="polling") == 1
        assert value(s, "socketio_connections", transport="websocket") == 1
        assert value(s, "socketio_connections", transport="polling") == 0
    finally:
        user.close()


def test_metrics_see_a_queue_a_backlog_and_a_volatile_drop() -> None:
    app, sio = make_app("metrics_pressure", worker_threads=1)
    sio.metrics(path="/ops/metrics")
    gate = app.config["GATE"]
    with LiveServer(app, sio) as server:
        url = server.url
        busy = Client(url, transports=["websocket"])
        waiting = Client(url, transports=["websocket"])
        try:
            busy.sio.emit("block")  # the only handler thread waits on the gate
            assert app.config["BLOCKED"].wait(5)
            waiting.sio.emit("echo", "queued")  # another client: its job waits in the pool
            wait_until(lambda: value(scrape(url), "socketio_worker_queue_depth") == 1, 5,
                       "one job queued behind the blocked handler")  # fmt: skip
            gate.set()
            wait_until(lambda: waiting.received("echo"), 5, "the queued echo")
            assert value(scrape(url), "socketio_worker_queue_depth") == 0

            # A long-polling client that stops polling: what is sent to it waits.
            http = requests.Session()
            base = url + "/socket.io/?EIO=4&transport=polling"
            eio_sid = json.loads(http.get(base, timeout=5).text[1:])["sid"]
            assert http.post(f"{base}&sid={eio_sid}", data="40", timeout=5).text == "ok"
            reply = http.get(f"{base}&sid={eio_sid}", timeout=5).text
            sid = json.loads(reply[reply.index("40") + 2 :])["sid"]
            with app.app_context():
                sio.emit("fill", "x" * 1000, to=sid)
                sio.emit("ticker", 1, to=sid, volatile=True)  # cannot go now: dropped
            s = wait_until(lambda: (d := scrape(url)) and value(
                d, "socketio_volatile_dropped_total") == 1 and d, 5, "the drop")  # fmt: skip
            assert 1000 < value(s, "socketio_client_buffered_bytes_max") < 1100
            kept = http.get(f"{base}&sid={eio_sid}", timeout=5).text
            assert "x" * 1000 in kept
            assert "ticker" not in kept
            assert value(scrape(url), "socketio_client_buffered_bytes_max") == 0
        finally:
            gate.set()
            busy.close()
            waiting.close()


def test_the_traffic_lengths_are_summed_every_second_and_the_counts_stay_exact(
    served: LiveServer,
) -> None:
    # The engine appends each message's length to a list (engine/traffic.py); a timer
    # sums the lists into the totals every second, so that they stay short.
    # The emits are listed by name the same way (server/observers.py, emit_names), and
    # the handler times (Observer.handler_times).
    metrics = served.app.extensions[METRICS_KEY]
    traffic = metrics.traffic
    user = Client(served.url, transports=["websocket"])
    try:
        for n in range(5):
            assert user.sio.call("aecho", n, timeout=5) == n
        for n in range(3):  # each emits "echo" back, then acks
            assert user.sio.call("echo", n, timeout=5) == n
        # And the handler times, listed by the runner (binding/runner.py, times_for).
        _, aecho = metrics.by_event["/"]["aecho"]
        echo, _ = metrics.by_event["/"]["echo"]
        wait_until(lambda: not traffic.received and not traffic.sent and not metrics.emit_names
                   and not aecho.pending and not echo.pending, 5, "the lists summed")  # fmt: skip
        assert _flat_counts(metrics.sent) == {("/", "echo"): 3}
        assert (sum(aecho.counts), sum(echo.counts)) == (5, 3)  # folded by the timer
        s = scrape(served.url)
        # In: the CONNECT and 8 events; out: the CONNECT's answer, 3 emits and 8 acks.
        assert value(s, "socketio_messages_received_total") == 9
        assert value(s, "socketio_messages_sent_total") == 12
        assert value(s, "socketio_events_sent_total", namespace="/", event="echo") == 3
        # What the client's encoding makes of them, as summed; over 8 events' worth.
        assert value(s, "socketio_received_bytes_total") == traffic.bytes_in > 8 * 10
    finally:
        user.close()


def _flat_counts(counts: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    return {(ns, event): n for ns, events in counts.items() for event, n in events.items()}


def test_a_broadcast_is_counted_once_per_recipient_it_reached(served: LiveServer) -> None:
    """A broadcast's messages are counted once for all recipients (engine/traffic.py): a
    recipient that drops a volatile one is not counted; messages and bytes exact."""
    app, sio = served.app, served.socketio
    metrics = app.extensions[METRICS_KEY]
    traffic = metrics.traffic
    a = Client(served.url, transports=["websocket"])
    b = Client(served.url, transports=["websocket"])
    # A long-polling client that does not poll: what it is sent waits, volatile is dropped.
    http = requests.Session()
    base = served.url + "/socket.io/?EIO=4&transport=polling"
    eio_sid = json.loads(http.get(base, timeout=5).text[1:])["sid"]
    try:
        assert http.post(f"{base}&sid={eio_sid}", data="40", timeout=5).text == "ok"
        assert "40" in http.get(f"{base}&sid={eio_sid}", timeout=5).text  # connected
        wait_until(lambda: value(scrape(served.url), "socketio_sockets", namespace="/") == 3,
                   5, "three sockets")  # fmt: skip
        before = (traffic.messages_out, traffic.bytes_out)
        with app.app_context():
            sio.emit("news", "y" * 100)
            sio.emit("tick", 7, volatile=True)  # the stalled client drops it
        wait_until(lambda: a.received("tick") and b.received("tick"), 5, "the broadcasts")
        news = len("2" + json.dumps(["news", "y" * 100], separators=(",", ":")))
        tick = len('2["tick",7]')
        assert (traffic.messages_out - before[0], traffic.bytes_out - before[1]) == (
            3 + 2, 3 * news + 2 * tick)  # fmt: skip
        s = scrape(served.url)
        assert value(s, "socketio_volatile_dropped_total") == 1
        assert value(s, "socketio_messages_sent_total") == traffic.messages_out
        assert value(s, "socketio_sent_bytes_total") == traffic.bytes_out
        assert value(s, "socketio_events_sent_total", namespace="/", event="news") == 1
        kept = http.get(f"{base}&sid={eio_sid}", timeout=5).text
        assert "y" * 100 in kept
        assert "tick" not in kept
    finally:
        a.close()
        b.close()
