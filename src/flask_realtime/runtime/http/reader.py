"""Reading HTTP/1.1 requests from bytes: httptools, plus the limits it does not enforce.

``RequestReader`` turns the bytes of one connection into ``Request`` values and body
chunks, handed to a ``RequestSink`` (the connection). It enforces what llhttp leaves to
us: the request target's length (414), the head's size and field count (431), the HTTP
version (505), ``Host`` exactly once on HTTP/1.1 (400, RFC 9112 section 3.2), transfer
codings we can decode (501), and a body's size once the sink has said what it may be (413).

httptools keeps a header field to itself until the next one starts, so a single endless
field would grow its buffer unseen; every ``feed`` that produces no parser event therefore
counts as "stalled" bytes, bounded by ``max_header_size`` too (this also bounds chunk
extensions and trailers).
"""

from __future__ import annotations

from typing import NoReturn, Protocol

import httptools

from flask_realtime.exceptions import ProtocolError
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.messages import Request

__all__ = ["RequestReader", "RequestSink", "split_target"]

_METHODS = {m.encode(): m for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH")}
_NOTED_HEADERS = frozenset({"content-length", "transfer-encoding", "expect", "upgrade", "host"})


_NAMES: dict[bytes, str] = {}
"""A header name as sent -> its lower-case text, for the names seen so far: clients send
the same names with every request (one dict lookup instead of a decode and a lower)."""

_NAMES_KEPT = 256
"""Names kept in :data:`_NAMES`: past this many (a client inventing names), it starts again."""


def _name_of(name: bytes) -> str:
    """The lower-case text of header ``name``, remembered in :data:`_NAMES`."""
    key = name.decode("latin-1").lower()
    if len(_NAMES) >= _NAMES_KEPT:
        _NAMES.clear()
    _NAMES[name] = key
    return key


class RequestSink(Protocol):
    """Where a ``RequestReader`` delivers what it parsed."""

    def on_request(
        self,
        request: Request,
        *,
        content_length: int,
        chunked: bool,
        expect_continue: bool,
        upgrade: str | None,
    ) -> int | None:
        """A request head is complete; returns the largest body it may have (None: no
        limit), which the reader enforces on the body as it arrives. ``upgrade`` is the
        Upgrade header of a request that httptools treats as an upgrade (whose body it
        does not parse), else None. May call ``RequestReader.refuse``."""
        ...

    def on_body(self, data: bytes) -> None:
        """Body bytes of the current request."""
        ...

    def on_message_complete(self) -> None:
        """The current request's body is complete."""
        ...

    def on_reject(self, status: int, message: str, request: Request | None) -> None:
        """The client broke HTTP or a limit: answer ``status``; nothing more is parsed."""
        ...


def split_target(raw: bytes) -> tuple[str, str]:
    """``(path, query)`` of a request target: origin-form, absolute-form (proxies) or ``*``.

    Raises:
        ProtocolError: anything else.
    """
    target = raw.decode("latin-1")
    if "#" in target:
        target = target.partition("#")[0]
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target == "*":
        return "*", ""
    try:
        url = httptools.parse_url(raw)
    except httptools.HttpParserInvalidURLError:
        raise ProtocolError("invalid request target") from None
    if not url.schema:
        raise ProtocolError("invalid request target")
    return (url.path or b"/").decode("latin-1"), (url.query or b"").decode("latin-1")


class RequestReader:
    """Parses one connection's requests (loop thread only).

    Args:
        sink: receives requests, bodies and rejections.
        limits: the server's limits.
        peer: the client's address, for ``Request.remote_addr``.
        scheme: ``"http"`` or ``"https"``.
    """

    __slots__ = (
        "_body_limit",
        "_body_size",
        "_content_length",
        "_expect",
        "_has_host",
        "_head_size",
        "_headers",
        "_limits",
        "_parser",
        "_peer",
        "_progress",
        "_scheme",
        "_sink",
        "_stalled",
        "_transfer_encoding",
        "_upgrade",
        "_url",
        "begun",
        "in_body",
        "in_head",
        "stopped",
    )

    def __init__(
        self, sink: RequestSink, limits: Limits, peer: tuple[str, int] | None, scheme: str
    ) -> None:
        self._sink = sink
        self._limits = limits
        self._peer = peer
        self._scheme = scheme
        self._parser = httptools.HttpRequestParser(self)
        self._progress = False
        self._stalled = 0
        self._body_limit: int | None = None
        self.in_head = False
        """Between the first byte of a request and the end of its head."""
        self.in_body = False
        """Between the end of a request's head and the end of its body."""
        self.stopped = False
        """A rejection happened: nothing more is parsed."""
        self.begun = False
        """A request began since the sink last cleared this (no callback per request: the
        sink looks after a ``feed``, and only needs to when a request is incomplete)."""
        # The head in progress (reset by ``on_message_begin``, inline: once per request).
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._head_size = 0
        self._body_size = 0
        self._content_length = 0
        self._transfer_encoding: str | None = None
        self._expect = False
        self._upgrade: str | None = None
        self._has_host = False

    def release(self) -> None:
        """The connection is done with this reader: drop the parser, which holds the
        reader's methods (a cycle that only the cyclic garbage collector would free)."""
        del self._parser

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``. After an upgrade request httptools stops: the bytes that follow
        it are returned (the caller takes the connection over, or feeds them back)."""
        self._progress = False
        rest: bytes | None = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            rest = data[exc.args[0] :]
        except httptools.HttpParserError as exc:
            if not self.stopped:
                text = str(exc).strip() or type(exc).__name__
                self.reject(400, f"malformed request: {text[:80]}")
        if self._progress:
            self._stalled = 0
        elif not self.stopped:
            self._stalled += len(data)
            if self._stalled > self._limits.max_header_size:
                self.reject(431, "request header fields too large")
        return rest

    def reject(self, status: int, message: str, request: Request | None = None) -> None:
        """Stop parsing and have the sink answer ``status``."""
        if self.stopped:
            return
        self.stopped = True
        self.in_head = self.in_body = False
        self._sink.on_reject(status, message, request)

    def refuse(self, status: int, message: str, request: Request | None = None) -> NoReturn:
        """``reject`` from inside a parser callback: also stop httptools at once."""
        self.reject(status, message, request)
        raise ProtocolError(message)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._progress = True
        self.in_head = self.begun = True
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._body_size = 0
        self._content_length = 0
        self._transfer_encoding = None
        self._expect = False
        self._upgrade = None
        self._has_host = False

    def on_url(self, url: bytes) -> None:
        self._progress = True
        self._url += url
        if len(self._url) > self._limits.max_url_size:
            self.refuse(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._progress = True
        if not self.in_head:
            return  # a chunked body's trailer: ignored (bounded by the stall count)
        limits = self._limits
        self._head_size += len(name) + len(value) + 4
        if self._head_size > limits.max_header_size:
            self.refuse(431, "request header fields too large")
        if len(self._headers) >= limits.max_header_count:
            self.refuse(431, "too many request header fields")
        key = _NAMES.get(name)
        if key is None:
            key = _name_of(name)
        text = value.decode("latin-1")
        self._headers.append((key, text))
        if key in _NOTED_HEADERS:
            if key == "content-length":
                self._content_length = int(text)  # llhttp checked the digits
            elif key == "transfer-encoding":
                self._transfer_encoding = text
            elif key == "expect":
                self._expect = text.lower() == "100-continue"
            elif key == "upgrade":
                self._upgrade = text
            else:
                if self._has_host:  # which would be the target's authority? (RFC 9112 3.2)
                    self.refuse(400, "more than one Host header")
                self._has_host = True

    def on_headers_complete(self) -> None:
        self._progress = True
        self.in_head = False
        parser = self._parser
        version = parser.get_http_version()
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("ascii")
        if method == "CONNECT":  # a tunnel request (authority-form target): not a web server's
            self.refuse(405, "CONNECT is not supported")
        url = self._url
        if url[:1] == b"/" and b"#" not in url:  # origin-form: split_target's first case
            path, _, query = url.decode("latin-1").partition("?")
        else:
            try:
                path, query = split_target(url)
            except ProtocolError as exc:
                self.refuse(400, str(exc))
        request = Request(
            method,
            path,
            query,
            self._headers,
            b"",
            self._peer,
            self._scheme,
            version,
            parser.should_keep_alive(),
        )
        if version != "1.1" and version != "1.0":  # noqa: PLR1714 - two str compares
            self.refuse(505, "HTTP version not supported", request)
        if not self._has_host and version == "1.1":
            self.refuse(400, "missing Host header", request)
        te = self._transfer_encoding
        if te is not None and te.strip().lower() != "chunked":
            self.refuse(501, "transfer coding not supported", request)
        has_body = te is not None or self._content_length > 0
        upgrade: str | None = None
        if parser.should_upgrade():
            if has_body:
                # httptools does not parse the body of an upgrade request; nor can we.
                self.refuse(400, "upgrade request with a body", request)
            upgrade = self._upgrade or ""
        self.in_body = True
        self._body_limit = self._sink.on_request(
            request,
            content_length=self._content_length,
            chunked=te is not None,
            expect_continue=self._expect and has_body and version == "1.1",
            upgrade=upgrade,
        )

    def on_body(self, body: bytes) -> None:
        self._progress = True
        self._body_size += len(body)
        limit = self._body_limit
        if limit is not None and self._body_size > limit:
            self.refuse(413, "request body too large")
        self._sink.on_body(body)

    def on_message_complete(self) -> None:
        self._progress = True
        self.in_body = False
        self._sink.on_message_complete()

    @property
    def body_size(self) -> int:
        """Body bytes of the current request so far."""
        return self._body_size
