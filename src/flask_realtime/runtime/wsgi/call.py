"""Running a WSGI application (PEP 3333) for one request, on a worker thread.

``WsgiCall.run`` builds the environ, calls the application and streams what it returns to
the client through an ``OutputChannel``; the request body comes from an ``InputStream``. The
loop-side half of a WSGI request (feeding the body, writing batches, finishing the exchange)
is ``runtime/http/exchanges.py``.

Response framing: the application's ``Content-Length`` when it gives one; otherwise, for a
one-element list or tuple, its length; otherwise chunked transfer-coding for HTTP/1.1 and
"until the connection closes" for HTTP/1.0. HEAD responses and 1xx/204/304 statuses carry no
body (for HEAD, the iterable is not iterated past its first non-empty piece).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.types import WSGIApplication, WSGIEnvironment

from flask_realtime.engine.http import error_response, reason_phrase
from flask_realtime.exceptions import (
    ConfigurationError,
    DisconnectedError,
    PayloadTooLargeError,
    RealtimeError,
)
from flask_realtime.runtime.http.messages import (
    Request,
    RequestTimeoutError,
    date_header,
    encode_response,
)
from flask_realtime.runtime.wsgi.environ import build_environ
from flask_realtime.runtime.wsgi.input import InputStream
from flask_realtime.runtime.wsgi.output import COMPLETE, OutputChannel

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

__all__ = ["ServerState", "WsgiCall"]

logger = logging.getLogger(__name__)


# PEP 3333: "Applications and middleware are forbidden from using HTTP/1.1 hop-by-hop
# features or headers". ``Connection: close`` is honoured (and not forwarded), as gunicorn
# and waitress do; the others are the application's error.
_HOP_BY_HOP = frozenset(
    {"keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NO_BODY_STATUS = frozenset({204, 304})


class ServerState(Protocol):
    """What a request needs to know of its server (``ServerContext``)."""

    closing: bool
    """A graceful stop is under way: responses close their connection."""


class WsgiCall:
    """One request through a WSGI application, run on a worker thread by ``run``.

    After the channel has delivered its last batch, the loop reads ``status_code``,
    ``body_bytes`` and ``keep_alive`` for its access log and connection handling.
    """

    __slots__ = (
        "_app",
        "_base",
        "_channel",
        "_chunked",
        "_close_requested",
        "_has_date",
        "_head_sent",
        "_headers",
        "_held",
        "_length",
        "_no_body",
        "_remaining",
        "_request",
        "_server",
        "_status",
        "_stream",
        "body_bytes",
        "keep_alive",
        "status_code",
    )

    def __init__(
        self,
        app: WSGIApplication,
        base: WSGIEnvironment,
        request: Request,
        stream: InputStream | io.BytesIO,
        channel: OutputChannel,
        server: ServerState,
    ) -> None:
        self._app = app
        self._server = server
        self._base = base
        self._request = request
        self._stream = stream
        self._channel = channel
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._head_sent = False
        self._length: int | None = None  # the body length the head announces
        self._remaining: int | None = None
        self._chunked = False
        self._no_body = False
        self._has_date = False
        self._close_requested = False
        self._held: list[bytes] | None = None
        self.status_code = 0
        self.body_bytes = 0
        self.keep_alive = request.keep_alive

    # -- the application's side --------------------------------------------------------------

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
        /,
    ) -> Callable[[bytes], object]:
        """PEP 3333 ``start_response``: record the status and headers, return ``write``.

        Raises:
            ConfigurationError: called twice without ``exc_info``, a malformed status or
                header, or a hop-by-hop header.
        """
        if exc_info is not None and exc_info[1] is not None:
            try:
                if self._head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self._status is not None:
            raise ConfigurationError("start_response() called twice without exc_info")
        if not isinstance(status, str) or len(status) < 3 or not status[:3].isdigit():
            raise ConfigurationError(f"invalid WSGI status {status!r}")
        code = int(status[:3])
        if len(status) == 3:
            status = f"{status} {reason_phrase(code)}"
        elif status[3] != " " or "\r" in status or "\n" in status:
            raise ConfigurationError(f"invalid WSGI status {status!r}")
        kept: list[tuple[str, str]] = []
        length: int | None = None
        has_date = close = False
        for name, value in headers:
            lname = name.lower()
            if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
                raise ConfigurationError(f"invalid response header {name!r}: {value!r}")
            if lname == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise ConfigurationError(f"invalid Content-Length {value!r}") from None
                if length < 0:
                    raise ConfigurationError(f"invalid Content-Length {value!r}")
            elif lname == "date":
                has_date = True
            elif lname == "connection":
                close = close or "close" in value.lower()
                continue
            elif lname in _HOP_BY_HOP:
                raise ConfigurationError(f"hop-by-hop header {name!r} is not allowed in WSGI")
            kept.append((name, value))
        self._status = status
        self.status_code = code
        self._headers = kept
        self._length = length
        self._has_date = has_date
        self._close_requested = close
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333 ``write()``: send ``data`` now (head first), waiting for a slow client.

        Raises:
            ConfigurationError: before ``start_response``, or ``data`` is not bytes.
            DisconnectedError: the client went away or stopped reading.
        """
        if self._status is None:
            raise ConfigurationError("the application sent body data before start_response()")
        if type(data) is not bytes:
            if not isinstance(data, bytes):
                raise ConfigurationError(f"WSGI body data must be bytes, not {type(data)}")
            data = bytes(data)
        if not data:
            return
        pieces: list[bytes] = []
        if not self._head_sent:
            pieces.append(self._head())
        if self._no_body:
            pass
        elif self._chunked:
            pieces += (b"%x\r\n" % len(data), data, b"\r\n")
            self.body_bytes += len(data)
        elif self._remaining is not None:
            if len(data) > self._remaining:
                if self._remaining:
                    logger.error(
                        "WSGI app sent more than its Content-Length for %s %s; truncated",
                        *self._target(),
                    )
                data = data[: self._remaining]
            if data:
                self._remaining -= len(data)
                self.body_bytes += len(data)
                pieces.append(data)
            if self._remaining == 0:
                # The body is complete: hold it until the iterable ends, so that the last
                # piece and "finished" reach the loop in one wake-up and one write.
                if pieces:
                    self._held = pieces if self._held is None else self._held + pieces
                return
        else:
            pieces.append(data)
            self.body_bytes += len(data)
        if pieces:
            self._channel.send(pieces)

    # -- the server's side -------------------------------------------------------------------

    def run(self) -> None:
        """Call the application and send its response; never raises."""
        result: Iterable[bytes] | None = None
        if self._channel.closed:
            return  # the client left while the request waited for a thread
        try:
            environ = build_environ(self._base, self._request, self._stream)
            result = self._app(environ, self.start_response)
            self._respond(result)
        except DisconnectedError as exc:
            logger.debug("client gone during %s %s: %s", *self._target(), exc)
            self._channel.abort()
        except BaseException as exc:
            self._fail(exc)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    self._fail(exc)
            error = self._body_error()
            if error is not None:
                # Raised in the app's read, it holds a traceback, whose frames hold the
                # stream that holds it: let go of it, so that no cycle is left.
                error.__traceback__ = None

    def _target(self) -> tuple[str, str]:
        return self._request.method, self._request.path

    def _respond(self, result: Iterable[bytes]) -> None:
        if type(result) in (list, tuple) and self._status is not None and self._length is None:
            items: Any = result
            code = self.status_code
            if len(items) == 1 and code >= 200 and code not in _NO_BODY_STATUS:
                self._add_length(len(items[0]))
        write = self.write
        for data in result:
            if data:
                write(data)
                if self._no_body:
                    break  # HEAD: the head is out, the rest of the body is not needed
        self._finish()

    def _add_length(self, length: int) -> None:
        self._headers.append(("Content-Length", str(length)))
        self._length = length

    def _head(self) -> bytes:
        """Encode the head and decide the body's framing; must come before any body."""
        if self._status is None:
            raise ConfigurationError("the application returned before calling start_response()")
        error = self._body_error()
        if error is not None:
            raise error
        request = self._request
        code = self.status_code
        http10 = request.http_version == "1.0"
        self._no_body = request.method == "HEAD" or code < 200 or code in _NO_BODY_STATUS
        keep_alive = self.keep_alive and not self._close_requested and not self._server.closing
        parts = ["HTTP/1.1 ", self._status, "\r\n"]
        for name, value in self._headers:
            parts += (name, ": ", value, "\r\n")
        if not self._has_date:
            parts.append(date_header())
        if self._length is not None:
            self._remaining = 0 if self._no_body else self._length
        elif self._no_body:
            pass
        elif http10:
            keep_alive = False  # the body ends when the connection does
        else:
            self._chunked = True
            parts.append("Transfer-Encoding: chunked\r\n")
        if not keep_alive:
            if not http10:
                parts.append("Connection: close\r\n")
        elif http10:
            parts.append("Connection: keep-alive\r\n")
        parts.append("\r\n")
        self.keep_alive = keep_alive
        self._head_sent = True
        return "".join(parts).encode("latin-1")

    def _body_error(self) -> RealtimeError | None:
        """The request body's failure (too large, malformed): it answers the request,
        whatever the application made of it (Flask turns it into its own 500)."""
        stream = self._stream
        return stream.error if isinstance(stream, InputStream) else None

    def _finish(self) -> None:
        pieces = self._held or []
        if not self._head_sent:
            if self._status is not None and self._length is None:
                code = self.status_code
                if not (self._request.method == "HEAD" or code < 200 or code in _NO_BODY_STATUS):
                    self._add_length(0)
            pieces.append(self._head())
        if self._chunked:
            pieces.append(b"0\r\n\r\n")
        elif self._remaining:
            logger.error(
                "WSGI app sent %d bytes less than its Content-Length for %s %s",
                self._remaining,
                *self._target(),
            )
            self._channel.send(pieces)
            self._channel.abort()
            return
        self._channel.send(pieces, COMPLETE)

    def _fail(self, exc: BaseException) -> None:
        """Answer an exception: our error response if nothing was sent yet, else abort."""
        if isinstance(exc, RealtimeError) and exc is self._body_error():
            if isinstance(exc, DisconnectedError):
                self._channel.abort()
                return
            if isinstance(exc, PayloadTooLargeError):
                status = 413
            else:
                status = 408 if isinstance(exc, RequestTimeoutError) else 400
            logger.info("request body refused (%d) for %s %s: %s", status, *self._target(), exc)
        else:
            status = 500
            logger.error("error in WSGI application for %s %s", *self._target(), exc_info=exc)
        if self._head_sent:
            self._channel.abort()
            return
        message = {500: "server error", 408: "request timed out"}.get(status)
        self._send_error(status, message or "request body refused")

    def _send_error(self, status: int, message: str) -> None:
        self.status_code = status
        self.keep_alive = False  # the body may be unread or the app in a bad state
        self._head_sent = True
        data = encode_response(
            error_response(status, message),
            keep_alive=False,
            http10=self._request.http_version == "1.0",
            head_only=self._request.method == "HEAD",
        )
        try:
            self._channel.send((data,), COMPLETE)
        except DisconnectedError:
            pass
