"""Socket.IO semantics, framework-free: namespaces, sockets, handlers, acks, rooms.

The entry point is :class:`SocketIOServer`; ``docs/internals.md`` ("server/ -> the Flask
facade") is the contract it implements.
"""

from __future__ import annotations

from flask_realtime.server.adapter import Adapter, AdapterHost, BroadcastOptions
from flask_realtime.server.invoker import CallKind, DefaultInvoker, HandlerCall, Invoker
from flask_realtime.server.live_namespaces import LiveNamespace, NamespaceTable
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.server.registry import DynamicMatcher, HandlerRegistry, HandlerSet
from flask_realtime.server.socket import Socket
from flask_realtime.server.socket_state import SocketState
from flask_realtime.server.socketio_server import SocketIOServer

__all__ = [
    "Adapter",
    "AdapterHost",
    "BroadcastOptions",
    "CallKind",
    "DefaultInvoker",
    "DynamicMatcher",
    "HandlerCall",
    "HandlerRegistry",
    "HandlerSet",
    "InMemoryAdapter",
    "Invoker",
    "LiveNamespace",
    "NamespaceTable",
    "Socket",
    "SocketIOServer",
    "SocketState",
]
