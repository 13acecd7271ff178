"""The admin UI and the metrics across a cluster on a real Redis: each server reports
itself, the admin sees (and disconnects) the sockets of the other server, and the
cluster round trips are counted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from werkzeug.security import generate_password_hash

from binding.observe_support import Client, make_app
from e2e.live_server import LiveServer
from support.waiting import wait_until

from .redis_support import unique_channel

pytestmark = [pytest.mark.redis, pytest.mark.interop]


@pytest.fixture
def cluster(redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    channel = unique_channel()
    servers = []
    for name in ("one", "two"):
        app, sio = make_app(f"cluster_{name}", message_queue=redis_url, channel=channel)
        auth = {"username": "admin", "password": generate_password_hash("pw")}
        sio.instrument(auth=auth, server_id=f"server-{name}", server_stats_interval=0.2)
        sio.metrics()
        servers.append(LiveServer(app, sio).start())
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.close()


def test_each_server_reports_itself_and_the_admin_acts_on_the_other(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    one, two = cluster
    user = Client(two.url, transports=["websocket"])
    try:
        assert user.sio.call("join", "lobby", timeout=5) == "lobby"

        def every_server_peers() -> bool:  # both servers see each other's heartbeats
            client = Client(one.url, namespaces=["/admin"],
                            auth={"username": "admin", "password": "pw"})  # fmt: skip
            try:
                sockets = wait_until(lambda: client.received("all_sockets", "/admin"), 5, "list")
                return any(s["id"] == user.sio.get_sid() for s in sockets[0][0])
            finally:
                client.close()

        wait_until(every_server_peers, 10, "the admin of server one to list server two's user")
        watcher = Client(one.url, namespaces=["/admin"],
                         auth={"username": "admin", "password": "pw"})  # fmt: skip
        try:
            ((sockets,),) = wait_until(lambda: watcher.received("all_sockets", "/admin"), 5,
                                       "all_sockets")  # fmt: skip
            (remote,) = [s for s in sockets if s["id"] == user.sio.get_sid()]
            assert remote["nsp"] == "/"
            assert set(remote["rooms"]) == {remote["id"], "lobby"}

            def both_report() -> set[str]:
                ids = {s["serverId"] for (s,) in watcher.received("server_stats", "/admin")}
                return ids if ids == {"server-one", "server-two"} else set()

            wait_until(both_report, 5, "server_stats from both servers")
            # The UI's disconnect of a socket of the other server.
            sid = user.sio.get_sid()
            watcher.sio.emit("_disconnect", ("/", False, sid), namespace="/admin")
            wait_until(user.disconnected.is_set, 5, "server two's user to be disconnected")
            gone = wait_until(lambda: [e for e in watcher.received("socket_disconnected",
                              "/admin") if e[0] == "/"], 5, "socket_disconnected")  # fmt: skip
            assert gone[0][:2] == ("/", sid)
        finally:
            watcher.close()
        metrics = requests.get(one.url + "/metrics", timeout=5).text
        name = 'socketio_adapter_request_seconds_count{request="fetch_sockets"}'
        (count,) = [line for line in metrics.splitlines() if line.startswith(name)]
        assert float(count.split()[-1]) >= 2  # one per admin connection at least
    finally:
        user.close()
