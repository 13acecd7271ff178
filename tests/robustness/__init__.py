"""Robustness: hostile input against a served app, while two well-behaved clients watch.

The project rule under test (``docs/internals.md``, "Errors and safety"): bad input gets
a clear error and harms nobody else. One Flask app with ``SocketIO`` (echo, broadcast,
rooms) is served by ``socketio.run()`` on a loopback port for each test module; two
python-socketio clients stay connected throughout, one on WebSocket and one on long-polling.
Each test attacks the server from a third client over raw sockets and then checks, through
:meth:`World.check`, that

(a) the server still serves: both good clients, still on their first session, exchange an
    echo and a broadcast promptly;
(b) nothing the attacker sent reached them, nor any handler (attack data carry ``EVIL``);
(c) the attacker got the protocol's answer where one is due (the test itself asserts it:
    400 with a JSON body, 413, a WebSocket close code, CONNECT_ERROR);
(d) our server logged no ERROR and no traceback for it (the ``flask_realtime`` and
    ``asyncio`` loggers are watched; INFO lines are fine). Only a handler's own failure is
    an ERROR, and the tests that provoke one say so.

A second server of the same app, built as if orjson (an optional extra) were not
installed, runs the tests where the JSON library matters (``either`` fixture).

Timing: the heartbeat is short (1 s interval, 2 s timeout) so that abandoned sessions are
reclaimed within a test; every wait has a deadline. Known weaknesses that are not fixed yet
are strict ``xfail`` tests: they fail, and their reason says why, until the fix lands.

Layout: ``conftest.py`` serves the app and holds the good clients and the checks
(:class:`World`); ``support.py`` has the limits and the raw attackers; the test modules
go by attack surface (``test_http``, ``test_engineio``, ``test_websocket``,
``test_socketio``, ``test_handlers``, ``test_limits``), and ``test_matrix`` holds one
table of malformed inputs of every surface, sent while a good client keeps echoing.
"""
