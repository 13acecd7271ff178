"""SocketIO's options: names checked with suggestions, old ones tolerated, values resolved."""

from __future__ import annotations

import json
import logging
import warnings

import pytest
from flask import Flask, request
from flask import json as flask_json
from flask.json.provider import DefaultJSONProvider

from flask_realtime import SocketIO
from flask_realtime.binding.options import DEFAULT_HANDLER_THREADS, resolve_options
from flask_realtime.binding.service import STATE_KEY, AppService
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.parsers import MsgpackParser
from flask_realtime.runtime import Limits
from flask_realtime.server.client_limits import RatePolicy


def state_of(app: Flask) -> AppService:
    state = app.extensions[STATE_KEY]
    assert isinstance(state, AppService)
    return state


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("cors_allow_origins", "cors_allowed_origins"),
        ("ping_intervall", "ping_interval"),
        ("manage_sessions", "manage_session"),
        ("max_http_buffer", "max_http_buffer_size"),
    ],
)
def test_unknown_option_names_the_closest_valid_one(wrong: str, right: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{wrong}: did you mean {right}\\?$"):
        SocketIO(**{wrong: 1})


def test_unknown_option_without_a_near_name_says_so() -> None:
    with pytest.raises(ConfigurationError, match="zzz: it is not an option of SocketIO"):
        SocketIO(zzz=1)


def test_init_app_checks_names_too(flask_app: Flask) -> None:
    socketio = SocketIO()
    with pytest.raises(ConfigurationError, match="did you mean always_connect"):
        socketio.init_app(flask_app, always_conect=True)


@pytest.mark.parametrize("name", ["async_mode", "async_handlers", "monitor_clients"])
def test_options_without_meaning_are_accepted_with_a_deprecation_warning(
    flask_app: Flask, name: str
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SocketIO(flask_app, **{name: "eventlet" if name == "async_mode" else True})
    assert [(w.category, name in str(w.message)) for w in caught] == [(DeprecationWarning, True)]
    assert caught[0].filename == __file__  # it points at the caller's line
    assert isinstance(state_of(flask_app), AppService)


def test_deprecated_options_left_at_none_pass_silently(flask_app: Flask) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SocketIO(flask_app, async_mode=None)


def test_client_manager_is_refused_with_the_alternative() -> None:
    with pytest.raises(ConfigurationError, match="message_queue"):
        SocketIO(client_manager=object())


def test_engine_options_reach_the_engine_server(flask_app: Flask) -> None:
    SocketIO(
        flask_app,
        ping_interval=10,
        ping_timeout=3,
        max_http_buffer_size=1234,
        cors_allowed_origins="*",
        cors_credentials=False,
        allow_upgrades=False,
        http_compression=False,
        compression_threshold=10,
        cookie="io",
        transports=["websocket"],
    )
    engine = state_of(flask_app).engine.options
    assert (engine.ping_interval, engine.ping_timeout) == (10, 3)
    assert engine.max_http_buffer_size == 1234
    assert engine.cors_allowed_origins == "*"
    assert engine.cors_credentials is False
    assert engine.allow_upgrades is False
    assert engine.http_compression is False
    assert engine.compression_threshold == 10
    assert engine.cookie == "io"
    assert engine.transports == ("websocket",)


def test_ping_interval_with_a_grace_period_adds_it_to_the_timeout() -> None:
    options = resolve_options({"ping_interval": (10, 2), "ping_timeout": 5})
    assert options.engine.ping_interval == 10
    assert options.engine.ping_timeout == 7


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ({}, "socket.io"),
        ({"path": "/ws"}, "ws"),
        ({"path": "rt/"}, "rt"),
        ({"resource": "/legacy"}, "legacy"),
    ],
)
def test_path_and_its_alias_resource(given: dict[str, str], path: str) -> None:
    assert resolve_options(given).engine.path == path


def test_options_given_to_the_constructor_and_init_app_add_up(flask_app: Flask) -> None:
    socketio = SocketIO(always_connect=True, manage_session=False)
    socketio.init_app(flask_app, ping_timeout=7)
    options = state_of(flask_app).options
    assert options.always_connect is True
    assert options.manage_session is False
    assert options.engine.ping_timeout == 7
    assert state_of(flask_app).server.always_connect is True


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"worker_threads": 0}, "worker_threads"),
        ({"slow_handler_warning": -1}, "slow_handler_warning"),
        ({"serializer": "pickle"}, "pickle is never used"),
        ({"json": object()}, "dumps"),
        ({"namespaces": 3}, "namespaces"),
        ({"transports": ["carrier-pigeon"]}, "transports"),
        ({"path": 5}, "path"),
        ({"http_limits": {"request_timout": 600}}, "did you mean request_timeout"),
        ({"http_limits": {"max_url_size": 0}}, "max_url_size must be a positive int"),
        ({"http_limits": {"max_connections": 0.5}}, "max_connections must be a positive int"),
        ({"http_limits": {"io_timeout": True}}, "io_timeout must be a positive number"),
        ({"http_limits": {"io_timeout": float("inf")}}, "io_timeout must be a positive number"),
        ({"http_limits": {"linger_timeout": float("nan")}}, "at most a year"),
        ({"http_limits": {"request_timeout": 1e10}}, "at most a year"),
        ({"http_limits": {"min_body_rate": float("inf")}}, "positive finite number"),
        ({"http_limits": {"min_body_rate": 10**400}}, "positive finite number"),
        ({"http_limits": 300}, "http_limits must be a dict"),
        ({"switch_interval": 0}, "switch_interval must be a number of seconds from"),
        ({"switch_interval": 1e-9}, "from 0.000001 to 1, or None"),
        ({"switch_interval": 2}, "from 0.000001 to 1, or None"),
        ({"switch_interval": float("nan")}, "switch_interval"),
        ({"switch_interval": "0.001"}, "switch_interval"),
    ],
)
def test_bad_values_are_refused(given: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        resolve_options(given)


def test_defaults() -> None:
    options = resolve_options({})
    assert options.manage_session is True
    assert options.always_connect is False
    assert options.worker_threads == DEFAULT_HANDLER_THREADS
    assert options.slow_handler_warning == 5.0
    assert options.engine.path == "socket.io"
    assert options.http_limits == Limits()
    assert options.switch_interval == 0.001


def test_http_limits_change_the_named_limits_and_keep_the_others() -> None:
    limits = resolve_options({"http_limits": {"request_timeout": 600, "max_body_size": None}})
    assert limits.http_limits.request_timeout == 600
    assert limits.http_limits.max_body_size is None
    assert limits.http_limits.header_timeout == Limits().header_timeout


def test_message_queue_makes_the_redis_adapter_with_the_channel(flask_app: Flask) -> None:
    from flask_realtime.adapters.redis import RedisAdapter

    SocketIO(flask_app, message_queue="redis://localhost:6379/3", channel="mine")
    adapter = state_of(flask_app).server.adapter
    assert isinstance(adapter, RedisAdapter)
    assert adapter.channels.key == "mine"
    assert adapter.url == "redis://localhost:6379/3"


def test_message_queue_alone_checks_the_broker_at_once() -> None:
    from flask_realtime.exceptions import BrokerUnavailableError

    url = "redis://:secret@127.0.0.1:1/0"  # nothing listens on port 1
    with pytest.raises(BrokerUnavailableError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0"):
        SocketIO(message_queue=url)


def test_message_queue_with_another_scheme_is_refused(flask_app: Flask) -> None:
    with pytest.raises(ConfigurationError, match=r"only Redis .* and RabbitMQ") as refused:
        SocketIO(flask_app, message_queue="kafka://user:secret@localhost")
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("url", ["amqp://guest:guest@localhost:5672//", "AMQPS://rabbit/vh"])
def test_message_queue_amqp_makes_the_rabbitmq_adapter(flask_app: Flask, url: str) -> None:
    from flask_realtime.adapters.amqp import AmqpAdapter

    SocketIO(flask_app, message_queue=url, channel="mine")
    adapter = state_of(flask_app).server.adapter
    assert isinstance(adapter, AmqpAdapter)
    assert adapter.channel == "mine"
    assert adapter.url == url
    assert adapter.queue_name == f"mine.{adapter.uid}"


# -- JSON ----------------------------------------------------------------------------------


class _Marked:
    """A JSON module whose output we can recognise."""

    calls = 0

    @classmethod
    def dumps(cls, obj: object) -> str:
        cls.calls += 1
        return json.dumps(obj, separators=(",", ":"))

    @staticmethod
    def loads(text: str) -> object:
        return json.loads(text)


def test_json_option_is_used_for_encoding(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, json=_Marked)

    @socketio.on("ping")
    def ping(data: object) -> object:
        return data

    before = _Marked.calls
    client = socketio.test_client(flask_app)
    assert client.emit("ping", {"a": [1, 2]}, callback=True) == {"a": [1, 2]}
    assert _Marked.calls > before


class _TaggedProvider(DefaultJSONProvider):
    def dumps(self, obj: object, **kwargs: object) -> str:
        if isinstance(obj, list) and obj and obj[0] == "tagged":
            obj = [*obj, "by-provider"]
        return super().dumps(obj, **kwargs)


def test_the_apps_custom_json_provider_is_used(flask_app: Flask) -> None:
    flask_app.json = _TaggedProvider(flask_app)
    socketio = SocketIO(flask_app)

    @socketio.on("go")
    def go() -> None:
        socketio.emit("tagged", 1)

    client = socketio.test_client(flask_app)
    client.emit("go")
    assert client.get_received() == [
        {"name": "tagged", "args": [1, "by-provider"], "namespace": "/"}
    ]


def test_flask_json_means_the_apps_provider(flask_app: Flask) -> None:
    flask_app.json = _TaggedProvider(flask_app)
    socketio = SocketIO(flask_app, json=flask_json)

    @socketio.on("go")
    def go() -> None:
        socketio.emit("tagged")

    client = socketio.test_client(flask_app)
    client.emit("go")
    assert client.get_received()[0]["args"] == ["by-provider"]


def test_msgpack_serializer_selects_the_msgpack_parser(flask_app: Flask) -> None:
    SocketIO(flask_app, serializer="msgpack")
    assert isinstance(state_of(flask_app).parsers.parser, MsgpackParser)


def test_logger_true_turns_on_info_logging_of_the_server(flask_app: Flask) -> None:
    server_logger = logging.getLogger("flask_realtime.server")
    level, handlers = server_logger.level, list(server_logger.handlers)
    try:
        SocketIO(flask_app, logger=True)
        assert server_logger.level == logging.INFO
    finally:
        server_logger.setLevel(level)
        server_logger.handlers[:] = handlers


def test_logger_object_receives_the_records(flask_app: Flask) -> None:
    target = logging.getLogger("test.realtime.target")
    received: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            received.append(record)

    target.addHandler(Collect())
    engine_logger = logging.getLogger("flask_realtime.engine")
    level, handlers = engine_logger.level, list(engine_logger.handlers)
    try:
        SocketIO(flask_app, engineio_logger=target)
        logging.getLogger("flask_realtime.engine.socket").info("hello")
        assert [r.getMessage() for r in received] == ["hello"]
    finally:
        engine_logger.setLevel(level)
        engine_logger.handlers[:] = handlers


def test_logger_true_logs_each_event_received_and_emitted_without_its_data(
    flask_app: Flask,
) -> None:
    target = logging.getLogger("test.realtime.events")
    received: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            received.append(record)

    target.addHandler(Collect())
    server_logger = logging.getLogger("flask_realtime.server")
    level, handlers = server_logger.level, list(server_logger.handlers)
    try:
        socketio = SocketIO(flask_app, logger=target)

        @socketio.on("echo")
        def echo(secret: str) -> None:
            socketio.emit("echoed", secret, to=request.sid)

        client = socketio.test_client(flask_app)
        client.emit("echo", "s3cret")
        assert client.get_received() == [{"name": "echoed", "args": ["s3cret"], "namespace": "/"}]
        lines = [r.getMessage() for r in received]
        assert f'received event "echo" from {client.sid} [/]' in lines
        assert f'emitting event "echoed" to {client.sid} [/]' in lines
        assert not [line for line in lines if "s3cret" in line]  # never the data
    finally:
        server_logger.setLevel(level)
        server_logger.handlers[:] = handlers


def test_max_namespaces_per_client_reaches_the_server_and_is_checked(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, max_namespaces_per_client=3)
    assert socketio.service_for(flask_app).server.max_namespaces == 3
    assert SocketIO(Flask("default")).service_for().server.max_namespaces == 100
    for bad in (0, -1, 2.5, "10"):
        with pytest.raises(ConfigurationError, match="max_namespaces_per_client"):
            SocketIO(Flask("bad"), max_namespaces_per_client=bad)


def test_client_limits_reach_the_servers(flask_app: Flask) -> None:
    socketio = SocketIO(
        flask_app,
        max_packets_per_second=50,
        max_bytes_per_second=1000,
        rate_limit_policy="drop",
        max_rooms_per_socket=7,
        max_pending_acks=9,
        max_connections_per_address=3,
    )
    service = socketio.service_for(flask_app)
    assert service.server.connection_rate == (50, 1000, RatePolicy.DROP)
    assert service.server.max_rooms_per_socket == 7
    assert service.server.max_pending_acks == 9
    assert service.engine.options.max_connections_per_address == 3
    default = SocketIO(Flask("default")).service_for()
    assert default.server.connection_rate is None  # no check at all when not set
    assert default.server.max_rooms_per_socket == 10_000
    assert default.engine.options.max_connections_per_address is None


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("max_packets_per_second", 0),
        ("max_bytes_per_second", -5),
        ("max_packets_per_second", "10"),
        ("rate_limit_policy", "ignore"),
        ("max_rooms_per_socket", 0),
        ("max_pending_acks", None),
        ("max_connections_per_address", 0),
    ],
)
def test_client_limits_are_checked(name: str, bad: object) -> None:
    with pytest.raises(ConfigurationError, match=name):
        SocketIO(Flask("bad"), **{name: bad})


def test_a_handler_rate_limit_is_checked_at_registration(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    for bad in ("fast", "5/fortnight", (0, 1), (5,), -1):
        with pytest.raises(ConfigurationError, match="rate_limit"):
            socketio.on("chat", rate_limit=bad)(lambda message: None)
    socketio.on("chat", rate_limit="100/min")(lambda message: None)
