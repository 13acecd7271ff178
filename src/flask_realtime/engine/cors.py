"""Origin checks and CORS headers for the Engine.IO endpoint.

Same origin by default (as Flask-SocketIO): a browser page from another origin may not
open a session unless ``cors_allowed_origins`` lets it. The check applies to WebSocket
upgrades too, which browsers never subject to CORS: that is the protection against
cross-site WebSocket hijacking.

``cors_allowed_origins="*"`` answers a literal ``*`` without credentials, as Node's
socket.io does: echoing any origin together with ``Access-Control-Allow-Credentials``
would let every site make requests with the user's cookies. List the origins to allow
credentialed requests from them.

``X-Forwarded-Host`` / ``X-Forwarded-Proto`` count for the same-origin check only with
``trust_forwarded_headers=True`` (behind a proxy that sets them): any client can send them.
"""

from __future__ import annotations

from collections.abc import Mapping

from .options import EngineOptions

__all__ = ["cors_headers", "origin_allowed", "preflight_headers"]


def _same_origins(headers: Mapping[str, str], scheme: str, trust_forwarded: bool) -> set[str]:
    origins = set()
    host = headers.get("host")
    if host:
        origins.add(f"{scheme}://{host}")
    if not trust_forwarded:
        return origins
    # Behind a proxy that sets them: the address the browser actually used.
    fwd_host = headers.get("x-forwarded-host")
    fwd_proto = headers.get("x-forwarded-proto")
    if fwd_host or fwd_proto:
        h = (fwd_host or host or "").split(",")[0].strip()
        p = (fwd_proto or scheme).split(",")[0].strip()
        if h:
            origins.add(f"{p}://{h}")
    return origins


def origin_allowed(options: EngineOptions, headers: Mapping[str, str], scheme: str) -> bool:
    """Whether the request's ``Origin`` (if any) may use this server."""
    origin = headers.get("origin")
    if origin is None:
        return True  # not a cross-origin browser request
    allowed = options.cors_allowed_origins
    if allowed == "*":
        return True
    if allowed is None:
        return origin in _same_origins(headers, scheme, options.trust_forwarded_headers)
    if callable(allowed):
        return bool(allowed(origin))
    if isinstance(allowed, str):
        return origin == allowed
    if len(allowed) == 0:
        return True  # ``[]``: CORS handling disabled (a proxy in front does it)
    return origin in allowed


def cors_headers(options: EngineOptions, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The CORS response headers for an allowed request (empty when there is no Origin)."""
    origin = headers.get("origin")
    allowed = options.cors_allowed_origins
    if origin is None or (
        not isinstance(allowed, str)
        and allowed is not None
        and not callable(allowed)
        and len(allowed) == 0
    ):
        return []
    if allowed == "*":
        return [("Access-Control-Allow-Origin", "*")]
    out = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    if options.cors_credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    return out


def preflight_headers(options: EngineOptions, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Headers answering an ``OPTIONS`` preflight."""
    out = cors_headers(options, headers)
    out.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
    requested = headers.get("access-control-request-headers")
    if requested:
        out.append(("Access-Control-Allow-Headers", requested))
    out.append(("Access-Control-Max-Age", "86400"))
    return out
