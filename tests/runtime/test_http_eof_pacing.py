"""HTTP connections whose clients all hang up in one loop turn are closed a teardown
budget's worth per turn (``HttpProtocol.eof_received``), not all in that turn: uvloop calls
each closed connection's ``connection_lost`` in the next turn, and a thousand of those held
up every other client for 20-30 ms (``bench/soak.py --loop-turns``)."""

from __future__ import annotations

from concurrent.futures import Future

from flask_realtime.runtime.engineio.teardown import CLOSE_COST
from flask_realtime.runtime.http.connection import HttpProtocol
from fuzz.wire import FakeTransport, Wire
from support.waiting import wait_until

CLIENTS = 300


def test_idle_connections_ending_at_once_are_closed_over_several_turns() -> None:
    wire = Wire().start()
    try:
        ctx = wire.server._ctx
        assert ctx is not None
        registry = ctx.registry
        before = len(registry)
        closed_in_the_turn: Future[int] = Future()
        transports: list[FakeTransport] = []

        def all_hang_up() -> None:  # on the loop: uvloop's poll hands it every EOF at once
            pairs = []
            for _ in range(CLIENTS):
                protocol = HttpProtocol(ctx)
                transport = FakeTransport(ctx.loop, protocol)
                protocol.connection_made(transport)
                pairs.append((protocol, transport))
            transports.extend(t for _, t in pairs)
            for protocol, transport in pairs:
                if protocol.eof_received() is None:
                    transport.close()  # what uvloop does when eof_received says so
            closed_in_the_turn.set_result(sum(t.closed for t in transports))

        wire.loop.call_soon_threadsafe(all_hang_up)
        closed = closed_in_the_turn.result(10)
        # A budget's worth (2 ms of charged closes, and then some), not all of them.
        assert 0 < closed <= ctx.teardown.budget / CLOSE_COST + 1 < CLIENTS
        # The others are closed in later turns, and every connection is forgotten.
        wait_until(lambda: all(t.closed for t in transports), what="every connection closed")
        wait_until(lambda: len(registry) == before, what="the registry back to its count")
    finally:
        wire.stop()
