"""The official Socket.IO admin UI (``@socket.io/admin-ui``, served by our server) in
Chromium: it logs in, shows our sockets and rooms, and its disconnect button disconnects.

The UI's files come from npm (``make admin-ui``); the app here is served by
``socketio.run()`` with ``instrument(serve_ui=True)``, and its clients are
python-socketio's. A screenshot of the dashboard goes to ``test-output/screenshots/``
(the README's ``docs/_static/admin-ui.png`` is a copy of it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from flask import Flask
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from flask_realtime import SocketIO, join_room
from support.waiting import wait_until

from .conftest import OpenPage
from .live_server import LiveServer

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse"
SETTLED = "document.getAnimations().every(a => a.playState !== 'running')"
"""The page's transitions are over (for a screenshot without half-faded cards)."""


@pytest.fixture
def admin_app() -> Iterator[LiveServer]:
    app = Flask("e2e_admin_ui")
    sio = SocketIO(app)

    @sio.on("join")
    def on_join(room: str) -> str:
        join_room(room)
        return room

    sio.instrument(
        auth={"username": "admin", "password": generate_password_hash(PASSWORD)},
        serve_ui=True,
        server_id="e2e-server",
    )
    with LiveServer(app, sio) as server:
        yield server


class Player:
    """A python-socketio client in room ``lobby``; ``gone`` is set on its disconnect."""

    def __init__(self, url: str) -> None:
        self.client = socketio.Client(reconnection=False, handle_sigint=False)
        self.gone = threading.Event()
        self.client.on("disconnect", lambda *reason: self.gone.set())
        self.client.connect(url, transports=["websocket"], wait_timeout=5)
        self.client.call("join", "lobby", timeout=5)
        self.sid: Any = self.client.get_sid()

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def player(admin_app: LiveServer) -> Iterator[Player]:
    one = Player(admin_app.url)
    yield one
    one.close()


def log_in(page: Any, password: str) -> None:
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Connect").click()


def test_admin_ui_logs_in_shows_sockets_and_rooms_and_disconnects(
    open_page: OpenPage, admin_app: LiveServer, player: Player, screenshots: Path
) -> None:
    page = open_page(admin_app.url + "/admin-ui/")
    log_in(page, "wrong password")
    expect(page.get_by_text("Invalid credentials")).to_be_visible()
    log_in(page, PASSWORD)
    status = page.locator("header .v-chip", has_text=re.compile("^connected$", re.IGNORECASE))
    status = status.filter(visible=True)
    expect(status).to_be_visible()
    # The dashboard: our server by its id, our namespaces with their sockets.
    page.goto(admin_app.url + "/admin-ui/#/servers/")
    expect(page.get_by_text("e2e-server")).to_be_visible()
    page.goto(admin_app.url + "/admin-ui/#/")
    expect(page.locator("main").get_by_text("/admin", exact=True)).to_be_visible()
    page.wait_for_function(SETTLED)
    page.screenshot(path=screenshots / "admin-ui.png")

    page.goto(admin_app.url + "/admin-ui/#/rooms/")
    expect(page.locator("main").get_by_text("lobby", exact=True)).to_be_visible()

    page.goto(admin_app.url + "/admin-ui/#/sockets/")
    row = page.locator("tr", has_text=player.sid)
    expect(row).to_be_visible()
    row.locator("button").click()
    wait_until(player.gone.is_set, 5, "the player to be disconnected by the admin UI")
    # The button's click also opens the socket's page (the row's link): it shows the
    # socket as the server reported it, gone.
    expect(page).to_have_url(re.compile(re.escape(player.sid) + "$"))
    status = page.locator("main .v-chip", has_text=re.compile("^disconnected$", re.IGNORECASE))
    expect(status.first).to_be_visible()
    assert not page.errors, page.errors
