"""The demo apps of ``examples/`` in Chromium, served by our server, used as a person would.

Most tests share one server with the three demos (``demo_app.py``: what ``make demo``
serves, with a live stream five times faster) and open two or three pages, each in a
browser context of its own, as separate users. A page that must *not* receive something
is checked after a later event that it did receive (a "marker"): the server sent the two
in that order on the page's one connection, so the marker's arrival proves the absence.
Screenshots of the four pages go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from .conftest import OpenPage
from .demo_app import DemoSocketIO, create_demo_app, examples_module
from .live_server import LiveServer

LIVE_INTERVAL = 0.2  # seconds between samples of the live stream (the demo's: 1)
CONNECTED = "connected (websocket)"
NUMBER = re.compile(r"^\d+(\.\d)?$")


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """The base URL of a server with the demos, for this module's tests."""
    app, socketio = create_demo_app(live_interval=LIVE_INTERVAL)
    with serving(app, socketio) as server:
        yield server.url


@contextlib.contextmanager
def serving(app: Flask, socketio: DemoSocketIO) -> Iterator[LiveServer]:
    """Serve a demo app; afterwards end its background tasks first, then the server."""
    server = LiveServer(app, socketio).start()
    try:
        yield server
    finally:
        try:
            # The live producer emits until told to stop: were the server stopped first,
            # its emits would start the embedded loop (a thread for the process's life).
            socketio.stop_tasks()
        finally:
            server.close()


def open_demo(open_page: OpenPage, url: str, status: str = CONNECTED) -> Any:
    """A demo page at ``url``, once its status line says ``status``."""
    page = open_page(url)
    expect(page.locator("#status")).to_have_text(status)
    return page


def submit(page: Any, form: str, **fields: str) -> None:
    """Fill the inputs of ``#<form>`` (by id) and press its button."""
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    page.click(f"#{form} button")


def in_rooms(room: str) -> re.Pattern[str]:
    """The demo's answer to join/leave when ``room`` is among the page's rooms."""
    return re.compile(rf"^Received #\d+: In rooms: (?:\S+, )*{re.escape(room)}(?:, \S+)*$")


def newest(page: Any) -> Any:
    """The newest line of the echo page's log (lines are prepended)."""
    return page.locator("#log div").first


def log_text(page: Any) -> str:
    return str(page.locator("#log").inner_text())


def marker(text: str, sender: Any, *pages: Any) -> None:
    """Broadcast ``text`` from ``sender`` and wait until every page, sender included, has it."""
    submit(sender, "broadcast", broadcast_data=text)
    for page in (sender, *pages):
        expect(page.locator("#log")).to_contain_text(f": {text}")


def no_errors(*pages: Any) -> None:
    for page in pages:
        assert page.errors == [], f"JavaScript errors in {page.url}: {page.errors}"


# -- the landing page -------------------------------------------------------------------


@pytest.mark.e2e
def test_landing_page_links_every_demo(
    open_page: OpenPage, demo_url: str, screenshots: Path
) -> None:
    page = open_demo(open_page, demo_url + "/")
    expect(page.locator("h1")).to_have_text("flask-realtime demos")
    links = {
        card: page.locator(f"#demo-{card}").get_attribute("href")
        for card in ("echo", "live", "chat")
    }
    assert links == {"echo": "/echo/", "live": "/live/", "chat": "/chat/"}
    expect(page.locator("#dot")).to_have_class(re.compile(r"\bon\b"))
    page.screenshot(path=screenshots / "landing.png", full_page=True)
    page.click("#demo-chat")
    expect(page).to_have_url(demo_url + "/chat/")
    expect(page.locator("#status")).to_have_text(CONNECTED)
    no_errors(page)


# -- echo, broadcast and rooms ----------------------------------------------------------


@pytest.mark.e2e
def test_echo_is_seen_only_by_the_sender(open_page: OpenPage, demo_url: str) -> None:
    a = open_demo(open_page, demo_url + "/echo/")
    b = open_demo(open_page, demo_url + "/echo/")
    for page in (a, b):
        expect(page.locator("#log")).to_contain_text("Received #0: Connected")
    submit(a, "emit", emit_data="echo from A")
    expect(a.locator("#log")).to_contain_text("echo from A")
    marker("marker after the echo", b, a)
    assert "echo from A" not in log_text(b)
    no_errors(a, b)


@pytest.mark.e2e
def test_broadcast_is_seen_by_every_page(open_page: OpenPage, demo_url: str) -> None:
    a = open_demo(open_page, demo_url + "/echo/")
    b = open_demo(open_page, demo_url + "/echo/")
    submit(a, "broadcast", broadcast_data="hello, everyone")
    for page in (a, b):
        expect(page.locator("#log")).to_contain_text(re.compile(r"Received #\d+: hello, everyone"))
    no_errors(a, b)


@pytest.mark.e2e
def test_room_message_reaches_members_only(open_page: OpenPage, demo_url: str) -> None:
    a = open_demo(open_page, demo_url + "/echo/")
    b = open_demo(open_page, demo_url + "/echo/")
    submit(a, "join", join_room="red")
    expect(newest(a)).to_have_text(in_rooms("red"))
    submit(a, "send_room", room_name="red", room_data="for the red room")
    expect(a.locator("#log")).to_contain_text(": for the red room")
    marker("marker after the room message", a, b)
    assert "for the red room" not in log_text(b)

    # Once B joins, it gets the room's messages too; once A leaves, A does not.
    submit(b, "join", join_room="red")
    expect(newest(b)).to_have_text(in_rooms("red"))
    submit(a, "leave", leave_room="red")
    # The newest line comes first: A's rooms are now only its own (named after its sid).
    expect(newest(a)).to_have_text(re.compile(r"^Received #\d+: In rooms: \S+$"))
    submit(b, "send_room", room_name="red", room_data="red, second message")
    expect(b.locator("#log")).to_contain_text(": red, second message")
    marker("marker after the second room message", b, a)
    assert "red, second message" not in log_text(a)
    no_errors(a, b)


@pytest.mark.e2e
def test_close_room_removes_every_member(open_page: OpenPage, demo_url: str) -> None:
    a = open_demo(open_page, demo_url + "/echo/")
    b = open_demo(open_page, demo_url + "/echo/")
    for page in (a, b):
        submit(page, "join", join_room="blue")
        expect(newest(page)).to_have_text(in_rooms("blue"))
    submit(a, "close", close_room="blue")
    for page in (a, b):
        expect(page.locator("#log")).to_contain_text("Room blue is closing.")
    submit(b, "send_room", room_name="blue", room_data="anyone in blue?")
    marker("marker after the closed room", b, a)
    for page in (a, b):
        assert "anyone in blue?" not in log_text(page)
    no_errors(a, b)


@pytest.mark.e2e
def test_disconnect_button_disconnects_only_that_page(open_page: OpenPage, demo_url: str) -> None:
    a = open_demo(open_page, demo_url + "/echo/")
    b = open_demo(open_page, demo_url + "/echo/")
    submit(a, "disconnect")
    expect(a.locator("#log")).to_contain_text("Disconnected!")
    expect(a.locator("#status")).to_have_text("disconnected")
    expect(a.locator("#dot")).not_to_have_class(re.compile(r"\bon\b"))
    # A server-side disconnect is final: the page does not reconnect by itself.
    assert a.evaluate("socket.active") is False
    submit(b, "emit", emit_data="B still here")
    expect(b.locator("#log")).to_contain_text(": B still here")
    expect(b.locator("#status")).to_have_text(CONNECTED)
    no_errors(a, b)


@pytest.mark.e2e
def test_reconnect_button_reconnects_the_same_page(open_page: OpenPage, demo_url: str) -> None:
    page = open_demo(open_page, demo_url + "/echo/")
    reconnect = page.locator("#connect button")
    expect(reconnect).to_be_disabled()  # nothing to reconnect while connected
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
    submit(page, "disconnect")
    expect(page.locator("#status")).to_have_text("disconnected")
    expect(reconnect).to_be_enabled()
    reconnect.click()
    expect(page.locator("#status")).to_have_text(CONNECTED)
    expect(page.locator("#log div", has_text="Received #0: Connected")).to_have_count(2)
    expect(reconnect).to_be_disabled()
    assert page.evaluate("window.sameDocument") is True
    submit(page, "emit", emit_data="after reconnecting")
    expect(newest(page)).to_have_text(re.compile(r"^Received #\d+: after reconnecting$"))
    no_errors(page)


@contextlib.contextmanager
def tabs(browser: Any, url: str, count: int) -> Iterator[list[Any]]:
    """``count`` pages at ``url`` in one browser context, as tabs of one window share it."""
    context = browser.new_context()
    try:
        pages = []
        for _ in range(count):
            page = context.new_page()
            errors: list[Any] = []
            page.errors = errors
            page.on("pageerror", lambda error, errors=errors: errors.append(error))
            page.goto(url)
            expect(page.locator("#status")).to_have_text(CONNECTED)
            pages.append(page)
        yield pages
    finally:
        context.close()


@pytest.mark.e2e
def test_echo_counts_each_tab_on_its_own(browser: Any, demo_url: str) -> None:
    # Flask-SocketIO's example counts per session: two tabs each see 1, 2, 3, no gaps.
    with tabs(browser, demo_url + "/echo/", 2) as (a, b):
        for n in (1, 2, 3):
            for page in (a, b):
                submit(page, "emit", emit_data=f"echo {n}")
                expect(newest(page)).to_have_text(f"Received #{n}: echo {n}")
        no_errors(a, b)


@pytest.mark.e2e
def test_echo_page_shows_transport_and_latency(
    open_page: OpenPage, demo_url: str, screenshots: Path
) -> None:
    page = open_demo(open_page, demo_url + "/echo/")
    expect(page.locator("#transport")).to_have_text("websocket")
    # The page measures a round trip every second and shows the average in ms.
    expect(page.locator("#latency")).to_have_text(NUMBER)
    latency = float(page.locator("#latency").inner_text())
    assert 0 <= latency < 1000
    submit(page, "emit", emit_data="Hello from the e2e test")
    submit(page, "join", join_room="lobby")
    submit(page, "send_room", room_name="lobby", room_data="A message to the lobby")
    expect(page.locator("#log")).to_contain_text(": A message to the lobby")
    page.screenshot(path=screenshots / "echo.png", full_page=True)
    no_errors(page)


# -- the live stream --------------------------------------------------------------------

CHART_BLUE_PIXELS = """() => {
    const c = document.getElementById("chart");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;  // the line is drawn in #2f6fed; anti-aliased edges are lighter
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 128 && d[i + 2] > 200 && d[i] < 120 && d[i + 1] < 160) n++;
    }
    return n;
}"""


@pytest.mark.e2e
def test_live_stream_fills_the_table_and_draws_the_chart(
    open_page: OpenPage, demo_url: str, screenshots: Path
) -> None:
    page = open_demo(open_page, demo_url + "/live/")
    rows = page.locator("#values tr")
    expect(rows).not_to_have_count(0)
    expect(rows).to_have_count(10, timeout=10_000)  # the table keeps the last ten
    for value in page.locator("#values tr td:nth-child(2)").all_inner_texts():
        assert re.fullmatch(r"\d{1,3}\.\d", value), value
        assert 0 <= float(value) <= 100, value
    newest = rows.first.inner_text()
    expect(rows.first).not_to_have_text(newest)  # new samples keep coming, on top

    assert page.evaluate(CHART_BLUE_PIXELS) > 200, "no line on the chart"
    page.evaluate("() => { window.chartBefore = document.getElementById('chart').toDataURL(); }")
    page.wait_for_function("document.getElementById('chart').toDataURL() !== window.chartBefore")

    # A page that arrives later gets the same stream.
    late = open_demo(open_page, demo_url + "/live/")
    expect(late.locator("#values tr")).to_have_count(10, timeout=10_000)
    page.screenshot(path=screenshots / "live.png", full_page=True)
    no_errors(page, late)


# -- the chat ---------------------------------------------------------------------------


def join_chat(page: Any, nick: str, room: str) -> None:
    submit(page, "join", nick=nick, room=room)
    expect(page.locator("#where")).to_have_text(f"You are {nick} in room {room}.")


@pytest.mark.e2e
def test_chat_between_two_users_in_a_room(
    open_page: OpenPage, demo_url: str, screenshots: Path
) -> None:
    ann = open_demo(open_page, demo_url + "/chat/")
    bob = open_demo(open_page, demo_url + "/chat/")
    cat = open_demo(open_page, demo_url + "/chat/")
    join_chat(ann, "ann", "garden")
    join_chat(bob, "bob", "garden")
    join_chat(cat, "cat", "kitchen")
    expect(ann.locator("#messages")).to_contain_text("bob joined")
    for page in (ann, bob):
        expect(page.locator("#online li")).to_have_text(["ann", "bob"])
    expect(cat.locator("#online li")).to_have_text(["cat"])

    ann.evaluate("() => { window.typing = []; socket.on('typing', (t) => typing.push(t)); }")
    ann.locator("#text").press_sequentially("Hello")
    expect(bob.locator("#typing")).to_have_text("ann is typing…")
    ann.locator("#text").press_sequentially(", bob!")
    ann.locator("#text").press("Enter")
    for page in (ann, bob):
        expect(page.locator("#messages")).to_contain_text("ann Hello, bob!")
    expect(bob.locator("#typing")).not_to_contain_text("typing")  # sending ends "typing"
    expect(ann.locator("#text")).to_have_value("")

    bob.fill("#text", "Hi ann")
    expect(ann.locator("#typing")).to_have_text("bob is typing…")
    bob.click("#send button")
    expect(ann.locator("#messages")).to_contain_text("bob Hi ann")
    expect(ann.locator("#typing")).not_to_contain_text("typing")
    expect(ann.locator("#messages .me")).to_have_text(["ann Hello, bob!"])
    # ann was told about bob's typing, never about her own.
    typing = ann.evaluate("window.typing")
    assert typing[0] == {"nick": "bob", "typing": True}, typing
    assert {t["nick"] for t in typing} == {"bob"}, typing

    # cat is in another room: its own message arrives, the garden's never did.
    cat.fill("#text", "anyone in the kitchen?")
    cat.click("#send button")
    expect(cat.locator("#messages")).to_contain_text("cat anyone in the kitchen?")
    assert "Hello, bob" not in cat.locator("#messages").inner_text()
    # A marker in the garden, sent after cat's message reached cat: once ann has it, a
    # kitchen message meant for ann would have come before it on her connection.
    bob.fill("#text", "garden marker")
    bob.click("#send button")
    expect(ann.locator("#messages")).to_contain_text("bob garden marker")
    assert "kitchen" not in ann.locator("#messages").inner_text()
    ann.screenshot(path=screenshots / "chat.png", full_page=True)

    bob.close()  # bob leaves: the others in the room are told
    expect(ann.locator("#messages")).to_contain_text("bob left")
    expect(ann.locator("#online li")).to_have_text(["ann"])
    no_errors(ann, cat)


@pytest.mark.e2e
def test_chat_online_lists_follow_a_user_who_changes_rooms(
    open_page: OpenPage, demo_url: str
) -> None:
    ann = open_demo(open_page, demo_url + "/chat/")
    bob = open_demo(open_page, demo_url + "/chat/")
    join_chat(ann, "ann", "attic")
    join_chat(bob, "bob", "attic")
    for page in (ann, bob):
        expect(page.locator("#online li")).to_have_text(["ann", "bob"])

    join_chat(bob, "bob", "cellar")
    expect(ann.locator("#messages")).to_contain_text("bob left")
    expect(ann.locator("#online li")).to_have_text(["ann"])
    expect(bob.locator("#online li")).to_have_text(["bob"])

    join_chat(ann, "ann", "cellar")  # and the other way round
    expect(bob.locator("#messages")).to_contain_text("ann joined")
    for page in (ann, bob):
        expect(page.locator("#online li")).to_have_text(["ann", "bob"])
    no_errors(ann, bob)


@pytest.mark.e2e
def test_chat_message_before_joining_is_kept_with_a_hint(
    open_page: OpenPage, demo_url: str
) -> None:
    page = open_demo(open_page, demo_url + "/chat/")
    notice = page.locator("#notice")
    page.fill("#text", "is anybody here?")
    page.click("#send button")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Join a room first")
    expect(page.locator("#text")).to_have_value("is anybody here?")
    expect(page.locator("#messages")).to_be_empty()

    join_chat(page, "dan", "den")
    expect(notice).to_be_hidden()
    page.click("#send button")  # the kept text, sent now
    expect(page.locator("#messages")).to_contain_text("dan is anybody here?")
    expect(page.locator("#text")).to_have_value("")
    expect(notice).to_be_hidden()
    no_errors(page)


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
