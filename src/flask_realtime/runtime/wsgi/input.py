"""``wsgi.input``: the request body, streamed from the event loop to the app's thread.

The loop feeds body bytes as they arrive (``feed``, ``feed_eof``, ``fail``); the application
reads them in its worker thread (``read``, ``readline``, ``readlines``, iteration), waiting
when it is ahead of the client. The buffer between the two is bounded: when it holds
``high_water`` bytes, ``feed`` says so and the connection stops reading from the socket, and
the reader wakes the loop again (``wake``, thread-safe) once it has drained the buffer to a
quarter of that. A large upload therefore never sits in memory whole.

The stream ends (EOF) exactly where the request body ends, for Content-Length and chunked
bodies alike, so the server sets ``wsgi.input_terminated`` (werkzeug then reads chunked
bodies too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from werkzeug.exceptions import ClientDisconnected

from flask_realtime.exceptions import DisconnectedError, RealtimeError

__all__ = ["InputStream", "for_the_app"]

_APP_TYPES: dict[type[RealtimeError], type[RealtimeError]] = {}


def for_the_app(error: RealtimeError) -> RealtimeError:
    """``error`` as the app's ``read`` raises it: the same type and message, and also a
    werkzeug ``ClientDisconnected`` (a 400 ``HTTPException``), so that a Flask app answers a
    body cut short or malformed with 400 instead of logging a traceback of the client's
    mistake, as werkzeug's own server makes it do (``LimitedStream``)."""
    kind = type(error)
    app_kind = _APP_TYPES.get(kind)
    if app_kind is None:
        namespace = {"__module__": kind.__module__, "__str__": BaseException.__str__,
                     "response": None, "__doc__": kind.__doc__}  # fmt: skip
        app_kind = _APP_TYPES[kind] = type(kind.__name__, (kind, ClientDisconnected), namespace)
    copy = app_kind.__new__(app_kind, *error.args)
    copy.__dict__.update(error.__dict__)
    return copy


class InputStream:
    """A blocking, bounded, thread-safe request body stream (PEP 3333 ``wsgi.input``).

    Args:
        lock: the lock shared with the request's output channel (one per request; a
            condition over it is only made when a reader has to wait).
        high_water: ``feed`` reports "full" at this many buffered bytes.
        timeout: how long a read waits for the client without progress before it raises
            ``DisconnectedError``.
        wake: called (from the reader's thread) when a full buffer has drained; must be
            thread-safe (``loop.call_soon_threadsafe(...)``).
        on_first_read: called once, before the first read that finds no data, to answer an
            ``Expect: 100-continue`` (also thread-safe).
    """

    __slots__ = (
        "_buf",
        "_cond",
        "_discarding",
        "_eof",
        "_error",
        "_high",
        "_lock",
        "_low",
        "_notify_drain",
        "_on_first_read",
        "_timeout",
        "_wake",
        "peak",
    )

    def __init__(
        self,
        lock: threading.Lock,
        *,
        high_water: int,
        timeout: float,
        wake: Callable[[], None],
        on_first_read: Callable[[], None] | None = None,
    ) -> None:
        self._lock = lock
        self._cond: threading.Condition | None = None
        self._buf = bytearray()
        self._eof = False
        self._error: RealtimeError | None = None
        self._discarding = False
        self._high = high_water
        self._low = high_water // 4
        self._notify_drain = False
        self._timeout = timeout
        self._wake = wake
        self._on_first_read = on_first_read
        self.peak = 0
        """The most bytes ever buffered at once (observable flow control)."""

    # -- loop side ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """Append body bytes; returns True when the buffer is full (stop reading)."""
        with self._lock:
            if self._discarding or self._error is not None:
                return False
            buf = self._buf
            buf += data
            size = len(buf)
            self.peak = max(self.peak, size)
            self._notify()
            if size >= self._high:
                self._notify_drain = True
                return True
            return False

    @property
    def full(self) -> bool:
        """Whether the buffer is at its high-water mark (read on the loop)."""
        return len(self._buf) >= self._high

    def feed_eof(self) -> None:
        """The body is complete."""
        with self._lock:
            self._eof = True
            self._notify()

    def fail(self, error: RealtimeError) -> None:
        """The body cannot complete (too large, malformed, client gone): reads raise
        ``error`` once the buffered bytes are consumed... or at once, for a disconnect."""
        with self._lock:
            if self._error is None and not self._eof:
                self._error = for_the_app(error)
            self._notify()

    @property
    def error(self) -> RealtimeError | None:
        """Why the body could not complete, if it could not."""
        return self._error

    def discard(self) -> None:
        """The response is finished: drop buffered bytes and ignore any that follow."""
        with self._lock:
            self._discarding = True
            self._buf = bytearray()

    def _notify(self) -> None:
        """Wake the reader, if it waits (the lock is held)."""
        if self._cond is not None:
            self._cond.notify()

    # -- worker side ---------------------------------------------------------------------------

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when ``size`` is negative or None); fewer only
        at the end of the body."""
        return self._read(-1 if size is None else size, newline=False)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, ``b"\\n"`` included, or up to ``size`` bytes of it."""
        return self._read(-1 if size is None else size, newline=True)

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Lines until the end of the body, or until they total ``hint`` bytes or more."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def _read(self, size: int, *, newline: bool) -> bytes:
        if size == 0:
            return b""
        hook = self._on_first_read
        if hook is not None:
            self._on_first_read = None
            with self._lock:
                waiting = not self._buf and not self._eof and self._error is None
            if waiting:
                hook()  # outside the lock: it sends through the output channel
        out = bytearray()
        wake = False
        with self._lock:
            buf = self._buf
            deadline = 0.0
            while True:
                if buf:
                    want = len(buf) if size < 0 else min(size - len(out), len(buf))
                    if newline:
                        end = buf.find(b"\n", 0, want)
                        if end >= 0:
                            want = end + 1
                            size = len(out) + want  # done after this piece
                    if not out and want == len(buf):
                        out = buf  # take the whole buffer without copying it
                        self._buf = buf = bytearray()
                    else:
                        out += buf[:want]
                        del buf[:want]
                    deadline = 0.0
                    if self._notify_drain and len(buf) <= self._low:
                        self._notify_drain = False
                        wake = True
                    if len(out) == size:
                        break
                error = self._error
                if error is not None and (isinstance(error, DisconnectedError) or not buf):
                    raise error.with_traceback(None)
                if self._eof and not buf:
                    break
                if wake:
                    # Let the loop resume reading before we sleep waiting for it.
                    wake = False
                    self._wake()
                now = time.monotonic()
                if not deadline:
                    deadline = now + self._timeout
                elif now >= deadline:
                    self._error = for_the_app(
                        DisconnectedError(
                            f"the client sent no request body for {self._timeout:g} s"
                        )
                    )
                    raise self._error
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition(self._lock)
                cond.wait(deadline - now)
        if wake:
            self._wake()
        return bytes(out)
