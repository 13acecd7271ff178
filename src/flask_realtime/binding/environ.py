"""The WSGI environ of a connection, built from the request that opened its session.

Handlers run with a Flask request context made from it, so that ``request.args``,
``request.headers``, ``request.cookies`` and ``request.remote_addr`` describe the client's
handshake, as Flask-SocketIO users expect. Engine.IO knows nothing of WSGI: it keeps the
handshake (:class:`~flask_realtime.engine.Handshake`), and this module makes the environ
from it when a handler first needs one, once per connection (:func:`connection_environ`),
so a connection whose handlers never run costs no environ.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from ..engine import Handshake
    from ..server import Socket

__all__ = ["build_environ", "connection_environ"]

_ENVIRON_KEY = "flask_realtime.environ"
"""Where a connection keeps its environ (in the server's per-connection ``data``)."""


def connection_environ(socket: Socket) -> dict[str, Any]:
    """The environ of ``socket``'s connection, shared by its namespaces, made on first use."""
    data = socket.client.data
    environ: dict[str, Any] | None = data.get(_ENVIRON_KEY)
    if environ is None:
        environ = data[_ENVIRON_KEY] = build_environ(socket.eio.handshake)
    return environ


def build_environ(request: Handshake) -> dict[str, Any]:
    """The PEP 3333 environ of the handshake ``request`` (with an empty body)."""
    headers = request.headers
    path = request.path
    host = headers.get("host", "localhost")
    server_name, _, server_port = host.rpartition(":") if ":" in host else (host, "", "")
    if not server_port.isdigit():
        server_name, server_port = host, ""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, encoding="latin-1") if "%" in path else path,
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": server_name or "localhost",
        "SERVER_PORT": server_port or ("443" if request.scheme == "https" else "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.remote_addr[0] if request.remote_addr else "",
        "REMOTE_PORT": str(request.remote_addr[1]) if request.remote_addr else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    keys = _KEYS
    for name, value in headers.items():
        key = keys.get(name)
        if key is None:
            key = _key_of(name)
        if key:
            environ[key] = value
    return environ


_KEYS: dict[str, str] = {}
"""Header name -> environ key (empty: not put in the environ), for the names seen so far:
clients send the same dozen names with every handshake."""

_KEYS_KEPT = 256
"""Names kept in :data:`_KEYS`: past this many (a client inventing names), it starts again."""


def _key_of(name: str) -> str:
    """The environ key of header ``name`` (empty: left out), remembered in :data:`_KEYS`."""
    if "_" in name:
        # As the WSGI side does: X_Forwarded_For must not pose as X-Forwarded-For.
        key = ""
    else:
        key = name.upper().replace("-", "_")
        if key not in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
            key = "HTTP_" + key
    if len(_KEYS) >= _KEYS_KEPT:
        _KEYS.clear()
    _KEYS[name] = key
    return key
