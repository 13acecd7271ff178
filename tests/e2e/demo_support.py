"""What the demo tests share: serving a demo app, opening its pages in Chromium, and the
page actions and checks they use (``test_demos*.py``).

A page that must *not* receive something is checked after a later event that it did
receive (a "marker"): the server sent the two in that order on the page's one connection,
so the marker's arrival proves the absence.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Flask
from playwright.sync_api import expect

from .demo_app import DemoSocketIO
from .live_server import LiveServer

if TYPE_CHECKING:
    from .conftest import OpenPage

LIVE_INTERVAL = 0.2  # seconds between samples of the live stream (the demo's: 1)
CONNECTED = "connected (websocket)"
NUMBER = re.compile(r"^\d+(\.\d)?$")


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


def join_chat(page: Any, nick: str, room: str) -> None:
    submit(page, "join", nick=nick, room=room)
    expect(page.locator("#where")).to_have_text(f"You are {nick} in room {room}.")
