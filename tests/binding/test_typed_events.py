"""Typed events (``binding/typed_events.py``): the wrapper built at registration, with
pydantic and without it, and what a client that sends a bad payload gets."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pydantic
import pytest

from extension_support import make_app
from flask_realtime import SocketIO
from flask_realtime.binding import typed_events
from flask_realtime.binding.handlers import BoundHandler
from flask_realtime.binding.typed_events import typed_handler
from flask_realtime.exceptions import (
    ClientArgumentsError,
    ConfigurationError,
    ConnectionRefusedError,
)


class Point(pydantic.BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Inner:
    name: str


@dataclasses.dataclass
class Move:
    dx: int
    inner: Inner
    label: str = ""


@pytest.fixture
def no_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if pydantic were not installed (the optional extra left out)."""
    monkeypatch.setattr(typed_events, "_pydantic", lambda: None)


# -- registration -------------------------------------------------------------------------------


def test_a_handler_without_typed_parameters_is_registered_as_it_is() -> None:
    def plain(a: int, b: dict[str, Any], *rest: str) -> None: ...

    def untyped(a, b): ...  # type: ignore[no-untyped-def]

    assert typed_handler(plain, "e") is plain
    assert typed_handler(untyped, "e") is untyped
    assert typed_handler(print, "e") is print  # no signature to read


def test_the_wrapper_keeps_the_arity_and_the_kind_of_the_handler() -> None:
    def handler(p: Point, extra: int = 0) -> None: ...

    async def coro(p: Point) -> None: ...

    bound = BoundHandler(typed_handler(handler, "e"), "e", "/")
    assert (bound.needs, bound.most, bound.is_async) == (1, 2, False)
    assert BoundHandler(typed_handler(coro, "e"), "e", "/").is_async


def test_a_generic_annotation_without_pydantic_is_a_configuration_error(
    no_pydantic: None,
) -> None:
    def handler(moves: list[Move]) -> None: ...

    with pytest.raises(ConfigurationError, match=r"flask-realtime\[pydantic\]"):
        typed_handler(handler, "moves")


# -- conversion with pydantic -------------------------------------------------------------------


def test_pydantic_models_and_dataclasses_are_validated_and_converted() -> None:
    def handler(p: Point, m: Move, n: int, *more: Point) -> Any:
        return p, m, n, more

    wrapped = typed_handler(handler, "e")
    p, m, n, more = wrapped({"x": 1, "y": "2"}, {"dx": 3, "inner": {"name": "a"}}, "7",
                            {"x": 5, "y": 6})  # fmt: skip
    assert p == {"x": 1, "y": 2}  # returned models go out as their JSON form
    assert m == {"dx": 3, "inner": {"name": "a"}, "label": ""}
    assert n == "7"  # an annotation without a model is not checked
    assert more == ({"x": 5, "y": 6},)


def test_the_handler_receives_model_instances() -> None:
    got: list[Any] = []

    def handler(p: Point, m: Move | None = None) -> None:
        got.append((p, m))

    typed_handler(handler, "e")({"x": 1, "y": 2}, None)
    typed_handler(handler, "e")({"x": 1, "y": 2}, {"dx": 1, "inner": {"name": "b"}})
    assert got == [(Point(x=1, y=2), None), (Point(x=1, y=2), Move(1, Inner("b")))]


def test_a_bad_payload_raises_the_clients_error_with_details_and_skips_the_handler() -> None:
    called: list[Any] = []

    def handler(p: Point, *more: Point) -> None:
        called.append(p)

    with pytest.raises(ClientArgumentsError) as caught:
        typed_handler(handler, "move")({"x": "no"}, {"x": 1, "y": 2}, "bad")
    assert called == []
    assert str(caught.value) == "invalid arguments for 'move': more[1], p"
    assert caught.value.details == [
        {"loc": ["p", "x"], "msg": "Input should be a valid integer, unable to parse string "
         "as an integer", "type": "int_parsing"},
        {"loc": ["p", "y"], "msg": "Field required", "type": "missing"},
        {"loc": ["more[1]"], "msg": "Input should be a valid dictionary or instance of Point",
         "type": "model_type"},
    ]  # fmt: skip
    assert caught.value.ack_payload()["error"] == str(caught.value)


def test_a_typed_connect_handler_refuses_an_auth_that_does_not_fit() -> None:
    def connect(auth: Point) -> None: ...

    with pytest.raises(ConnectionRefusedError) as caught:
        typed_handler(connect, "connect")({"x": 1})
    assert caught.value.error_args["message"] == "invalid auth"
    assert caught.value.error_args["data"] == {
        "details": [{"loc": ["auth", "y"], "msg": "Field required", "type": "missing"}]
    }


def test_an_async_handler_is_wrapped_as_a_coroutine_function() -> None:
    async def handler(p: Point) -> Point:
        return Point(x=p.y, y=p.x)

    assert asyncio.run(typed_handler(handler, "e")({"x": 1, "y": 2})) == {"x": 2, "y": 1}


# -- conversion without pydantic ----------------------------------------------------------------


def test_dataclasses_are_converted_without_pydantic(no_pydantic: None) -> None:
    def handler(m: Move) -> Move:
        assert isinstance(m.inner, Inner)
        return m

    result = typed_handler(handler, "e")({"dx": 3, "inner": {"name": "x"}})
    assert result == {"dx": 3, "inner": {"name": "x"}, "label": ""}


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ("text", [(["m"], "dataclass_type")]),
        ({"inner": {"name": "x"}}, [(["m", "dx"], "missing")]),
        ({"dx": True, "inner": {"name": "x"}}, [(["m", "dx"], "int_type")]),
        ({"dx": 1, "inner": {"name": 2}}, [(["m", "inner", "name"], "str_type")]),
        ({"dx": 1, "inner": {}, "zz": 0}, [(["m", "zz"], "unexpected"),
                                            (["m", "inner", "name"], "missing")]),
    ],
)  # fmt: skip
def test_dataclass_payloads_that_do_not_fit_without_pydantic(
    no_pydantic: None, payload: Any, errors: list[tuple[list[str], str]]
) -> None:
    def handler(m: Move) -> None:
        raise AssertionError("never called")

    with pytest.raises(ClientArgumentsError) as caught:
        typed_handler(handler, "e")(payload)
    assert [(e["loc"], e["type"]) for e in caught.value.details] == errors


# -- through the extension ----------------------------------------------------------------------


def test_a_client_gets_an_error_ack_or_the_error_handlers_answer() -> None:
    app = make_app()
    socketio = SocketIO(app)
    moved: list[Point] = []

    @socketio.on("move")
    def move(p: Point) -> Point:
        moved.append(p)
        return p

    @socketio.on("move", namespace="/handled")
    def move_handled(p: Point) -> None:
        moved.append(p)

    @socketio.on_error("/handled")
    def handled(exc: Exception) -> Any:
        assert isinstance(exc, ClientArgumentsError)
        return {"handled": [d["loc"] for d in exc.details]}

    client = socketio.test_client(app)
    assert client.emit("move", {"x": 1, "y": 2}, callback=True) == {"x": 1, "y": 2}
    client.connect("/handled")
    answer = client.emit("move", {"x": 1}, namespace="/handled", callback=True)
    assert answer == {"handled": [["p", "y"]]}
    assert moved == [Point(x=1, y=2)]


def test_namespace_class_methods_are_typed_too() -> None:
    from flask_realtime import Namespace

    app = make_app()
    socketio = SocketIO(app)

    class Moves(Namespace):
        def on_move(self, p: Point) -> dict[str, int]:
            assert isinstance(p, Point)
            return {"sum": p.x + p.y}

    socketio.on_namespace(Moves("/moves"))
    client = socketio.test_client(app, namespace="/moves")
    assert client.emit("move", {"x": 2, "y": "3"}, namespace="/moves", callback=True) == {"sum": 5}
    with pytest.raises(ClientArgumentsError):
        client.emit("move", {"x": 2}, namespace="/moves", callback=True)


def test_models_inside_a_returned_list_or_dict_are_sent_as_json() -> None:
    app = make_app()
    socketio = SocketIO(app)

    @socketio.on("all")
    def all_points(p: Point) -> list[Point]:
        return [p, Point(x=3, y=4)]

    @socketio.on("named")
    def named(p: Point) -> dict[str, Any]:
        return {"p": p, "moves": [Move(1, Inner("a"))]}

    client = socketio.test_client(app)
    point = {"x": 1, "y": 2}
    assert client.emit("all", point, callback=True) == [point, {"x": 3, "y": 4}]
    assert client.emit("named", point, callback=True) == {
        "p": point,
        "moves": [{"dx": 1, "inner": {"name": "a"}, "label": ""}],
    }


def test_the_details_a_client_gets_back_are_bounded() -> None:
    """A large payload of bad items is not echoed back as as many errors."""

    def points(ps: list[Point]) -> None: ...

    with pytest.raises(ClientArgumentsError) as raised:
        typed_handler(points, "points")([1] * 1000)
    assert len(raised.value.details) == typed_events.MAX_DETAILS
    assert raised.value.details[0]["loc"] == ["ps", 0]
