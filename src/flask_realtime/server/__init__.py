"""Socket.IO semantics, framework-free: namespaces, sockets, handlers, acks, rooms.

The entry point is :class:`SocketIOServer`; ``docs/internals.md`` ("server/ -> the Flask
facade") is the contract it implements.
"""

from __future__ import annotations

from flask_realtime.server.adapter import Adapter, AdapterHost, BroadcastOptions
from flask_realtime.server.invoker import CallKind, DefaultInvoker, HandlerCall, Invoker
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.server.namespace import Namespace, NamespaceTable
from flask_realtime.server.registry import DynamicMatcher, HandlerRegistry, HandlerSet
from flask_realtime.server.server import SocketIOServer
from flask_realtime.server.socket import Socket, SocketState

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
    "Namespace",
    "NamespaceTable",
    "Socket",
    "SocketIOServer",
    "SocketState",
]
