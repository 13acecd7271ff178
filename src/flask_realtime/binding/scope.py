"""The scope a handler runs in: which client, and the Flask contexts around it.

While a handler runs, :func:`current_scope` returns its :class:`HandlerScope` (a context
variable, so it follows the handler into its worker thread or its asyncio task), and
Flask's app and request contexts are pushed, the request built from the environ of the
client's handshake, as Flask-SocketIO does:

- ``request.sid``, ``request.namespace`` and ``request.event`` (``{"message": event,
  "args": args}``) are set on the request object;
- ``request.args``, ``request.headers``, ``request.cookies`` are the handshake's;
- ``flask.session`` is, with ``manage_session=True``, a per-connection copy of the Flask
  session taken when the connection's first handler runs, kept for the connection's life
  and shared by its namespaces; with ``manage_session=False``, Flask's session as the
  session interface opens it, saved after the handler when it was modified (the way
  server-side sessions are shared between HTTP routes and Socket.IO handlers).

The scope also carries the app's :class:`~flask_realtime.binding.operations.Operations`,
so that ``emit()`` inside a handler goes straight to the server of the handler's app.
"""

from __future__ import annotations

from contextvars import Context, ContextVar, Token, copy_context
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias
from weakref import ReferenceType

from flask import signals
from flask.ctx import AppContext, RequestContext
from flask.globals import _cv_app, _cv_request
from flask.sessions import SessionMixin

from ..exceptions import ContextError
from .socket_context import SocketRequestContext

if TYPE_CHECKING:
    from flask import Flask

    from ..server.socket import Socket
    from .operations import Operations

__all__ = [
    "SESSION_KEY",
    "HandlerScope",
    "ManagedSession",
    "current_scope",
    "enter_context",
    "leave_context",
    "pop_context",
    "push_context",
    "require_scope",
    "scope_now",
]

SESSION_KEY = "flask_realtime.session"
"""Where the connection's managed session lives in its handshake environ."""

_CONTEXT_KEY = "flask_realtime.request_context"
"""Where a socket keeps its request context (in the socket's ``data``)."""

_PREPARED_KEY = "flask_realtime.prepared_context"
"""Where a socket keeps the context its calls run in (see :func:`enter_context`): the
scope and app context current there, and the context. In the socket's ``data``, not on
its request context, which the context holds: no reference cycle."""


class ManagedSession(dict[str, Any], SessionMixin):
    """The per-connection session of ``manage_session=True``: a dict with Flask's session API."""


@dataclass(slots=True)
class HandlerScope:
    """Who a running handler serves, and where its emits go.

    Attributes:
        app: the Flask app whose handler runs.
        ops: the operations on that app's server (``emit``, rooms, ...).
        sid: the Socket.IO socket id of the client.
        namespace: the namespace of the socket.
        eio_sid: the Engine.IO session id (one per connection, shared by namespaces).
        environ: the handshake environ of the connection (shared: never mutate it, except
            under :data:`SESSION_KEY`).
        event: the event being handled ("connect", "disconnect", or the event name).
        socket: a weak reference to the socket it serves (None for an emit's callback):
            where ``emit()`` to the sender writes, without looking the socket up.
        timed_by: the runner's timing hook for which :attr:`times` was found (None: not
            found yet); the one field that changes once the scope is made.
        times: where that hook counts the times of this event's error-free calls: ``def``
            then ``async def`` (see ``HandlerRunner.times_for``, ``binding/runner.py``).

    A scope holds nothing of the socket it serves but that weak reference: the runner
    keeps it in the socket's ``data`` for the socket's next event, and a strong reference
    back would make a cycle that only the cyclic garbage collector frees.
    """

    app: Flask
    ops: Operations
    sid: str
    namespace: str
    eio_sid: str
    environ: dict[str, Any]
    event: str
    socket: ReferenceType[Socket] | None = None
    timed_by: object = field(default=None, compare=False, repr=False)
    times: tuple[Any, Any] | None = field(default=None, compare=False, repr=False)


_current: ContextVar[HandlerScope | None] = ContextVar("flask_realtime_handler", default=None)


scope_now = _current.get
""":func:`current_scope` without its Python frame (the context variable's own ``get``):
for what runs per event, such as ``emit()``."""


def current_scope() -> HandlerScope | None:
    """The scope of the handler running in this thread or task, if any."""
    return _current.get()


def require_scope(function: str, fix: str) -> HandlerScope:
    """The running handler's scope.

    Raises:
        ContextError: no handler is running here; the message names ``function`` and the
            ``fix`` (what to call instead).
    """
    scope = _current.get()
    if scope is None:
        raise ContextError(f"{function} outside a Socket.IO handler: {fix}")
    return scope


Pushed: TypeAlias = tuple[
    "Token[HandlerScope | None]",
    RequestContext,
    "Token[AppContext] | None",
    "Token[RequestContext] | None",
    bool,
    "AppContext | None",
]
"""What :func:`push_context` pushed, for :func:`pop_context` to undo: the scope's token,
the request context, the app and request context tokens when only Flask's context
variables were set (else None: the context was pushed whole), whether to save the
session, and the app context set (to be the socket's idle one again). A tuple: it is made
for every handler call."""


_pushed_signal = signals.appcontext_pushed
_popped_signal = signals.appcontext_popped
_app_teardown_signal = signals.appcontext_tearing_down
_request_teardown_signal = signals.request_tearing_down


def push_context(
    scope: HandlerScope, args: tuple[Any, ...], manage_session: bool, cache: dict[str, Any]
) -> Pushed:
    """Push the Flask app and request contexts for ``scope`` and make it current; undo it
    with :func:`pop_context`, in the same thread or task. ``cache`` is the socket's
    storage (its ``data``), where its request context is kept from call to call.

    With ``manage_session=True``, a socket's context already pushed once (its URL matched,
    its session the connection's) and an app without teardown functions or context
    signal receivers, this only sets Flask's context variables: what Flask's own push and
    pop would do, without the rest. The app context is then the socket's own, made once
    and given a fresh ``g`` per call (each call sees a ``g`` of its own, as with a fresh
    app context; making one costs about 4k instructions, most of them its URL adapter);
    a call that starts while another of the socket's still holds it (an emit's callback
    while the handler that emitted waits) gets a new one.
    """
    # The socket's own context, made once (see _request_context).
    ctx: SocketRequestContext | None = cache.get(_CONTEXT_KEY) if manage_session else None
    if ctx is None:
        ctx = _request_context(scope, manage_session, cache)
    ctx.request.event = {"message": scope.event, "args": args}  # type: ignore[attr-defined]
    scope_token = _current.set(scope)
    app = scope.app
    if manage_session and ctx._matched and _plain(app):
        idle = ctx.idle_apps
        if idle:
            app_ctx = idle.pop()  # in use until pop_context gives it back
            app_ctx.g = app.app_ctx_globals_class()
        else:
            app_ctx = app.app_context()
        app_token = _cv_app.set(app_ctx)
        return (scope_token, ctx, app_token, _cv_request.set(ctx), False, app_ctx)
    try:
        ctx.push()
    except BaseException:
        _current.reset(scope_token)
        raise
    return (scope_token, ctx, None, None, not manage_session, None)


def _plain(app: Flask) -> bool:
    """Whether the app has no teardown functions and no receivers of the context
    signals: Flask's push and pop would then only set and reset the context variables
    (and make a fresh g)."""
    return not (
        app.teardown_appcontext_funcs
        or _pushed_signal.receivers
        or _popped_signal.receivers
        or _app_teardown_signal.receivers
        or _request_teardown_signal.receivers
        or (app.teardown_request_funcs and any(app.teardown_request_funcs.values()))
    )


def enter_context(
    scope: HandlerScope, args: tuple[Any, ...], manage_session: bool, cache: dict[str, Any]
) -> Context | None:
    """The cheapest way into a handler's contexts: a :class:`contextvars.Context` to run
    the call in, where the scope and Flask's app and request contexts are current
    already; None when :func:`push_context` must be used instead. Give the socket's app
    context back with :func:`leave_context` once the call has ended.

    It applies where :func:`push_context` would only set context variables (see there),
    when the socket's app context is not in use by another call, and outside any other
    handler's context. The variables are
    set once per socket and scope, in a context kept in the socket's ``cache``; each call
    runs in a copy of it (a copy costs no more than :func:`contextvars.copy_context`), so
    nothing is set or reset per call (six context variable operations, ~4k instructions)
    and nothing leaks: the copy is dropped when the call ends.
    """
    if not manage_session or _current.get() is not None:
        # Inside another handler's context (the next call of a lane, started by a
        # suspended handler's task as it ends): the context to copy is not the loop's.
        return None
    ctx: SocketRequestContext | None = cache.get(_CONTEXT_KEY)
    if ctx is None or not ctx._matched:
        return None
    app = scope.app
    if (  # not _plain(app), inline: asked for every event
        app.teardown_appcontext_funcs
        or _pushed_signal.receivers
        or _popped_signal.receivers
        or _app_teardown_signal.receivers
        or _request_teardown_signal.receivers
        or (app.teardown_request_funcs and any(app.teardown_request_funcs.values()))
    ):
        return None
    try:
        app_ctx = ctx.idle_apps.pop()
    except IndexError:  # in use by another call (or none made yet)
        return None
    app_ctx.g = app.app_ctx_globals_class()
    ctx.request.event = {"message": scope.event, "args": args}  # type: ignore[attr-defined]
    prepared: tuple[HandlerScope, AppContext, Context] | None = cache.get(_PREPARED_KEY)
    if prepared is None or prepared[0] is not scope or prepared[1] is not app_ctx:
        # Made from the loop's context, as a copy of it per call would be.
        context = copy_context()
        context.run(_make_current, scope, app_ctx, ctx)
        cache[_PREPARED_KEY] = prepared = (scope, app_ctx, context)
    return prepared[2].copy()


def leave_context(cache: dict[str, Any]) -> None:
    """A call that :func:`enter_context` let in has ended: its app context is free again."""
    prepared: tuple[HandlerScope, AppContext, Context] | None = cache.get(_PREPARED_KEY)
    ctx: SocketRequestContext | None = cache.get(_CONTEXT_KEY)
    if prepared is not None and ctx is not None:
        ctx.idle_apps.append(prepared[1])


def _make_current(scope: HandlerScope, app_ctx: AppContext, ctx: RequestContext) -> None:
    _current.set(scope)
    _cv_app.set(app_ctx)
    _cv_request.set(ctx)


def pop_context(pushed: Pushed, exc: BaseException | None) -> None:
    """Pop what :func:`push_context` pushed; the session is saved (``manage_session=False``)
    only when the handler did not raise (``exc`` is None)."""
    scope_token, ctx, app_token, request_token, save, app_ctx = pushed
    try:
        if request_token is not None:
            _cv_request.reset(request_token)
            _cv_app.reset(app_token)  # type: ignore[arg-type]
            if app_ctx is not None and not app_ctx._cv_tokens:  # never pushed by hand
                ctx.idle_apps.append(app_ctx)  # type: ignore[attr-defined]
            return
        try:
            if save and exc is None:
                _save_session(ctx.app, ctx)
        finally:
            ctx.pop(exc)
    finally:
        _current.reset(scope_token)


def _request_context(
    scope: HandlerScope, manage_session: bool, cache: dict[str, Any]
) -> SocketRequestContext:
    """The request context of a handler call: the socket's own, made once, when possible.

    With ``manage_session=True`` the session is the connection's, and the request is the
    handshake's: one context per socket serves every call (Flask pushes a context again
    for ``stream_with_context``; the socket's calls run one at a time, so never twice at
    once), which spares building a request and binding the URL map per event. With
    ``manage_session=False`` each call opens Flask's session afresh (a server-side session
    may have changed meanwhile), so each gets a new context.
    """
    if manage_session:
        cached = cache.get(_CONTEXT_KEY)
        if cached is not None:
            ctx: SocketRequestContext = cached
            return ctx
    app = scope.app
    shared = scope.environ
    # A shallow copy: werkzeug writes into the environ it is given.
    environ = dict(shared)
    request = app.request_class(environ)
    # werkzeug puts the request in its environ (a cycle that only the collector frees);
    # Flask's pop takes it out at the end of a request, but a socket's context is pushed
    # and popped the short way (only Flask's context variables): take it out now.
    environ["werkzeug.request"] = None
    session = None
    if manage_session:
        session = shared.get(SESSION_KEY)
        if session is None:
            # The connection's first handler: copy the Flask session of its handshake.
            interface = app.session_interface
            opened = interface.open_session(app, request) or interface.make_null_session(app)
            session = shared.setdefault(SESSION_KEY, ManagedSession(opened))
    ctx = SocketRequestContext(app, environ, request=request, session=session)
    ctx.idle_apps = []
    request.sid = scope.sid  # type: ignore[attr-defined]
    request.namespace = scope.namespace  # type: ignore[attr-defined]
    # Matched now (Flask's push would do it), so that even the first push of the context
    # can be push_context's short one.
    ctx.match_request()
    if manage_session:
        cache[_CONTEXT_KEY] = ctx
    return ctx


def _save_session(app: Flask, ctx: RequestContext) -> None:
    """Save Flask's own session after a handler, as a view's response would."""
    session = ctx.session
    if session is None:
        return
    if getattr(session, "modified", True):
        app.session_interface.save_session(app, session, app.response_class())
