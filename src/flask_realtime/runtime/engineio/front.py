"""What both fronts of the engine share: our HTTP server's endpoint and the ASGI app.

A *front* takes HTTP requests and WebSockets from its server and hands them to the
sans-I/O :class:`~flask_realtime.engine.EngineServer`. :class:`EngineFront` is the part
that does not depend on the server: the URL path, the browser client files, the loop timer
that drives the engine's deadlines, answering a request (parking a long-polling GET until
the session has data, and telling the session when its client leaves first), and binding a
new WebSocket to its session. The conversions into :class:`EngineRequest` live here too,
one per front, over the one header rule (:func:`~flask_realtime.engine.http.merge_headers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any, TypeVar

from ...engine import EngineRequest, EngineResponse, EngineServer, EngineSocket, Transport
from ...engine.http import merge_headers
from ..http.messages import Request
from .client_files import CLIENT_FILES, ClientFiles
from .teardown import Teardown
from .timer import DeadlineTimer

__all__ = ["EngineFront", "from_http", "from_scope"]

_T = TypeVar("_T")

BODY_FRAMING = 64 * 1024
"""A POST carries one payload: a body may hold a full-size message and its framing."""


class EngineFront:
    """The server-neutral half of serving one :class:`EngineServer`.

    Args:
        engine: the Engine.IO server.
        serve_client: also serve our browser client at ``<path>/socket.io.js`` and
            ``<path>/socket.io.esm.js``.
        timer: the driver of the engine's deadlines, when its owner keeps one (one heap
            has one driver); by default the front makes its own.
    """

    def __init__(
        self,
        engine: EngineServer,
        *,
        serve_client: bool = True,
        timer: DeadlineTimer | None = None,
    ) -> None:
        self.engine = engine
        self.serve_client = serve_client
        self.path = engine.options.url_path
        self.max_body_size = engine.options.max_http_buffer_size + BODY_FRAMING
        self.timer = timer if timer is not None else DeadlineTimer(engine.deadlines)
        self.teardown = Teardown()
        """The end of sessions, bounded per loop turn (``teardown.py``): a WebSocket's
        close, a long poll whose client left, a POST that closes or disconnects."""
        self._client_files = ClientFiles()

    def matches(self, path: str) -> bool:
        """Whether a request for raw ``path`` (no query) is the engine's."""
        return path.startswith(self.path) or path == self.path[:-1]

    def now(self) -> float:
        """The loop's clock, the engine's time."""
        return self.timer.now()

    def client_file(
        self, path: str, method: str, if_none_match: str | None
    ) -> EngineResponse | None:
        """The response for a browser client file at ``path``, or ``None`` when ``path``
        is not one (or serving it is off)."""
        name = path[len(self.path) :]
        if name not in CLIENT_FILES or not self.serve_client or method not in ("GET", "HEAD"):
            return None
        status, headers, body = self._client_files.serve(name, method, if_none_match)
        return EngineResponse(status, headers, body)

    async def answer(
        self,
        request: EngineRequest,
        client_gone: Callable[[], Awaitable[None]] | None = None,
    ) -> EngineResponse | None:
        """The engine's answer to one plain HTTP request.

        A long-polling GET with nothing to read is parked until the session has data. If
        the client leaves first (``client_gone()`` completes, or this call is cancelled,
        which is how our server says so), the session learns it (``poll_aborted``) and
        the result is ``None``: nobody is left to answer.
        """
        loop = self.timer.bind()
        if request.method == "POST" and is_leaving(request.body):
            # A client leaving (Engine.IO CLOSE, or a Socket.IO DISCONNECT): its session's
            # end waits for the teardown budget, as a WebSocket's close does, so that
            # thousands leaving at once do not hold up the clients still connected.
            return await self.in_teardown(partial(self._answer_post, request))
        begun = self._begin(request, loop)
        if isinstance(begun, EngineResponse):
            return begun
        result, future = begun
        try:
            if client_gone is None:
                return await future
            gone: asyncio.Future[Any] = asyncio.ensure_future(client_gone())
            waiters: set[asyncio.Future[Any]] = {future, gone}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
            if future.done():
                return future.result()
        except asyncio.CancelledError:
            self.teardown.call(EngineSocket.poll_aborted, result)
            raise
        self.teardown.call(EngineSocket.poll_aborted, result)
        return None

    def answer_at_once(
        self, request: EngineRequest
    ) -> EngineResponse | asyncio.Future[EngineResponse]:
        """What :meth:`answer` answers (without ``client_gone``), with no coroutine when
        the answer is ready at once, as it nearly always is (a handshake, a POST, a GET
        with data waiting): our HTTP server then needs no task for the request.

        Else the future of the answer: for a parked GET, which the caller cancels when
        the client leaves first (the session is then told, as :meth:`answer` tells it);
        for a POST of a client leaving, when the teardown budget did not let it end the
        session at once (it will, even if the future is cancelled meanwhile). Raises
        what the engine raised when it answered at once.
        """
        loop = self.timer.loop or self.timer.bind()  # bound after the first request
        if request.method == "POST" and is_leaving(request.body):
            teardown = self.teardown
            if not teardown.busy:  # the budget lets it end now: no future, no job
                return teardown.now(self._answer_post, request)
            ended = self._teardown_future(partial(self._answer_post, request))
            return ended.result() if ended.done() else ended
        begun = self._begin(request, loop)
        if isinstance(begun, EngineResponse):
            return begun
        session, future = begun
        future.add_done_callback(partial(_abort_if_cancelled, self.teardown, session))
        return future

    def _begin(
        self, request: EngineRequest, loop: asyncio.AbstractEventLoop
    ) -> EngineResponse | tuple[EngineSocket, asyncio.Future[EngineResponse]]:
        """Hand ``request`` to the engine: its answer, or the session where the GET is
        now parked and the future of the answer."""
        future: asyncio.Future[EngineResponse] = loop.create_future()

        def respond(response: EngineResponse) -> None:
            if not future.done():
                future.set_result(response)

        result = self.engine.handle_request(request, loop.time(), respond)
        if not isinstance(result, EngineSocket):
            return result
        return result, future

    def _answer_post(self, request: EngineRequest) -> EngineResponse:
        """Handle a POST now (a POST is answered at once: it never parks)."""
        result = self.engine.handle_request(request, self.timer.now(), _unparked)
        assert isinstance(result, EngineResponse), "a POST is never parked"
        return result

    async def in_teardown(self, job: Callable[[], _T]) -> _T:
        """``job``'s result, once the teardown budget has let it run: at once, unless
        many sessions end in this loop turn (``teardown.py``). It runs even if the caller
        is cancelled meanwhile: a session's end is not to be skipped."""
        return await self._teardown_future(job)

    def _teardown_future(self, job: Callable[[], _T]) -> asyncio.Future[_T]:
        """The future of ``job``'s result, run by the teardown budget (done already when
        the budget let it run at once)."""
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()

        def run() -> None:
            try:
                result = job()
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

        self.teardown.run(run)
        return future

    def attach(
        self, transport: Transport, request: EngineRequest, upgrade_of: EngineSocket | None
    ) -> EngineSocket | None:
        """Bind an accepted WebSocket to its session: a new one, or the probe of
        ``upgrade_of``'s upgrade. ``None`` when that session cannot upgrade now: the
        caller closes the WebSocket (Node accepts and closes it likewise)."""
        now = self.timer.now()
        if upgrade_of is None:
            return self.engine.open_websocket(request, transport, now)
        if upgrade_of.can_upgrade():
            upgrade_of.start_upgrade(transport, now)
            return upgrade_of
        return None


def is_leaving(body: bytes) -> bool:
    """Whether a polling POST's payload starts with a client's goodbye: an Engine.IO
    CLOSE (``1``) or a Socket.IO DISCONNECT (``41``), in v4's framing or v3's
    (``<length>:<packet>``). Only the first packet is looked at: a browser tab that
    closes sends its DISCONNECTs and the CLOSE in a POST of their own."""
    if body[:1].isdigit() and b":" in body[:8]:  # v3: "2:41", "1:1"
        body = body[body.index(b":") + 1 :]
    return body.startswith(b"41") or body[:2] in (b"1", b"1\x1e")


def _abort_if_cancelled(
    teardown: Teardown, session: EngineSocket, future: asyncio.Future[EngineResponse]
) -> None:
    """The done callback of a parked GET's answer: cancelled means its client left."""
    if future.cancelled():
        teardown.run(session.poll_aborted)


def _unparked(response: EngineResponse) -> None:
    """The responder of a POST (a POST is answered at once, never parked)."""


def from_http(request: Request) -> EngineRequest:
    """Our HTTP server's request as the engine's (the only place this is converted)."""
    fields = request.headers
    headers = dict(fields)  # no name repeated (the usual case): the merge is the fields
    if len(headers) != len(fields):
        headers = merge_headers(fields)
    return EngineRequest(
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        headers=headers,
        body=request.body,
        remote_addr=request.remote_addr,
        scheme=request.scheme,
    )


def from_scope(scope: MutableMapping[str, Any], body: bytes = b"") -> EngineRequest:
    """An ASGI ``http`` or ``websocket`` scope as the engine's request."""
    client = scope.get("client")
    scheme = scope.get("scheme", "http")
    fields = [
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in scope.get("headers", ())
    ]
    return EngineRequest(
        method=scope.get("method", "GET"),
        path=scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=merge_headers(fields),
        body=body,
        remote_addr=(client[0], client[1]) if client else None,
        scheme="https" if scheme in ("https", "wss") else "http",
    )
