"""A socket's Flask request context, and the URL work shared between connections.

Every connection's handler runs in a request context made from its handshake, and every
handshake comes to the same path: binding the app's URL map to it (a URL adapter) and
matching it would give the same answer each time. :class:`SocketRequestContext` does
both once per URL and shares the results (``scope.py`` makes and pushes the contexts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias
from weakref import WeakKeyDictionary

from flask.ctx import AppContext, RequestContext
from werkzeug.routing import MapAdapter

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["SocketRequestContext"]

_MATCH_ON = (
    "PATH_INFO",
    "SCRIPT_NAME",
    "REQUEST_METHOD",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
)
"""What of an environ URL matching reads (the rest of the request cannot change its result)."""

_MATCHES_KEPT = 64
"""Match results kept per URL map: handshakes come to one path or a few; past this many
different keys (hosts, say) the table starts again."""

_Match: TypeAlias = tuple[Any, Any, Any]  # url_rule, view_args, routing_exception
_matches: WeakKeyDictionary[Flask, dict[tuple[Any, ...], _Match]] = WeakKeyDictionary()
"""Per app, the URL map in each key: keyed weakly on the map, the entries would never go
(a match's rule holds its map, and a weak key its own value holds stays alive); neither a
map nor its rules hold the app."""

_BIND_ON = (*_MATCH_ON, "HTTP_CONNECTION", "HTTP_UPGRADE")
"""What of an environ binding a URL map reads, the query string aside (see
:class:`_AdapterSource`)."""

_ADAPTER_EFFECTS = frozenset({"host"})
"""What Flask's ``create_url_adapter`` may leave on the request for its adapter to be
shared: ``request.host`` (Flask 3.1 reads it there, to check trusted hosts), which a
request of the same environ computes alike when it is asked for."""

_adapters: WeakKeyDictionary[Flask, dict[tuple[Any, ...], MapAdapter]] = WeakKeyDictionary()
"""Per app, not per URL map: an adapter holds its map, and a weak key its own value holds
would never go."""


class _AdapterSource:
    """Stands in for the app while Flask's ``RequestContext.__init__`` runs, to share URL
    adapters between the handshakes of one URL: Flask binds the app's URL map to each
    request context's environ (``app.create_url_adapter``, about a third of what making
    a socket's context costs), and every connection's handshake comes to the same path
    and host. Anything else ``__init__`` asks of the app goes to the app.

    An adapter is shared between environs that bind alike (:data:`_BIND_ON`, and the
    app's settings that binding reads) and that Flask's binding left nothing on but what
    :data:`_ADAPTER_EFFECTS` allows; never with ``TRUSTED_HOSTS`` set (each request is
    checked). Its query arguments are those of the first handshake: a URL adapter only
    uses them to build the redirect of a match, and a socket's match is shared already
    (:class:`SocketRequestContext`).
    """

    __slots__ = ("_app",)

    def __init__(self, app: Flask) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def create_url_adapter(self, request: Any) -> MapAdapter | None:
        app = self._app
        config = app.config
        if config.get("TRUSTED_HOSTS") is not None:
            return app.create_url_adapter(request)
        url_map = app.url_map
        environ = request.environ
        key = (
            url_map,
            config.get("SERVER_NAME"),
            getattr(app, "subdomain_matching", None),
            url_map.host_matching,
            url_map.default_subdomain,
            *map(environ.get, _BIND_ON),  # no Python frame (a list comprehension is one)
        )
        table = _adapters.get(app)
        if table is None:
            table = _adapters[app] = {}
        adapter = table.get(key)
        if adapter is not None:
            return adapter
        before = dict(request.__dict__)
        adapter = app.create_url_adapter(request)
        after = request.__dict__
        effects = {name for name in after if before.get(name, _AdapterSource) is not after[name]}
        if adapter is not None and effects <= _ADAPTER_EFFECTS:
            if len(table) >= _MATCHES_KEPT:
                table.clear()
            table[key] = adapter
        return adapter


def _rule_count(url_map: Any) -> int | None:
    """How many rules ``url_map`` has (None: this werkzeug does not tell). Counted from
    its rules by endpoint in C: werkzeug's ``Map._rules`` builds a list of every rule, a
    Python comprehension over all of an app's routes, per connection."""
    by_endpoint = getattr(url_map, "_rules_by_endpoint", None)
    if type(by_endpoint) is dict:
        return sum(map(len, by_endpoint.values()))
    rules = getattr(url_map, "_rules", None)
    return None if rules is None else len(rules)


class SocketRequestContext(RequestContext):
    """A request context that matches its URL once, however often it is pushed, and
    reuses the match of an earlier handshake to the same URL.

    A socket's context is pushed for each of its events; the handshake's path (which no
    route serves: ``request.routing_exception`` is Flask's 404, as with Flask-SocketIO)
    does not change, so matching it again would only cost time; and every connection's
    handshake comes to the same path, so the result is kept per URL map (matching costs
    ~20 µs a connection and leaves a reference cycle behind). Flask documents
    :meth:`match_request` as the hook for this.
    """

    _matched = False
    idle_apps: list[AppContext]
    """The socket's app contexts not in use by a call (see push_context): usually one.
    A list, so that taking one (``pop``) is atomic between threads."""

    def __init__(self, app: Flask, environ: dict[str, Any], *, request: Any, session: Any) -> None:
        super().__init__(_AdapterSource(app), environ, request=request, session=session)  # type: ignore[arg-type]
        self.app = app

    def match_request(self) -> None:
        if self._matched:
            return
        self._matched = True
        request = self.request
        url_map = self.app.url_map
        if self.url_adapter is None:
            return  # binding the URL failed (routing_exception says why): Flask does not match
        count = _rule_count(url_map)  # a route added later changes the answer
        if count is None:
            self._match_now()
            return
        environ = request.environ
        key = (url_map, count, *map(environ.get, _MATCH_ON))
        app = self.app
        table = _matches.get(app)
        if table is None:
            table = _matches[app] = {}
        found = table.get(key)
        if found is None:
            self._match_now()
            if len(table) >= _MATCHES_KEPT:
                table.clear()
            view_args = request.view_args  # kept as a copy: a handler may change its own
            kept = None if view_args is None else dict(view_args)
            table[key] = (request.url_rule, kept, request.routing_exception)
            return
        rule, view_args, request.routing_exception = found
        request.url_rule = rule
        request.view_args = None if view_args is None else dict(view_args)

    def _match_now(self) -> None:
        super().match_request()
        error = self.request.routing_exception
        if error is not None:
            # Its traceback (and that of the error it was raised from) holds the frame
            # that holds this context: a cycle that only the cyclic collector would
            # free. Flask only raises it again, if asked.
            error.__traceback__ = None
            error.__context__ = None
