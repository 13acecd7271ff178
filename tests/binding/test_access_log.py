"""The connection log: one line per connection opened and closed, with its fields; event
lines when asked; JSON when asked; payloads only when asked."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from e2e.live_server import LiveServer
from support.waiting import wait_until

from .observe_support import Client, make_app

pytestmark = pytest.mark.interop


def realtime(caplog: pytest.LogCaptureFixture, what: str) -> list[dict[str, object]]:
    return [r.realtime for r in caplog.records  # type: ignore[attr-defined]
            if getattr(r, "realtime", {}).get("event") == what]  # fmt: skip


@pytest.mark.parametrize("as_json", [False, True])
def test_connection_lines_have_sid_transport_address_duration_and_reason(
    caplog: pytest.LogCaptureFixture, as_json: bool
) -> None:
    app, sio = make_app(f"log_app_{as_json}")
    sio.log_connections(json=as_json)
    caplog.set_level(logging.INFO, logger="flask_realtime.connections")
    with LiveServer(app, sio) as server:
        client = Client(server.url, transports=["websocket"])
        assert client.sio.call("echo", "secret payload", timeout=5) == "secret payload"
        client.close()
        wait_until(lambda: realtime(caplog, "connection_close"), 5, "the close line")
    (opened,) = realtime(caplog, "connection_open")
    (closed,) = realtime(caplog, "connection_close")
    assert opened["sid"] == closed["sid"]
    assert opened["transport"] == closed["transport"] == "websocket"
    assert opened["address"] == closed["address"] == "127.0.0.1"
    assert isinstance(closed["duration"], float)
    assert 0 <= closed["duration"] < 10
    assert closed["reason"] in ("client disconnect", "transport close")
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_realtime.connections"]
    if as_json:
        assert json.loads(lines[-1]) == {"event": "connection_close", **closed}
    else:
        assert lines[-1].startswith(f"connection_close sid={closed['sid']} transport=websocket")
    assert not any("secret payload" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.name == "flask_realtime.events"]


@pytest.mark.parametrize("payloads", [False, True])
def test_event_lines_when_asked_with_payloads_only_when_asked(
    caplog: pytest.LogCaptureFixture, payloads: bool
) -> None:
    app, sio = make_app(f"event_log_app_{payloads}")
    sio.log_connections(events=True, payloads=payloads)
    caplog.set_level(logging.INFO, logger="flask_realtime.events")
    with LiveServer(app, sio) as server:
        client = Client(server.url)
        assert client.sio.call("echo", "secret payload", timeout=5) == "secret payload"
        wait_until(lambda: realtime(caplog, "event_out"), 5, "the event_out line")
        client.close()
    (received,) = realtime(caplog, "event_in")
    (sent,) = realtime(caplog, "event_out")
    assert received["name"] == sent["name"] == "echo"
    assert received["namespace"] == "/"
    assert received["sid"] == sent["sid"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert ("secret payload" in logged) is payloads
    if payloads:
        assert received["args"] == ["secret payload"]


def test_a_second_call_changes_the_settings_and_does_not_log_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, sio = make_app("log_twice")
    sio.log_connections()
    sio.log_connections(json=True)
    caplog.set_level(logging.INFO, logger="flask_realtime.connections")
    with LiveServer(app, sio) as server:
        client = Client(server.url)
        client.close()
        wait_until(lambda: realtime(caplog, "connection_close"), 5, "the close line")
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_realtime.connections"]
    assert len(lines) == 2
    assert [json.loads(line)["event"] for line in lines] == ["connection_open", "connection_close"]


@pytest.mark.parametrize(
    "name", ["x\nconnection_open", "line\u2028sep", "a=b", 'q"uote', "tab\there", ""]
)
def test_a_client_chosen_value_cannot_forge_a_line_or_a_field(
    caplog: pytest.LogCaptureFixture, name: str
) -> None:
    from flask_realtime.binding.access_log import ConnectionLog

    caplog.set_level(logging.INFO, logger="flask_realtime.events")
    ConnectionLog(events=True).event_received(_FakeSocket(), name, ())  # type: ignore[arg-type]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "flask_realtime.events"]
    assert line.isprintable()
    assert line.endswith(f"name={json.dumps(name)}")


class _FakeSocket:
    sid = "s1"

    class nsp:
        name = "/"


@pytest.mark.parametrize("trusted", [False, True])
def test_the_address_is_the_one_the_per_address_cap_counts(
    caplog: pytest.LogCaptureFixture, trusted: bool
) -> None:
    """A client's own ``X-Forwarded-For`` is not taken for its address unless the app
    trusts a proxy, and then only the entry the proxy added (the last) is."""
    app, sio = make_app(f"log_address_{trusted}", trust_forwarded_headers=trusted)
    sio.log_connections()
    caplog.set_level(logging.INFO, logger="flask_realtime.connections")
    chain = "198.51.100.7, 203.0.113.9"  # the first one the client wrote itself
    with LiveServer(app, sio) as server:
        http = requests.Session()
        url = f"{server.url}/socket.io/?EIO=4&transport=polling"
        sid = json.loads(http.get(url, headers={"X-Forwarded-For": chain}, timeout=5).text[1:])[
            "sid"
        ]
        assert http.post(f"{url}&sid={sid}", data="1", timeout=5).text == "ok"
        wait_until(lambda: realtime(caplog, "connection_close"), 5, "the close line")
    (opened,) = realtime(caplog, "connection_open")
    assert opened["address"] == ("203.0.113.9" if trusted else "127.0.0.1")
    assert opened["forwarded_for"] == chain
