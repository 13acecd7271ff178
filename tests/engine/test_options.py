"""EngineOptions (engine/options.py): defaults, checks, the endpoint path."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from flask_realtime.engine import EngineOptions
from flask_realtime.exceptions import ConfigurationError


def test_defaults_are_python_engineio_s() -> None:
    options = EngineOptions()
    assert options.ping_interval == 25.0
    assert options.ping_timeout == 20.0
    assert options.max_http_buffer_size == 1_000_000
    assert options.allow_upgrades is True
    assert options.transports == ("polling", "websocket")
    assert options.cookie is None
    assert options.cors_allowed_origins is None
    assert options.cors_credentials is True
    assert options.http_compression is True
    assert options.compression_threshold == 1024
    assert options.upgrade_timeout == 10.0


def test_frozen() -> None:
    options = EngineOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.ping_interval = 1  # type: ignore[misc]


def test_one_transport_as_a_string() -> None:
    assert EngineOptions(transports="websocket").transports == ("websocket",)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "transports", [(), ("polling", "flashsocket"), ("xhr-polling",), ("Polling",)]
)
def test_transports_must_be_known(transports: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError, match="transports"):
        EngineOptions(transports=transports)


@pytest.mark.parametrize("name", ["ping_interval", "ping_timeout", "upgrade_timeout"])
@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_times_must_be_positive(name: str, value: float) -> None:
    kwargs: dict[str, Any] = {name: value}
    with pytest.raises(ConfigurationError, match=name):
        EngineOptions(**kwargs)


@pytest.mark.parametrize("value", [0, -1])
def test_max_http_buffer_size_must_be_positive(value: int) -> None:
    with pytest.raises(ConfigurationError, match="max_http_buffer_size"):
        EngineOptions(max_http_buffer_size=value)


def test_configuration_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        EngineOptions(ping_interval=0)


@pytest.mark.parametrize(
    ("path", "url_path"),
    [
        ("socket.io", "/socket.io/"),
        ("/socket.io", "/socket.io/"),
        ("/socket.io/", "/socket.io/"),
        ("api/realtime", "/api/realtime/"),
        ("/", "/"),
        ("", "/"),
    ],
)
def test_url_path(path: str, url_path: str) -> None:
    assert EngineOptions(path=path).url_path == url_path
