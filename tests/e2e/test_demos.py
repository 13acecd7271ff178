"""The demos of ``examples/`` across a server restart and on long-polling only (each test
with a server of its own), and ``demo.create_app()``, what ``make demo`` runs.
"""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect

from .conftest import OpenPage
from .demo_app import create_demo_app, examples_module
from .demo_support import (
    CONNECTED,
    NUMBER,
    join_chat,
    no_errors,
    open_demo,
    serving,
    submit,
)

# -- reconnection and the polling fallback ------------------------------------------------

RECORD_STATUS = """() => {
    window.statuses = [];
    const label = document.getElementById("status");
    new MutationObserver(() => window.statuses.push(label.textContent))
        .observe(label, { childList: true, characterData: true, subtree: true });
}"""


@pytest.mark.e2e
def test_pages_reconnect_by_themselves_after_a_server_restart(open_page: OpenPage) -> None:
    app, socketio = create_demo_app()
    with serving(app, socketio) as server:
        echo = open_demo(open_page, server.url + "/echo/")
        chat = open_demo(open_page, server.url + "/chat/")
        join_chat(chat, "ann", "porch")
        expect(chat.locator("#online li")).to_have_text(["ann"])
        for page in (echo, chat):
            page.evaluate(RECORD_STATUS)

        server.restart()  # a graceful stop, then the same port again

        connected = echo.locator("#log div", has_text="Received #0: Connected")
        expect(connected).to_have_count(2, timeout=15_000)  # the connect handler, again
        for page in (echo, chat):
            expect(page.locator("#status")).to_have_text(CONNECTED)
            statuses = page.evaluate("window.statuses")
            assert "disconnected" in statuses, statuses
            assert statuses[-1] == CONNECTED, statuses
        submit(echo, "emit", emit_data="echo after the restart")
        expect(echo.locator("#log")).to_contain_text(": echo after the restart")
        # The chat page joins its room again by itself on reconnection.
        expect(chat.locator("#online li")).to_have_text(["ann"])
        chat.fill("#text", "back again")
        chat.click("#send button")
        expect(chat.locator("#messages")).to_contain_text("ann back again")
        no_errors(echo, chat)


@pytest.mark.e2e
def test_polling_fallback_when_websocket_is_disabled(open_page: OpenPage) -> None:
    app, socketio = create_demo_app(transports=["polling"])
    with serving(app, socketio) as server:
        page = open_demo(open_page, server.url + "/echo/", status="connected (polling)")
        expect(page.locator("#transport")).to_have_text("polling")
        submit(page, "emit", emit_data="over long-polling")
        expect(page.locator("#log")).to_contain_text(": over long-polling")
        expect(page.locator("#latency")).to_have_text(NUMBER)
        assert page.evaluate("socket.io.engine.transport.name") == "polling"
        assert page.evaluate("socket.io.engine.upgrades") == []
        no_errors(page)


# -- without a browser --------------------------------------------------------------------


def test_demo_create_app_serves_what_the_tests_serve() -> None:
    """``demo.create_app()`` (what ``make demo`` runs) has the routes the tests' app has."""
    demo = examples_module("demo")
    app, _ = demo.create_app()
    ours, _ = create_demo_app()

    def routes(flask_app: Flask) -> list[str]:
        return sorted(str(rule) for rule in flask_app.url_map.iter_rules())

    assert routes(app) == routes(ours)
    client = app.test_client()
    for path in ("/", "/echo/", "/live/", "/chat/", "/static/demo.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()
