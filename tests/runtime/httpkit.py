"""Raw HTTP/1.1 over real loopback sockets, for the runtime's HTTP tests.

A deliberately small client: it writes whatever bytes a test gives it (pipelined, malformed,
trickled) and parses responses itself (Content-Length, chunked, until-close, HEAD), so a
test sees exactly what the server put on the wire. Every read has a deadline.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 10.0


class PeerClosed(Exception):
    """The server closed the connection before a complete response."""


@dataclass
class RawResponse:
    """One parsed response."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


class RawHttpClient:
    """A plain (or TLS) socket to the server with deadline-bound reads."""

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        self.sock: socket.socket = sock
        self._buf = bytearray()
        self._eof = False

    def __enter__(self) -> RawHttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, *headers: str, body: bytes = b"") -> None:
        """Send one simple HTTP/1.1 request (Host added, Content-Length when a body)."""
        lines = [f"{method} {target} HTTP/1.1", "Host: test", *headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    # -- reading -------------------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Read more bytes into the buffer; False at EOF (or reset)."""
        if self._eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except TimeoutError:
            raise TimeoutError("no data from the server in time") from None
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        while True:
            index = self._buf.find(marker)
            if index >= 0:
                out = bytes(self._buf[: index + len(marker)])
                del self._buf[: index + len(marker)]
                return out
            if not self._fill(deadline):
                raise PeerClosed(f"closed before {marker!r}; got {bytes(self._buf)[:200]!r}")

    def _read_exactly(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            if not self._fill(deadline):
                raise PeerClosed(f"closed after {len(self._buf)} of {n} bytes")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_response(self, *, head: bool = False, timeout: float | None = None) -> RawResponse:
        """Read and parse the next response (``head``: it answers a HEAD request)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        raw_head = self._read_until(b"\r\n\r\n", deadline).decode("latin-1")
        lines = raw_head[:-4].split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        response = RawResponse(int(code), reason, version)
        for line in lines[1:]:
            name, _, value = line.partition(":")
            response.headers.append((name.strip().lower(), value.strip()))
        status = response.status
        if head or status < 200 or status in (204, 304):
            return response
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            response.chunked = True
            body = bytearray()
            while True:
                size_line = self._read_until(b"\r\n", deadline)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n", deadline)  # no trailers from our server
                    break
                body += self._read_exactly(size, deadline)
                if self._read_exactly(2, deadline) != b"\r\n":
                    raise AssertionError("bad chunk framing")
            response.body = bytes(body)
        elif response.header("content-length") is not None:
            response.body = self._read_exactly(
                int(response.header("content-length") or 0), deadline
            )
        else:
            response.body = self.read_until_closed(deadline - time.monotonic())
        return response

    def read_bytes(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly ``n`` raw bytes."""
        return self._read_exactly(n, time.monotonic() + (timeout or self.timeout))

    def read_until_closed(self, timeout: float | None = None) -> bytes:
        """Everything until the server closes the connection."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while self._fill(deadline):
            pass
        out = bytes(self._buf)
        self._buf.clear()
        return out

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Whether the server closes the connection within ``timeout`` (reading and
        discarding whatever it sends first)."""
        try:
            self.read_until_closed(timeout)
        except TimeoutError:
            return False
        return True

    def expect_silence(self, seconds: float) -> None:
        """Assert that the server sends nothing (and does not close) for ``seconds``."""
        try:
            self._fill(time.monotonic() + seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected data or close: {bytes(self._buf)[:200]!r}")
