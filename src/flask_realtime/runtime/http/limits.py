"""Limits of the HTTP server: every one has a default and a setting.

The defaults protect a server that faces the internet directly; each one says what a client
that goes past it gets, so that an operator can tell the limits apart in a log or a browser.

=====================  ==========  ==============================================================
setting                default     past the limit
=====================  ==========  ==============================================================
max_url_size           8 KiB       414, connection closed
max_header_size        64 KiB      431, connection closed (request line and header fields)
max_header_count       100         431, connection closed
max_body_size          16 MiB      413, connection closed (WSGI requests; the Socket.IO endpoint
                                   has its own ``max_body_size``)
header_timeout         10 s        408, connection closed (slowloris: headers sent too slowly)
request_timeout        300 s       408, connection closed: the whole request (head and body)
                                   must arrive within this time (Node's ``requestTimeout``)
min_body_rate          500 B/s     408, connection closed: while the server reads a request
body_rate_window       10 s        body, each window must bring ``min_body_rate`` x
                                   ``body_rate_window`` bytes (5 000), or end the body;
                                   windows in which the app or a pipelined response held
                                   reading back do not count
keep_alive_timeout     15 s        an idle connection is closed silently
linger_timeout         2 s         after an answer that closes the connection (4xx, 503), the
                                   server half-closes and reads and drops what the client is
                                   still sending for up to this long, so that the client reads
                                   the answer instead of a reset; then the connection is reset
io_timeout             60 s        a worker thread waiting for request body bytes, or for room
                                   in the write buffer, gives up and the connection is closed
max_connections        10 000      503, connection closed (HTTP and upgraded WebSocket alike)
body_buffer_size       256 KiB     reading pauses until the app has read the request body
write_buffer_size      64 KiB      the app's thread waits until the client has read its data
=====================  ==========  ==============================================================

Why these numbers:

- ``max_body_size`` of 16 MiB: WSGI request bodies are streamed to the application through a
  bounded buffer, so the limit is not about memory but about how much a client may push into
  an application (werkzeug spools uploads to temporary files). 16 MiB fits form posts and
  ordinary uploads; raise it (or set ``None`` and rely on Flask's ``MAX_CONTENT_LENGTH``) for
  an app that takes large files.
- ``request_timeout`` of 300 s and ``min_body_rate`` of 500 B/s (Apache's ``mod_reqtimeout``
  default ``MinRate``): a body that trickles in (1 byte every few seconds, or a
  Content-Length that never comes) would otherwise hold its connection, and on the WSGI
  path a worker thread, for as long as the client likes; ``io_timeout`` alone restarts with
  every byte. 500 B/s is below any real link; raise ``request_timeout`` for an app that
  takes large uploads over slow links (16 MiB in 300 s needs 55 KB/s).
- ``keep_alive_timeout`` of 15 s: long enough that a browser's next request (or a Socket.IO
  client's next poll after a pause) reuses its connection, short enough to release sockets of
  clients that went away. Behind a proxy, make it longer than the proxy's own idle timeout.
- ``max_connections``: what the process's file-descriptor limit (``ulimit -n``) leaves after
  a reserve of 64 for files, logs and the listening socket, at most 100 000. Past it, a new
  connection is answered 503 instead of failing in ``accept()``; file descriptors run out
  long before memory does (an idle WebSocket costs a few KiB), so raise ``ulimit -n`` to
  hold more.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

from flask_realtime.exceptions import ConfigurationError

__all__ = ["Limits", "default_max_connections"]

KiB = 1024
MiB = 1024 * KiB

_COUNTS = frozenset({"max_url_size", "max_header_size", "max_header_count", "max_body_size",
                     "max_connections", "body_buffer_size", "write_buffer_size"})  # fmt: skip
"""The limits that are sizes in bytes or counts; the others are seconds (and
``min_body_rate``, bytes a second)."""

_RATE_MAX = 1e12
"""The most ``min_body_rate`` may be (a terabyte a second: no link is faster)."""

_TIME_MAX = float(min(threading.TIMEOUT_MAX, 365 * 24 * 3600))
"""The most a time or rate may be: a year (a thread's wait takes at most
``threading.TIMEOUT_MAX``; ``inf`` and ``nan`` would break the waits and timers that use it)."""


def default_max_connections() -> int:
    """The connections this process can hold: its file-descriptor limit less a reserve."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # no RLIMIT_NOFILE on this platform
        return 10_000
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(64, min(100_000, soft - 64))


@dataclass(frozen=True, slots=True)
class Limits:
    """The HTTP server's limits and timeouts (sizes in bytes, times in seconds).

    Raises:
        ConfigurationError: a size or count is not a positive int, a time not a positive
            number of seconds of at most a year, ``min_body_rate`` not a positive finite
            number (``inf`` and ``nan`` are refused); ``max_body_size`` may be ``None``,
            meaning no limit of the server's own.
    """

    max_url_size: int = 8 * KiB
    max_header_size: int = 64 * KiB
    max_header_count: int = 100
    max_body_size: int | None = 16 * MiB
    header_timeout: float = 10.0
    request_timeout: float = 300.0
    min_body_rate: float = 500.0
    body_rate_window: float = 10.0
    keep_alive_timeout: float = 15.0
    linger_timeout: float = 2.0
    io_timeout: float = 60.0
    max_connections: int = field(default_factory=default_max_connections)
    body_buffer_size: int = 256 * KiB
    write_buffer_size: int = 64 * KiB

    def __post_init__(self) -> None:
        for spec in fields(self):
            name = spec.name
            value = getattr(self, name)
            if value is None and name == "max_body_size":
                continue
            if name in _COUNTS:  # sizes and counts: whole numbers
                if type(value) is not int or value <= 0:
                    raise ConfigurationError(f"Limits.{name} must be a positive int, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"Limits.{name} must be a positive number, not {value!r}")
            elif name == "min_body_rate":  # bytes a second
                if not 0 < value <= _RATE_MAX:  # nan fails too
                    raise ConfigurationError(
                        f"Limits.{name} must be a positive finite number of bytes a second, "
                        f"at most {_RATE_MAX:.0e}, not {value!r}"
                    )
            elif not 0 < value <= _TIME_MAX:  # seconds; nan fails too
                raise ConfigurationError(
                    f"Limits.{name} must be a positive number of seconds, at most a year "
                    f"({_TIME_MAX:.0f}), not {value!r}"
                )

    @property
    def timer_interval(self) -> float:
        """How often the server checks connection deadlines: a quarter of the shortest
        timeout, between 10 ms and 1 s, so a deadline is enforced within 25% of its value."""
        return min(1.0, max(0.01, min(self.header_timeout, self.keep_alive_timeout) / 4))
