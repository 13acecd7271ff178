"""The live namespaces of one server: which exist now, and which socket is where.

The handlers come from the application's :class:`~flask_realtime.server.registry.
HandlerRegistry`, shared by every server of the application; this module keeps, per
server, the :class:`LiveNamespace` objects that sockets are connected to. There are four ways
for a namespace to accept clients, tried in this order when a client sends CONNECT:

1. a *static* namespace: "/" (always), every name given a handler in the registry, and
   every name listed in the server's ``namespaces`` option;
2. a *dynamic* namespace: a name that matches a pattern declared in the registry (a
   compiled regular expression, matched against the whole name, or a function
   ``(name, auth) -> bool``). The name becomes a *child* namespace that shares the
   handlers of its parent, as Node's parent namespaces do;
3. any name at all when ``namespaces="*"`` (python-socketio's option); such a namespace
   has no handlers of its own, only those registered for ``namespace="*"``;
4. otherwise the client is told ``Invalid namespace``.

Children of 2. and 3. are forgotten when their last socket leaves, so a client that
tries many names cannot grow the server's memory; the next CONNECT to the name runs the
check again.

Handler lookup for an event follows python-socketio: the namespace's own handler, then
its catch-all (``on("*")``, called with the event name first), then the handler for that
event registered for every namespace (``namespace="*"``, called with the namespace name
first), then the catch-all of those. Catch-alls never receive "connect" or "disconnect"
(nor any other name of :data:`~flask_realtime.protocol.socketio.RESERVED_EVENTS`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal

from flask_realtime.protocol.socketio import RESERVED_EVENTS
from flask_realtime.server.registry import DynamicMatcher, HandlerRegistry, HandlerSet, normalise
from flask_realtime.typing import Handler, NamespaceName, Sid

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket, SocketNamespace

__all__ = ["LiveNamespace", "NamespaceTable"]

logger = logging.getLogger(__name__)


class LiveNamespace:
    """A namespace that sockets are connected to (static, or a dynamic child).

    Attributes:
        name: the namespace name.
        handlers: its handlers.
        sockets: the sockets of this server in it, by socket id.
        transient: whether it is forgotten when its last socket leaves.
    """

    __slots__ = ("_any", "_next_ack_id", "handlers", "name", "sockets", "transient")

    def __init__(
        self,
        name: NamespaceName,
        handlers: HandlerSet,
        any_namespace: HandlerSet,
        *,
        transient: bool,
    ) -> None:
        self.name = name
        self.handlers = handlers
        self.sockets: dict[Sid, Socket] = {}
        self.transient = transient
        self._any = any_namespace
        self._next_ack_id = 0

    def next_ack_id(self) -> int:
        """A fresh acknowledgement id, unique in this namespace (as Node numbers them)."""
        ack_id = self._next_ack_id
        self._next_ack_id = ack_id + 1
        return ack_id

    def find_handler(
        self, event: str, args: tuple[Any, ...]
    ) -> tuple[Handler | None, tuple[Any, ...]]:
        """The handler for ``event`` and the arguments it gets (see the module docstring)."""
        own = self.handlers
        handler = own.events.get(event)
        if handler is not None:
            return handler, args
        reserved = event in RESERVED_EVENTS
        if own.catch_all is not None and not reserved:
            return own.catch_all, (event, *args)
        anywhere = self._any
        handler = anywhere.events.get(event)
        if handler is not None:
            return handler, (self.name, *args)
        if anywhere.catch_all is not None and not reserved:
            return anywhere.catch_all, (event, self.name, *args)
        return None, args

    def __repr__(self) -> str:
        return f"<LiveNamespace {self.name} sockets={len(self.sockets)}>"


class NamespaceTable:
    """The live namespaces of one server: static ones, dynamic children, "*"-accepted ones.

    Args:
        registry: the application's handlers.
        accept: the server's ``namespaces`` option: names accepted besides those with
            handlers ("/" always is), or "*" for any name.
    """

    __slots__ = ("_accept_any", "_accepted", "_namespaces", "registry")

    def __init__(
        self, registry: HandlerRegistry, accept: list[str] | Literal["*"] | None = None
    ) -> None:
        self.registry = registry
        self._namespaces: dict[NamespaceName, LiveNamespace] = {}
        self._accept_any = accept == "*"
        names = ["/"] if accept is None or accept == "*" else ["/", *accept]
        self._accepted = frozenset(normalise(name) for name in names)

    def get(self, name: NamespaceName) -> LiveNamespace | None:
        """The namespace called ``name``, when it exists on this server now.

        A static name (accepted, or given handlers in the registry, maybe by another
        thread since) gets its namespace on first use, and keeps it.
        """
        namespace = self._namespaces.get(name)
        if namespace is None:
            registry = self.registry
            if name in self._accepted or registry.declared(name):
                namespace = LiveNamespace(
                    name, registry.handlers_for(name), registry.any_namespace, transient=False
                )
                self._namespaces[name] = namespace
        return namespace

    def resolve(self, name: NamespaceName, auth: Any) -> LiveNamespace | None:
        """The namespace a client asks to join, created if a parent or "*" allows it."""
        namespace = self.get(name)
        if namespace is not None:
            return namespace
        for matcher, handlers in self.registry.dynamic:
            if _matches(matcher, name, auth):
                return self._create(name, handlers)
        if self._accept_any:
            return self._create(name, HandlerSet())
        return None

    def live(self) -> list[LiveNamespace]:
        """The namespaces that exist on this server now (a copy: safe to iterate)."""
        return list(self._namespaces.values())

    def release(self, namespace: SocketNamespace) -> None:
        """Forget a dynamic child (or a "*" namespace) once it has no socket left.

        ``namespace`` is one a socket left, seen as the socket sees it: only a namespace
        of this table, found by its name, is forgotten.
        """
        name = namespace.name
        live = self._namespaces.get(name)
        if live is namespace and live.transient and not live.sockets:
            del self._namespaces[name]

    def _create(self, name: NamespaceName, handlers: HandlerSet) -> LiveNamespace:
        namespace = LiveNamespace(name, handlers, self.registry.any_namespace, transient=True)
        self._namespaces[name] = namespace
        return namespace


def _matches(matcher: DynamicMatcher, name: str, auth: Any) -> bool:
    if isinstance(matcher, re.Pattern):
        return matcher.fullmatch(name) is not None
    try:
        return bool(matcher(name, auth))
    except Exception:
        logger.exception("dynamic namespace check %r failed for %r", matcher, name)
        return False
