"""A load balancer without stickiness, for the multi-worker tests: every HTTP request on a
new upstream connection.

:class:`SpreadingProxy` listens on a free loopback port and forwards each request it reads
on a fresh connection to the upstream port, asking it to close after the response
(``Connection: close``), so that the clients reconnect for their next request and each
request of a session lands on whichever worker process the kernel gives the new connection
to: the opposite of sticky sessions. Given several upstream ports (separate servers), it
sends the requests to them in turn (round robin). A WebSocket upgrade is forwarded the
same way and then piped both ways, to ``upgrades_to`` when given (a WebSocket upgrade on
another server than its session's polling). It counts the requests it forwarded
(``requests``).
"""

from __future__ import annotations

import socket
import threading

__all__ = ["SpreadingProxy"]

_MAX_HEAD = 256 * 1024


class SpreadingProxy:
    """See the module docstring; use as a context manager."""

    def __init__(
        self, upstream_port: int, *more_ports: int, upgrades_to: int | None = None
    ) -> None:
        self.upstream_ports = (upstream_port, *more_ports)
        self.upgrades_to = upgrades_to
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SpreadingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            buffered = b""
            while True:
                head, buffered = _read_head(client, buffered)
                if head is None:
                    return
                lines = head.split(b"\r\n")
                fields = [line for line in lines[1:] if line]
                names = [line.split(b":", 1)[0].strip().lower() for line in fields]
                upgrade = any(
                    n == b"upgrade" and b"websocket" in f.lower()
                    for n, f in zip(names, fields, strict=True)
                )
                length = 0
                for name, line in zip(names, fields, strict=True):
                    if name == b"content-length":
                        length = int(line.split(b":", 1)[1])
                if not upgrade:
                    fields = [f for n, f in zip(names, fields, strict=True) if n != b"connection"]
                    fields.append(b"Connection: close")
                body, buffered = buffered[:length], buffered[length:]
                while len(body) < length:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                if len(body) > length:
                    body, buffered = body[:length], body[length:] + buffered
                with self._lock:
                    self.requests += 1
                    port = self.upstream_ports[self.requests % len(self.upstream_ports)]
                if upgrade and self.upgrades_to is not None:
                    port = self.upgrades_to
                try:
                    upstream = socket.create_connection(("127.0.0.1", port))
                except OSError:  # that server is down: as a load balancer, 502
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                with upstream:
                    upstream.sendall(b"\r\n".join([lines[0], *fields]) + b"\r\n\r\n" + body)
                    if upgrade:
                        _pipe_both(client, upstream, buffered)
                        return
                    while True:
                        chunk = upstream.recv(65536)
                        if not chunk:
                            break
                        client.sendall(chunk)
                # The response said "Connection: close": the client reconnects.
                return


def _read_head(sock: socket.socket, buffered: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buffered:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None, b""
        if not chunk or len(buffered) > _MAX_HEAD:
            return None, b""
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    return head, rest


def _pipe_both(client: socket.socket, upstream: socket.socket, pending: bytes) -> None:
    if pending:
        upstream.sendall(pending)

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        for each in (source, sink):
            try:
                each.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    other = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    other.start()
    pump(client, upstream)
    other.join(10)
