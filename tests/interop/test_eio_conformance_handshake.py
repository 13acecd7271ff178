"""Engine.IO v4 conformance: the handshake, its bad requests, and versions we do not speak."""

from __future__ import annotations

import json
import re

import pytest
import requests

from .eio_conformance_support import (
    TIMEOUT,
    BodyOf,
    assert_json_error,
    eio,
    ws_handshake,
    ws_open,
    ws_refused,
)
from .support import EchoServer

pytestmark = pytest.mark.interop


# -- handshake ------------------------------------------------------------------------------


def test_polling_handshake(eio_server: EchoServer) -> None:
    response = requests.get(eio(eio_server, "EIO=4&transport=polling"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("0")
    value = json.loads(response.text[1:])
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str)
    assert value["sid"]
    assert value["upgrades"] == ["websocket"]
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == 1_000_000
    eio_server.handler.wait_for_events("open", value["sid"])


def test_websocket_handshake(eio_server: EchoServer) -> None:
    with ws_open(eio_server) as ws:
        value = ws_handshake(ws)
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str)
    assert value["upgrades"] == []
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == 1_000_000


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling"])
def test_polling_bad_eio(eio_server: EchoServer, query: str) -> None:
    response = requests.get(eio(eio_server, query), timeout=TIMEOUT)
    assert_json_error(response, 400, 5)


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
def test_polling_bad_transport(eio_server: EchoServer, query: str) -> None:
    response = requests.get(eio(eio_server, query), timeout=TIMEOUT)
    body = assert_json_error(response, 400, 0)
    assert body["message"] == "Transport unknown"


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_polling_handshake_bad_method(eio_server: EchoServer, method: str) -> None:
    response = requests.request(
        method, eio(eio_server, "EIO=4&transport=polling"), data=b"4x", timeout=TIMEOUT
    )
    body = assert_json_error(response, 400, 2)
    assert body["message"] == "Bad handshake method"


@pytest.mark.parametrize("query", ["transport=websocket", "EIO=abc&transport=websocket"])
def test_websocket_bad_eio(eio_server: EchoServer, query: str) -> None:
    assert_json_error(BodyOf(ws_refused(eio_server, query)), 400, 5)


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
def test_websocket_bad_transport(eio_server: EchoServer, query: str) -> None:
    assert_json_error(BodyOf(ws_refused(eio_server, query)), 400, 0)


@pytest.mark.parametrize("version", ["2", "5"])
def test_unsupported_version_names_sent_and_served(eio_server: EchoServer, version: str) -> None:
    over_polling = requests.get(eio(eio_server, f"EIO={version}&transport=polling"), timeout=5)
    over_websocket = BodyOf(ws_refused(eio_server, f"EIO={version}&transport=websocket"))
    for response in (over_polling, over_websocket):
        message = assert_json_error(response, 400, 5)["message"]
        # The version the client sent, and the versions this server speaks (4 and 3).
        assert f"EIO={version}" in message
        served = message.replace(f"EIO={version}", "")
        assert re.search(r"\b4\b", served), message
        assert re.search(r"\b3\b", served), message
