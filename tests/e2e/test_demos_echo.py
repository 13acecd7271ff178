"""The echo demo of ``examples/`` (Flask-SocketIO's seed example) and the landing page, in
Chromium, served by our server, used as a person would: two or three pages, each in a
browser context of its own, as separate users, on one server shared by the demo tests
(the ``demo_url`` fixture). Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import OpenPage
from .demo_support import (
    CONNECTED,
    NUMBER,
    in_rooms,
    log_text,
    marker,
    newest,
    no_errors,
    open_demo,
    submit,
    tabs,
)

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
