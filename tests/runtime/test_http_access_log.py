"""The HTTP/1.1 layer over real loopback sockets: the access log."""

from __future__ import annotations

import logging

import pytest

from support.server_thread import ServerThread
from support.waiting import wait_until

from .http_support import Connect, RecordingApp, Serve


def test_each_request_gets_an_access_log_line(
    server: ServerThread, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_realtime.access")
    client = http_client(server.port)
    client.request("GET", "/w/logged?q=1")
    client.read_response()
    wait_until(lambda: '"GET /w/logged?q=1 HTTP/1.1" 200 ' in caplog.text, what="the log line")
    record = next(r for r in caplog.records if r.name == "flask_realtime.access")
    assert record.levelno == logging.INFO


def test_no_access_log_when_disabled(
    http_server: Serve, app: RecordingApp, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_realtime.access")
    server = http_server(wsgi_app=app, log=False)
    client = http_client(server.port)
    client.request("GET", "/quiet")
    assert client.read_response().status == 200
    assert not [r for r in caplog.records if r.name == "flask_realtime.access"]
