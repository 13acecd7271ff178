"""runtime/http/registry.py: connection deadlines on the registry's deadline heap."""

from __future__ import annotations

import asyncio
import weakref

from flask_realtime.deadlines import Deadline
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.registry import ConnectionDeadline, ConnectionRegistry


class Conn:
    deadline = ConnectionDeadline()

    def __init__(self) -> None:
        self.deadline_entry: Deadline | None = None
        self.timeouts: list[float] = []
        self.fired: asyncio.Future[None] | None = None

    def timed_out(self) -> None:
        self.timeouts.append(self.deadline)
        if self.fired is not None:
            self.fired.set_result(None)

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...


def test_a_deadline_is_kept_only_while_the_registry_tracks_the_connection() -> None:
    loop = asyncio.new_event_loop()
    loop.close()  # never run: only its presence is needed
    registry = ConnectionRegistry(loop, Limits())
    conn = Conn()
    conn.deadline = 5.0  # not tracked yet: nothing to time out
    assert conn.deadline == 0.0
    assert registry.add(conn)
    conn.deadline = 5.0
    assert conn.deadline == 5.0
    conn.deadline = 0.0
    assert conn.deadline == 0.0
    conn.deadline = 7.0
    registry.remove(conn)
    assert conn.deadline == 0.0
    assert conn.deadline_entry is None
    assert isinstance(Conn.deadline, ConnectionDeadline)


async def test_a_due_connection_is_timed_out_once_with_its_deadline_cleared() -> None:
    loop = asyncio.get_running_loop()
    registry = ConnectionRegistry(loop, Limits())
    registry.start()
    try:
        due, idle = Conn(), Conn()
        due.fired = loop.create_future()
        registry.add(due)
        registry.add(idle)
        idle.deadline = loop.time() + 3600
        due.deadline = loop.time() + 3600
        due.deadline = loop.time() + 0.01  # moved earlier: re-armed
        await asyncio.wait_for(due.fired, 5)
        assert due.timeouts == [0.0]
        assert idle.timeouts == []
    finally:
        registry.stop()


async def test_a_removed_connection_is_not_timed_out() -> None:
    loop = asyncio.get_running_loop()
    registry = ConnectionRegistry(loop, Limits())
    registry.start()
    try:
        gone, kept = Conn(), Conn()
        kept.fired = loop.create_future()
        registry.add(gone)
        registry.add(kept)
        gone.deadline = loop.time() + 0.005
        kept.deadline = loop.time() + 0.01
        registry.remove(gone)
        await asyncio.wait_for(kept.fired, 5)
        assert gone.timeouts == []
    finally:
        registry.stop()


def test_a_removed_connection_is_not_held_by_its_deadline_left_in_the_heap() -> None:
    """The heap keeps a cancelled entry until its time; a connection handed over to a
    WebSocket (or closed) must not stay alive with it, its whole object graph with it."""
    loop = asyncio.new_event_loop()
    loop.close()
    registry = ConnectionRegistry(loop, Limits())
    conn = Conn()
    assert registry.add(conn)
    conn.deadline = 3600.0  # an entry in the heap, due in an hour
    gone = weakref.ref(conn)
    registry.remove(conn)
    del conn
    assert gone() is None  # freed by reference counting, no collection needed
