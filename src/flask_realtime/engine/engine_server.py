"""The Engine.IO server: sessions by sid, requests routed to them, one deadline heap for all.

Usable on its own (a plain Engine.IO server is an :class:`EngineHandler` plus this), and
the base of the Socket.IO server. Sans-I/O: the runtime hands in requests, transports and
the time; what to answer comes back as :class:`EngineResponse` or through the callbacks
it gave. Every session keeps its timers in the server's :class:`~flask_realtime.deadlines.
Deadlines`, which the runtime drives (or shares with the Socket.IO server).
"""

from __future__ import annotations

import json
import logging
from binascii import b2a_base64
from collections.abc import Callable, Mapping
from os import urandom
from typing import Any

from ..deadlines import Deadlines
from ..exceptions import ProtocolError
from ..protocol import engineio, engineio_v3
from ..protocol.engineio import Packet, PacketType
from .address_limit import AddressCounts, client_address
from .cors import cors_headers, origin_allowed, preflight_headers
from .handshake import Handshake
from .http import EngineError, EngineRequest, EngineResponse, compress, error_response
from .lifecycle import CloseReason
from .options import EngineOptions
from .socket import EngineHandler, EngineObserver, EngineSocket
from .traffic import Traffic
from .transport import PollingTransport, Transport

__all__ = ["SUPPORTED_PROTOCOLS", "EngineServer"]

logger = logging.getLogger(__name__)

SUPPORTED_PROTOCOLS = (3, 4)

PYTHON_CLIENT_POLL_LIMIT = 16
"""python-engineio's client refuses a polling payload of more than 16 packets (its
``Payload.max_decode_packets``) and drops the connection. Sessions opened by Python's HTTP
clients therefore get at most that many packets per response, the rest with the next poll;
browsers and Node clients, which have no such limit, get everything queued at once."""
_PROTOCOL_ARGS = frozenset(str(p) for p in SUPPORTED_PROTOCOLS)  # "3", "4": no int() on input
TEXT_HEADERS = [("Content-Type", "text/plain; charset=UTF-8")]
BINARY_HEADERS = [("Content-Type", "application/octet-stream")]


_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps makes one per call


def new_sid() -> str:
    """A session id: 120 random bits from the OS (as ``secrets.token_urlsafe(15)``), in
    URL-safe base64 (15 bytes: 20 characters, no padding), made in C calls only
    (``token_urlsafe`` is five Python calls; two ids per session)."""
    return b2a_base64(urandom(15), newline=False).translate(_URL_SAFE).decode()


class EngineServer:
    """All Engine.IO sessions of one endpoint.

    Args:
        handler: the layer above (the Socket.IO server, or an application).
        options: the settings.
        deadlines: the heap the sessions' timers go in (heartbeats, ping, upgrade and
            CLOSING timeouts): one shared with the rest of the app's service, or a new
            one. Whoever owns the clock drives it (``runtime/engineio/timer.py``, or a test).
    """

    def __init__(
        self,
        handler: EngineHandler,
        options: EngineOptions | None = None,
        *,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.handler = handler
        self.options = options or EngineOptions()
        self.log_packets = False
        """Log each packet received and message sent (``engineio_logger=True``)."""
        self.observer: EngineObserver | None = None
        """Instrumentation told of upgrades and dropped volatile messages (observe)."""
        self.traffic: Traffic | None = None
        """Where each session counts its messages in and out (observe); None: uncounted."""
        self.sessions: dict[str, EngineSocket] = {}
        cap = self.options.max_connections_per_address
        self._per_address = (
            None if cap is None else AddressCounts(cap, self.options.address_ipv6_prefix)
        )
        self.sid_prefix = ""
        """Put before every new sid: the worker index of ``socketio.run(workers=N)``
        (``"2."``), by which a request that reaches another worker finds its owner."""
        self.deadlines = deadlines if deadlines is not None else Deadlines()

    # -- requests -------------------------------------------------------------------------

    def handle_request(
        self, request: EngineRequest, now: float, respond: Callable[[EngineResponse], None]
    ) -> EngineResponse | EngineSocket:
        """Answer one HTTP (polling) request.

        Returns the response, or the session on which the GET is now parked: ``respond``
        is called with the response later; if the client goes away first, the runtime
        calls :meth:`EngineSocket.poll_aborted`.
        """
        headers = request.headers
        cors: list[tuple[str, str]]
        if "origin" not in headers:  # not a cross-origin browser request: no CORS to do
            cors = []
        elif not origin_allowed(self.options, headers, request.scheme):
            return error_response(EngineError.FORBIDDEN, "Not an accepted origin")
        else:
            cors = cors_headers(self.options, headers)
        if request.method == "OPTIONS":
            return EngineResponse(204, preflight_headers(self.options, headers))
        query = request.query
        problem = self._check_query(query, "polling")
        if problem is not None:
            problem.headers.extend(cors)
            return problem
        sids = query.get("sid")  # request.arg("sid"), inline
        sid = sids[0] if sids else None
        if sid is None:
            if request.method != "GET":
                return error_response(EngineError.BAD_HANDSHAKE_METHOD, headers=cors)
            return self._open_polling(request, now, cors)
        socket = self.sessions.get(sid)
        if socket is None:
            return error_response(EngineError.UNKNOWN_SID, headers=cors)
        if request.method == "GET":
            return self._poll(socket, request, cors, respond)
        if request.method == "POST":
            return self._post(socket, request, now, cors)
        return error_response(EngineError.BAD_REQUEST, "Bad request method", headers=cors)

    def check_websocket(self, request: EngineRequest) -> EngineResponse | EngineSocket | None:
        """Vet a WebSocket upgrade: an error response, the session to upgrade, or ``None``
        for a new session opened directly on WebSocket.

        A session that cannot upgrade now (already upgraded or upgrading) is returned too:
        as Node does, the runtime accepts that WebSocket and closes it at once, so the
        client sees a close rather than an HTTP error.
        """
        if not origin_allowed(self.options, request.headers, request.scheme):
            return error_response(EngineError.FORBIDDEN, "Not an accepted origin")
        problem = self._check_query(request.query, "websocket")
        if problem is not None:
            return problem
        sid = request.arg("sid")
        if sid is None:
            return self._over_capacity(request, [])
        socket = self.sessions.get(sid)
        if socket is None:
            return error_response(EngineError.UNKNOWN_SID)
        return socket

    def open_websocket(
        self, request: EngineRequest, transport: Transport, now: float
    ) -> EngineSocket:
        """Open a session directly on an accepted WebSocket; sends the OPEN packet."""
        protocol = _protocol_of(request)
        socket = self._new_session(request, transport, protocol, now)
        transport.send((Packet(PacketType.OPEN, self._open_data(socket, upgrades=[])),))
        self.handler.on_open(socket)
        return socket

    def _check_query(self, query: dict[str, list[str]], expected: str) -> EngineResponse | None:
        """The refusal of a request whose ``query`` (``EngineRequest.query``) names no
        protocol version we speak, or not the ``expected`` transport; else None."""
        values = query.get("EIO")  # what EngineRequest.arg does, inline: every request
        eio = values[0] if values else None
        if eio not in _PROTOCOL_ARGS:
            sent = "no EIO parameter" if eio is None else f"EIO={eio[:16]}"
            return error_response(
                EngineError.UNSUPPORTED_PROTOCOL_VERSION,
                f"Unsupported protocol version: the client sent {sent}; this server speaks "
                "Engine.IO 4 (Socket.IO JavaScript client 3.x and 4.x, python-socketio 5) "
                "and Engine.IO 3 (Socket.IO JavaScript client 2.x)",
            )
        values = query.get("transport")
        transport = values[0] if values else None
        if transport is None or transport not in self.options.transports:
            return error_response(EngineError.UNKNOWN_TRANSPORT)
        if transport != expected:
            return error_response(EngineError.BAD_REQUEST, "Transport mismatch")
        return None

    # -- polling --------------------------------------------------------------------------

    def _open_polling(
        self, request: EngineRequest, now: float, cors: list[tuple[str, str]]
    ) -> EngineResponse:
        full = self._over_capacity(request, cors)
        if full is not None:
            return full
        protocol = _protocol_of(request)
        transport = PollingTransport(
            protocol,
            b64=request.arg("b64") not in (None, "", "0"),
            max_packets=PYTHON_CLIENT_POLL_LIMIT if _python_client(request) else None,
        )
        socket = self._new_session(request, transport, protocol, now)
        upgrades = ["websocket"] if self._can_offer_upgrade() else []
        open_packet = Packet(PacketType.OPEN, self._open_data(socket, upgrades))
        body = transport.render([open_packet])
        headers = list(cors)
        cookie = self._cookie(socket.sid)
        if cookie:
            headers.append(("Set-Cookie", cookie))
        self.handler.on_open(socket)
        return self._payload_response(request, body, headers)

    def _poll(
        self,
        socket: EngineSocket,
        request: EngineRequest,
        cors: list[tuple[str, str]],
        respond: Callable[[EngineResponse], None],
    ) -> EngineResponse | EngineSocket:
        answered: list[EngineResponse] = []

        def responder(body: str | bytes) -> None:
            response = self._payload_response(request, body, list(cors))
            if parked:
                respond(response)
            else:
                answered.append(response)

        parked = False
        problem = socket.poll(responder)
        if problem is not None:
            return error_response(EngineError.BAD_REQUEST, problem, headers=cors)
        if answered:
            return answered[0]
        parked = True
        return socket

    def _post(
        self, socket: EngineSocket, request: EngineRequest, now: float, cors: list[tuple[str, str]]
    ) -> EngineResponse:
        if socket.transport_name != "polling":
            return error_response(
                EngineError.BAD_REQUEST,
                "Transport mismatch: the session uses websocket",
                headers=cors,
            )
        try:
            packets = self._decode_post(socket, request)
        except ProtocolError as exc:
            logger.info("session %s: bad polling payload: %s", socket.sid, exc)
            socket.close(CloseReason.TRANSPORT_ERROR)
            return error_response(EngineError.BAD_REQUEST, str(exc), headers=cors)
        for packet in packets:
            if socket.closed:
                break
            socket.receive(packet, now)
        return EngineResponse(200, [("Content-Type", "text/html"), *cors], b"ok")

    def _decode_post(self, socket: EngineSocket, request: EngineRequest) -> list[Packet]:
        opts = self.options
        body = request.body
        if len(body) > opts.max_http_buffer_size:
            raise ProtocolError(
                f"payload of {len(body)} bytes is over max_http_buffer_size "
                f"({opts.max_http_buffer_size})"
            )
        if socket.protocol == 4:
            return engineio.decode_payload(body, max_packets=opts.max_payload_packets)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/octet-stream"):
            return engineio_v3.decode_binary_payload(body, max_packets=opts.max_payload_packets)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("polling payload is not valid UTF-8") from None
        return engineio_v3.decode_payload(text, max_packets=opts.max_payload_packets)

    def _payload_response(
        self, request: EngineRequest, body: str | bytes, headers: list[tuple[str, str]]
    ) -> EngineResponse:
        if isinstance(body, str):
            data = body.encode()
            headers.extend(TEXT_HEADERS)
        else:
            data = body
            headers.extend(BINARY_HEADERS)
        opts = self.options
        if opts.http_compression and len(data) >= opts.compression_threshold:
            accept = request.headers.get("accept-encoding")
            packed = compress(data, accept) if accept else None
            if packed is not None:
                data, encoding = packed
                headers.append(("Content-Encoding", encoding))
        return EngineResponse(200, headers, data)

    # -- sessions -------------------------------------------------------------------------

    def _new_session(
        self, request: EngineRequest, transport: Transport, protocol: int, now: float
    ) -> EngineSocket:
        sid = self.sid_prefix + new_sid()
        while sid in self.sessions:  # pragma: no cover - 120 random bits
            sid = self.sid_prefix + new_sid()
        handshake = Handshake(
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            headers=dict(request.headers),
            remote_addr=request.remote_addr,
            scheme=request.scheme,
        )
        socket = EngineSocket(self, sid, protocol, handshake, transport, now)
        self.sessions[sid] = socket
        if self._per_address is not None:
            self._per_address.add(self._address(handshake.headers, handshake.remote_addr))
        return socket

    def _address(self, headers: Mapping[str, str], peer: tuple[str, int] | None) -> str | None:
        return client_address(headers, peer, self.options.trust_forwarded_headers)

    def _over_capacity(
        self, request: EngineRequest, cors: list[tuple[str, str]]
    ) -> EngineResponse | None:
        """The 503 refusing a new session when ``max_connections`` are open (any transport),
        or the 429 when its address has ``max_connections_per_address``."""
        per_address = self._per_address
        if per_address is not None and per_address.full(
            self._address(request.headers, request.remote_addr)
        ):
            return error_response(
                EngineError.BAD_REQUEST, "Too many connections from this address",
                status=429, headers=cors,
            )  # fmt: skip
        if len(self.sessions) < self.options.max_connections:
            return None
        return error_response(
            EngineError.BAD_REQUEST, "Too many connections", status=503, headers=cors
        )

    def _can_offer_upgrade(self) -> bool:
        return self.options.allow_upgrades and "websocket" in self.options.transports

    def _open_data(self, socket: EngineSocket, upgrades: list[str]) -> str:
        opts = self.options
        data: dict[str, Any] = {
            "sid": socket.sid,
            "upgrades": upgrades,
            # Whole milliseconds, as Node sends them (a 0.3 s setting is 300, not 0).
            "pingInterval": round(opts.ping_interval * 1000),
            "pingTimeout": round(opts.ping_timeout * 1000),
        }
        if socket.protocol == 4:
            data["maxPayload"] = opts.max_http_buffer_size
        return _COMPACT_JSON.encode(data)

    def _cookie(self, sid: str) -> str | None:
        cookie = self.options.cookie
        if not cookie:
            return None
        if isinstance(cookie, str):
            cookie = {"name": cookie}
        parts = [f"{cookie.get('name', 'io')}={sid}", f"Path={cookie.get('path', '/')}"]
        if cookie.get("httpOnly", cookie.get("http_only", True)):
            parts.append("HttpOnly")
        same_site = cookie.get("sameSite", cookie.get("same_site", "Lax"))
        if same_site:
            parts.append(f"SameSite={same_site}")
        if cookie.get("secure"):
            parts.append("Secure")
        return "; ".join(parts)

    def forget(self, socket: EngineSocket) -> None:
        """Drop a closed session from the table (it cancelled its own timer)."""
        if self.sessions.get(socket.sid) is socket:
            del self.sessions[socket.sid]
            if self._per_address is not None:
                shake = socket.handshake
                self._per_address.remove(self._address(shake.headers, shake.remote_addr))

    def close_all(self, reason: CloseReason = CloseReason.SERVER_SHUTDOWN) -> None:
        for socket in list(self.sessions.values()):
            socket.close(reason)


def _python_client(request: EngineRequest) -> bool:
    """Whether the request comes from python-engineio (requests, or aiohttp when async)."""
    agent = request.headers.get("user-agent", "")
    return agent.startswith(("python-requests/", "Python/")) or " aiohttp/" in agent


def _protocol_of(request: EngineRequest) -> int:
    return int(request.arg("EIO") or 4)
