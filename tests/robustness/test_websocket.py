"""Hostile WebSocket framing (oversized, unmasked, invalid UTF-8, fragments), and slow
readers: clients that stop reading, or polling, while the server has data for them."""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import struct
import threading
import time
import tracemalloc
import weakref

import pytest

from flask_realtime.engine import EngineSocket
from flask_realtime.runtime.engineio.websocket import MAX_FRAGMENTS
from support.waiting import wait_until

from .conftest import World, log_lines
from .support import (
    MAX_PAYLOAD,
    REAPED,
    TIMEOUT,
    WS_BINARY,
    WS_CLOSE,
    WS_CONT,
    WS_PING,
    WS_TEXT,
    RawPolling,
    RawWebSocket,
    open_socketio,
)

# -- WebSocket: frames -----------------------------------------------------------------------


def test_frame_over_the_size_limit(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL', length=MAX_PAYLOAD + 1)
        assert ws.expect_close() == 1009  # message too big
    w.seen.wait_for("disconnect", sid)
    with RawWebSocket(w.port) as ws:  # an absurd announced length
        ws.recv()
        ws.send_frame(WS_BINARY, b"EVIL", length=2**62)
        assert ws.expect_close() == 1009
    w.check()


def test_unmasked_client_frame(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL"]', mask=False)
        assert ws.expect_close() == 1002  # protocol error
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_invalid_utf8_in_a_text_frame(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL\xff\xfe"]')
        assert ws.expect_close() == 1007  # invalid frame payload data
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_fragmented_message_never_finished(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL', fin=False)
        w.check()  # the others go on meanwhile
        # The attacker answers no ping (a pong would be a frame inside the fragmented
        # message): the heartbeat ends the session.
        start = time.monotonic()
        assert ws.expect_close(REAPED, answer_pings=False) is not None
        assert time.monotonic() - start < REAPED
    assert w.seen.wait_for("disconnect", sid) == "ping timeout"
    w.check()


def test_fragments_adding_up_past_the_limit(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        piece = b"E" * (16 * 1024)
        ws.send_frame(WS_TEXT, b'42["echo","' + piece, fin=False)
        for _ in range(8):  # 128 KiB in all: twice the limit (the server reads it all)
            ws.send_frame(WS_CONT, piece, fin=False)
        assert ws.expect_close() == 1009
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_a_client_still_sending_reads_the_close_code_not_a_reset(w: World) -> None:
    # The server refuses the message at its header and closes while the client is still
    # sending the rest: it must half-close and read on, not close with unread input (the
    # kernel would answer the client's next bytes with a reset, which can destroy the
    # close frame before the client reads it).
    ws, sid = open_socketio(w.port)
    with ws:
        size = 128 * MAX_PAYLOAD  # 8 MiB: more than loopback buffers hold
        ws.send_frame(WS_TEXT, b'42["echo","EVIL', length=size)
        piece = b"E" * (16 * 1024)
        for _ in range(size // len(piece)):  # no BrokenPipeError / ConnectionResetError
            ws.sock.sendall(piece)
        assert ws.expect_close() == 1009
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_a_client_keeping_its_end_open_after_the_close_handshake_leaves_at_once(
    w: World,
) -> None:
    # The server half-closes and drains until the client's end of stream (CLOSE_TIMEOUT at
    # most), but the session ends with the close handshake, not with the TCP connection.
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_CLOSE, b"\x03\xe8")
        assert ws.expect_close() == 1000  # the server's answer; this end stays open
        # At once: not CLOSE_TIMEOUT later, nor when the heartbeat gives up on the session
        # (PING_INTERVAL + PING_TIMEOUT: 3 s here).
        w.seen.wait_for("disconnect", sid, timeout=1.5)
    w.check()


def test_continuation_without_a_start(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_CONT, b'42["echo","EVIL"]')
        assert ws.expect_close() == 1002
    w.seen.wait_for("disconnect", sid)
    w.check()


# -- slow readers ------------------------------------------------------------------------------


def test_client_that_never_reads_is_dropped(w: World) -> None:
    """A WebSocket client joins a busy room and stops reading: the server must let go of it,
    and of what it buffered for it, without slowing the others down."""
    before = w.server.connection_count
    attacker, sid = open_socketio(w.port, rcvbuf=4096)
    with attacker:
        attacker.send('420["join","firehose"]')
        assert attacker.recv() == '430["firehose"]'
        blob = "E" * (64 * 1024)
        count = 480  # 30 MiB: past the 16 MiB a client may leave unread, and kernel buffers
        stop = threading.Event()
        failures: list[BaseException] = []

        def flood() -> None:
            try:
                with w.app.app_context():
                    for _ in range(count):
                        if stop.is_set():
                            return
                        w.socketio.emit("firehose", blob, to="firehose")
            except BaseException as exc:
                failures.append(exc)

        flooder = threading.Thread(target=flood, name="flood", daemon=True)
        deadline = time.monotonic() + 20
        flooder.start()
        try:
            while True:
                w.check()  # (a): prompt echoes and broadcasts while the flood runs
                if not flooder.is_alive() or time.monotonic() > deadline:
                    break
            flooder.join(max(0.0, deadline - time.monotonic()))
        finally:
            stop.set()
        assert not failures, failures
        assert not flooder.is_alive()
        # Dropped by flow control (not by the heartbeat), and the connection released
        # although the client never read: a polite close would wait for it forever.
        assert w.seen.wait_for("disconnect", sid) == "transport error"
        wait_until(
            lambda: w.server.connection_count <= before,
            TIMEOUT,
            "the server to release the connection of a client that does not read "
            "(and the data it buffered for it)",
            interval=0.02,
        )
    assert any("too slowly" in line for line in log_lines(w))
    w.check()


def test_ping_flood_from_a_client_that_never_reads(w: World) -> None:
    """WebSocket pings make the server write pongs; a client that sends them and reads
    nothing must not make it buffer without bound, nor keep the connection once the
    heartbeat has ended the session."""
    before = w.server.connection_count
    attacker, sid = open_socketio(w.port, rcvbuf=4096)
    with attacker:
        ping = bytes([0x80 | WS_PING, 0x80 | 125]) + bytes(4) + b"E" * 125  # zero mask
        burst = ping * 512  # 67 KiB of pings
        sent = 0
        attacker.sock.settimeout(0.5)
        deadline = time.monotonic() + 3
        with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError):
            while time.monotonic() < deadline:
                attacker.sock.sendall(burst)
                sent += len(burst)
        # The server stopped reading once its replies backed up.
        assert sent < 64 * 1024 * 1024, f"the server read {sent} bytes of pings unanswered"
        w.check()
        assert w.seen.wait_for("disconnect", sid, timeout=REAPED) == "ping timeout"
        wait_until(
            lambda: w.server.connection_count <= before,
            TIMEOUT,
            "the server to release the connection after its session ended",
            interval=0.02,
        )
    w.check()


def test_polling_client_that_never_polls_is_dropped(w: World) -> None:
    """The polling twin of :func:`test_client_that_never_reads_is_dropped`: a session that
    joins a busy room and stops polling should be dropped once its queue passes a bound,
    as a WebSocket is, not hold everything until its heartbeat times out."""
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        sid = json.loads(attacker.get().body.decode()[2:])["sid"]
        attacker.post(b'420["join","firehose"]')
        assert b'430["firehose"]' in attacker.get().body
        blob = "E" * (64 * 1024)
        with w.app.app_context():
            for _ in range(480):  # 30 MiB queued for a client that does not ask for it
                w.socketio.emit("firehose", blob, to="firehose")
        w.check()
        reason = w.seen.wait_for("disconnect", sid, timeout=REAPED)
    w.check()
    assert reason == "transport error", f"dropped for {reason!r}, not for its queue"


# -- one client's work per loop turn -----------------------------------------------------------


def test_flood_of_tiny_frames_does_not_freeze_the_others(w: World) -> None:
    """One client sends 1-byte Engine.IO PONG frames as fast as it can: the server parses
    them a bounded slice per loop turn, so the good clients' echoes stay prompt while the
    flood goes on (before, one read of 256 KiB of such frames held the loop for seconds)."""
    ws, sid = open_socketio(w.port)
    with ws:
        burst = (bytes([0x80 | WS_TEXT, 0x80 | 1]) + bytes(4) + b"3") * (1 << 17)  # 896 KiB
        stop = threading.Event()
        sent: list[int] = [0]

        def flood() -> None:
            ws.sock.settimeout(TIMEOUT)
            deadline = time.monotonic() + 30
            with contextlib.suppress(OSError):
                while not stop.is_set() and time.monotonic() < deadline:
                    ws.sock.sendall(burst)
                    sent[0] += 1

        flooder = threading.Thread(target=flood, name="tiny-frames", daemon=True)
        flooder.start()
        try:
            wait_until(lambda: sent[0] >= 4, TIMEOUT, "the flood to get going", interval=0.01)
            for _ in range(3):
                w.check()  # prompt echoes and broadcasts...
                assert flooder.is_alive(), "the flood ended before the checks did"  # ...meanwhile
        finally:
            stop.set()
            flooder.join(TIMEOUT + 1)
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_a_burst_in_one_tick_counts_against_the_buffer_limit_and_is_not_copied(
    w: World,
) -> None:
    """200 x 100 KB emitted in one loop tick to slow readers: what a connection holds for
    the end of the tick counts against ``max_buffered_bytes`` (16 MiB), and the frames,
    built once, are not joined into a 20 MB copy per recipient."""
    attackers = [open_socketio(w.port, rcvbuf=4096) for _ in range(4)]
    try:
        for ws, _ in attackers:
            ws.send('420["join","burst"]')
            assert ws.recv() == '430["burst"]'
        blob = "E" * (100 * 1000)
        done = threading.Event()

        def burst() -> None:  # on the loop: one tick
            try:
                for _ in range(200):
                    w.state.server.emit("burst", blob, to="burst")
            finally:
                done.set()

        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            w.state.bridge.loop.call_soon_threadsafe(burst)
            assert done.wait(TIMEOUT)
            for _, sid in attackers:
                assert w.seen.wait_for("disconnect", sid) == "transport error"
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # The 200 frames themselves are 20 MB, shared; a copy per recipient was 80 MB more.
        assert peak < 45 * 1000 * 1000, f"peak {peak / 1e6:.0f} MB"
    finally:
        for ws, _ in attackers:
            ws.close()
    w.check()


def test_a_message_in_too_many_fragments_is_refused(w: World) -> None:
    """1-byte continuation frames kept one object each (31-48 MB for a 1 MB message):
    a message may come in at most MAX_FRAGMENTS fragments; past them the close is 1008."""
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL', fin=False)
        piece = bytes([WS_CONT, 0x80 | 1]) + bytes(4) + b"E"  # zero mask: as is
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            ws.send_raw(piece * (MAX_FRAGMENTS + 10))
        assert ws.expect_close(answer_pings=False) == 1008  # policy violation
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_a_message_in_many_fragments_under_the_bound_arrives(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'421["echo","', fin=False)
        piece = bytes([WS_CONT, 0x80 | 1]) + bytes(4) + b"f"
        ws.send_raw(piece * (MAX_FRAGMENTS - 2))
        ws.send_frame(WS_CONT, b'"]')
        assert ws.recv() == '431["' + "f" * (MAX_FRAGMENTS - 2) + '"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_frames_cut_anywhere_or_sent_together_arrive_whole_and_in_order(w: World) -> None:
    """The server reads whole data frames itself and hands the rest to ``websockets``:
    frames split at every byte, several in one write, a ping and a binary message among
    them, and sizes around the 7-bit and 16-bit length forms all arrive as sent."""
    ws, sid = open_socketio(w.port)
    with ws:
        key = b"\x11\x22\x33\x44"

        def frame(opcode: int, payload: bytes) -> bytes:
            n = len(payload)
            head = bytes([0x80 | opcode])
            if n < 126:
                head += bytes([0x80 | n])
            elif n < 65536:
                head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
            else:
                head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
            stream = (key * (n // 4 + 1))[:n]
            return head + key + bytes(a ^ b for a, b in zip(payload, stream, strict=True))

        sizes = (0, 100, 120, 200, 60_000)  # the 7-bit and 16-bit length forms
        wire = b"".join(
            frame(WS_TEXT, f'42{i}["echo","{"x" * size}"]'.encode()) for i, size in enumerate(sizes)
        )
        for i in range(0, len(wire), 997):  # cut in pieces that fit no frame boundary
            ws.send_raw(wire[i : i + 997])
        assert [ws.recv() for _ in sizes] == [
            f'43{i}["{"x" * size}"]' for i, size in enumerate(sizes)
        ]
        # The first frames again, cut at every single byte.
        head = b"".join(frame(WS_TEXT, f'42{i}["echo","{"y" * 3}"]'.encode()) for i in range(3))
        for i in range(len(head)):
            ws.send_raw(head[i : i + 1])
        assert [ws.recv() for _ in range(3)] == [f'43{i}["yyy"]' for i in range(3)]
        # Two messages and a ping between them in one write: the ping is answered, the
        # messages arrive in order.
        ws.send_raw(
            frame(WS_TEXT, b'421["echo","a"]')
            + frame(WS_PING, b"hi")
            + frame(WS_TEXT, b'422["echo","b"]')
        )
        replies = []
        while len(replies) < 3:
            opcode, data = ws.read_frame()
            replies.append((opcode, data))
        assert (0xA, b"hi") in replies  # the pong
        assert [d for o, d in replies if o == WS_TEXT] == [b'431["a"]', b'432["b"]']
    w.seen.wait_for("disconnect", sid)
    w.check()


@pytest.mark.parametrize("ending", ["close", "abort"])
def test_a_closed_session_is_freed_by_reference_counting(w: World, ending: str) -> None:
    """Under churn, sessions that only the cyclic collector frees piled up by thousands
    and its full passes stalled the loop: a session that ends leaves no cycle behind."""
    gc.collect()
    gc.disable()
    try:
        before = set(w.state.engine.sessions)
        ws, sid = open_socketio(w.port)
        with ws:
            ws.send('421["echo","x"]')
            assert ws.recv() == '431["x"]'
            (eio_sid,) = set(w.state.engine.sessions) - before
            connection = weakref.ref(w.state.engine.sessions[eio_sid].transport)
            if ending == "close":
                ws.send_frame(WS_CLOSE, b"\x03\xe8")
                assert ws.expect_close() == 1000
            else:  # a reset, not a close
                ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.seen.wait_for("disconnect", sid)
        wait_until(lambda: connection() is None, what="the connection freed")
        # The session (slotted: no weak reference) is gone too, and nothing holds it.
        assert not [o for o in gc.get_objects() if type(o) is EngineSocket and o.sid == eio_sid]
    finally:
        gc.enable()
    w.check()
