"""The PEP 3333 environ of a request.

``base_environ`` holds the keys that are the same for every request of a listening socket
(built once, at start); ``build_environ`` copies it and adds the request's own, on the
worker thread, so the loop spends nothing on it.
"""

from __future__ import annotations

import io
import sys
from urllib.parse import unquote_to_bytes
from wsgiref.types import WSGIEnvironment

from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.wsgi.input import InputStream

__all__ = ["base_environ", "build_environ"]

_ENV_KEYS: dict[str, str] = {}
_ENV_KEYS_MAX = 512  # header names are client input: bound the cache


def base_environ(server_name: str, server_port: int, scheme: str) -> WSGIEnvironment:
    """The environ keys that are the same for every request of one listening socket."""
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # wsgi.input ends where the body ends (werkzeug)
    }


def _env_key(name: str) -> str:
    key = _ENV_KEYS.get(name)
    if key is None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if len(_ENV_KEYS) < _ENV_KEYS_MAX:
            _ENV_KEYS[name] = key
    return key


def build_environ(
    base: WSGIEnvironment, request: Request, body: InputStream | io.BytesIO
) -> WSGIEnvironment:
    """The PEP 3333 environ of ``request``.

    ``PATH_INFO`` is the percent-decoded path as a latin-1 string ("bytes in a str", as
    PEP 3333 says); repeated headers are joined with commas; header names that contain an
    underscore are left out, since ``X_Forwarded_For`` would otherwise pose as
    ``X-Forwarded-For`` (as gunicorn and werkzeug do).
    """
    environ = base.copy()
    path = request.path
    query = request.query_string
    environ["REQUEST_METHOD"] = request.method
    environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1") if "%" in path else path
    environ["QUERY_STRING"] = query
    environ["RAW_URI"] = environ["REQUEST_URI"] = f"{path}?{query}" if query else path
    environ["SERVER_PROTOCOL"] = "HTTP/" + request.http_version
    if request.remote_addr is not None:
        environ["REMOTE_ADDR"] = request.remote_addr[0]
        environ["REMOTE_PORT"] = str(request.remote_addr[1])
    else:
        environ["REMOTE_ADDR"] = ""
    environ["wsgi.input"] = body
    environ["wsgi.errors"] = sys.stderr
    for name, value in request.headers:
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        elif "_" not in name:
            key = _env_key(name)
            old = environ.get(key)
            # RFC 9110 5.3: repeats combine with commas (cookies conventionally with "; ").
            if old is None:
                environ[key] = value
            else:
                environ[key] = f"{old}; {value}" if key == "HTTP_COOKIE" else f"{old},{value}"
    return environ
