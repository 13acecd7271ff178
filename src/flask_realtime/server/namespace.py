"""Namespaces: which ones exist, which handlers serve them, and which socket is where.

There are four ways for a namespace to accept clients, tried in this order when a client
sends CONNECT:

1. a *static* namespace: "/" (always), every name given a handler with ``on()`` or
   ``on_namespace()``, and every name listed in the server's ``namespaces`` option;
2. a *dynamic* namespace: a name that matches a pattern given to ``dynamic_namespace()``
   (a compiled regular expression, matched against the whole name, or a function
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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.socketio import RESERVED_EVENTS
from flask_realtime.typing import Handler, NamespaceName, Sid

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket

__all__ = [
    "DynamicMatcher",
    "HandlerSet",
    "Namespace",
    "NamespaceHandlers",
    "NamespaceRegistry",
]

logger = logging.getLogger(__name__)

DynamicMatcher: TypeAlias = re.Pattern[str] | Callable[[str, Any], bool]
"""Decides whether a namespace name that was not registered may be created."""


class NamespaceHandlers(Protocol):
    """A class-based handler object (Flask-SocketIO's ``Namespace``).

    Every method named ``on_<event>`` handles ``<event>`` in ``namespace``; the methods
    are looked up once, when the object is registered.
    """

    namespace: str


class HandlerSet:
    """The handlers of one namespace (shared by a dynamic parent and its children)."""

    __slots__ = ("catch_all", "error", "events")

    def __init__(self) -> None:
        self.events: dict[str, Handler] = {}
        self.catch_all: Handler | None = None
        self.error: Handler | None = None

    def add(self, event: str, handler: Handler) -> None:
        """Register ``handler`` for ``event`` ("*": the catch-all); replaces an earlier one."""
        if event == "*":
            self.catch_all = handler
        else:
            self.events[event] = handler


class Namespace:
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
        return f"<Namespace {self.name} sockets={len(self.sockets)}>"


def _normalise(name: str) -> str:
    return name if name.startswith("/") or name == "*" else "/" + name


class NamespaceRegistry:
    """Every namespace of a server: static, dynamic parents, and the live children."""

    __slots__ = (
        "_accept_any",
        "_dynamic",
        "_namespaces",
        "_static",
        "any_namespace",
        "default_error",
    )

    def __init__(self, accept: list[str] | Literal["*"] | None = None) -> None:
        self.any_namespace = HandlerSet()
        self.default_error: Handler | None = None
        self._static: dict[NamespaceName, HandlerSet] = {}
        self._namespaces: dict[NamespaceName, Namespace] = {}
        self._dynamic: list[tuple[DynamicMatcher, HandlerSet]] = []
        self._accept_any = accept == "*"
        self.handlers("/")
        if accept is not None and accept != "*":
            for name in accept:
                self.handlers(name)

    def handlers(self, namespace: str | DynamicMatcher | None) -> HandlerSet:
        """The handler set to register into: of a name, "*" (every namespace) or a pattern.

        None means "/". A pattern or function that is not yet a dynamic namespace becomes
        one.
        """
        if namespace is None:
            namespace = "/"
        if isinstance(namespace, str):
            name = _normalise(namespace)
            if name == "*":
                return self.any_namespace
            handlers = self._static.get(name)
            if handlers is None:
                handlers = self._static[name] = HandlerSet()
                self._namespaces[name] = Namespace(
                    name, handlers, self.any_namespace, transient=False
                )
            return handlers
        return self.add_dynamic(namespace)

    def add_dynamic(self, matcher: DynamicMatcher) -> HandlerSet:
        """Declare a dynamic parent namespace (idempotent) and return its handler set."""
        if not isinstance(matcher, re.Pattern) and not callable(matcher):
            raise ConfigurationError("a dynamic namespace is a compiled pattern or a function")
        for known, handlers in self._dynamic:
            if known == matcher:
                return handlers
        handlers = HandlerSet()
        self._dynamic.append((matcher, handlers))
        return handlers

    def get(self, name: NamespaceName) -> Namespace | None:
        """The namespace called ``name``, when it exists on this server now."""
        return self._namespaces.get(name)

    def resolve(self, name: NamespaceName, auth: Any) -> Namespace | None:
        """The namespace a client asks to join, created if a parent or "*" allows it."""
        namespace = self._namespaces.get(name)
        if namespace is not None:
            return namespace
        for matcher, handlers in self._dynamic:
            if self._matches(matcher, name, auth):
                return self._create(name, handlers)
        if self._accept_any:
            return self._create(name, HandlerSet())
        return None

    def release(self, namespace: Namespace) -> None:
        """Forget a dynamic child (or a "*" namespace) once it has no socket left."""
        name = namespace.name
        if (
            namespace.transient
            and not namespace.sockets
            and self._namespaces.get(name) is namespace
        ):
            del self._namespaces[name]

    def _create(self, name: NamespaceName, handlers: HandlerSet) -> Namespace:
        namespace = Namespace(name, handlers, self.any_namespace, transient=True)
        self._namespaces[name] = namespace
        return namespace

    @staticmethod
    def _matches(matcher: DynamicMatcher, name: str, auth: Any) -> bool:
        if isinstance(matcher, re.Pattern):
            return matcher.fullmatch(name) is not None
        try:
            return bool(matcher(name, auth))
        except Exception:
            logger.exception("dynamic namespace check %r failed for %r", matcher, name)
            return False

    def register_object(self, obj: NamespaceHandlers) -> None:
        """Register the ``on_<event>`` methods of a class-based handler object."""
        handlers = self.handlers(obj.namespace)
        for attribute in dir(obj):
            if attribute.startswith("on_") and len(attribute) > 3:
                method = getattr(obj, attribute)
                if callable(method):
                    handlers.add(attribute[3:], method)
