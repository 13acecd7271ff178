"""The live stream and the chat demos of ``examples/`` in Chromium, served by our server,
used as a person would (the ``demo_url`` fixture's server, shared by the demo tests).
Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import OpenPage
from .demo_support import (
    join_chat,
    no_errors,
    open_demo,
)

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
