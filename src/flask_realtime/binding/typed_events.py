"""Typed events: handlers whose parameters are annotated with models get validated values.

::

    @dataclass
    class Move:
        x: int
        y: int

    @socketio.on("move")
    def move(step: Move) -> dict:        # step is a Move, its fields checked
        ...

A parameter annotated with a pydantic model, a dataclass, or (with pydantic installed)
any type that contains one (``list[Move]``, ``Move | None``) receives the client's value
validated and converted. A value that does not fit never reaches the handler: the call
raises :class:`~flask_realtime.exceptions.ClientArgumentsError` (with pydantic's error
list, its first ``MAX_DETAILS``, as ``details``), which takes the one error path: the
namespace's error handler if there is one (its return value is the acknowledgement),
else a client that asked for an acknowledgement gets
``{"error": ..., "details": [...]}``, and the log one line. For a connect handler, an
``auth`` that does not fit refuses the client with CONNECT_ERROR
``{"message": "invalid auth", "data": {"details": [...]}}``. A model or dataclass that a
typed handler returns (also inside a returned list, tuple or dict) is sent as its JSON
form.

With pydantic (``pip install flask-realtime[pydantic]``) every such annotation is
validated by a ``pydantic.TypeAdapter``, dataclasses included (strict types, coercion as
pydantic does it). Without it, dataclasses still work: the value must be an object with
the dataclass's fields (no unknown ones, every required one), each field of type
``str``, ``int``, ``float``, ``bool``, ``list``, ``dict`` or a nested dataclass is
checked, and others are passed as they came.

The signature is read once, when the handler is registered (:func:`typed_handler`): a
handler with no such annotation is registered as it is, and its events cost nothing
more.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from ..exceptions import ClientArgumentsError, ConfigurationError, ConnectionRefusedError
from .handlers import is_async_callable

__all__ = ["MAX_DETAILS", "typed_handler"]

MAX_DETAILS = 20
"""Errors a client gets back at most (the first ones): a payload of a thousand bad items
is not answered with a thousand errors."""

Converter = Callable[[Any], Any]


class _Invalid(Exception):
    """A value that does not fit its annotation (with pydantic's shape of details)."""

    def __init__(self, details: list[dict[str, object]]) -> None:
        super().__init__(details)
        self.details = details


def _is_pydantic_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "model_validate")


def _is_dataclass_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _involves_model(annotation: Any) -> bool:
    """Whether ``annotation`` is, or contains, a pydantic model or a dataclass."""
    if _is_pydantic_model(annotation) or _is_dataclass_type(annotation):
        return True
    return any(_involves_model(arg) for arg in typing.get_args(annotation))


def _pydantic() -> Any:
    try:
        import pydantic
    except ImportError:
        return None
    return pydantic


def _converter(annotation: Any, where: str) -> Converter:
    """The function that validates and converts a value for ``annotation``."""
    pydantic = _pydantic()
    if pydantic is not None:
        adapter = pydantic.TypeAdapter(annotation)
        validation_error = pydantic.ValidationError

        def validate(value: Any) -> Any:
            try:
                return adapter.validate_python(value)
            except validation_error as exc:
                raise _Invalid(
                    [
                        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
                        for error in exc.errors(include_url=False, include_context=False)
                    ]
                ) from None

        return validate
    if _is_dataclass_type(annotation):
        return functools.partial(_dataclass_from, annotation)
    raise ConfigurationError(
        f"{where} is annotated with {annotation!r}: validating it needs pydantic "
        "(pip install flask-realtime[pydantic]); without it, annotate with a dataclass"
    )


_SIMPLE: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (float, int),
    bool: (bool,),
    list: (list,),
    dict: (dict,),
}


def _dataclass_from(cls: type, value: Any, loc: tuple[Any, ...] = ()) -> Any:
    """``cls(**value)``, checked as the module docstring says (no pydantic)."""
    if not isinstance(value, dict):
        raise _Invalid([{"loc": list(loc), "msg": "Input should be an object",
                         "type": "dataclass_type"}])  # fmt: skip
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    errors: list[dict[str, object]] = []
    kwargs: dict[str, Any] = {}
    for key in value:
        if key not in fields:
            errors.append({"loc": [*loc, key], "msg": "Unexpected field", "type": "unexpected"})
    for name, field in fields.items():
        if name not in value:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                errors.append({"loc": [*loc, name], "msg": "Field required", "type": "missing"})
            continue
        item = value[name]
        annotation = hints.get(name, Any)
        if _is_dataclass_type(annotation):
            try:
                item = _dataclass_from(annotation, item, (*loc, name))
            except _Invalid as exc:
                errors.extend(exc.details)
                continue
        else:
            accepted = _SIMPLE.get(annotation)
            if accepted is not None and (
                not isinstance(item, accepted)
                or (annotation is not bool and isinstance(item, bool))  # bool is an int
            ):
                errors.append({"loc": [*loc, name], "msg": f"Input should be {annotation.__name__}",
                               "type": f"{annotation.__name__}_type"})  # fmt: skip
                continue
        kwargs[name] = item
    if errors:
        raise _Invalid(errors)
    return cls(**kwargs)


def _plain(value: Any) -> Any:
    """A returned model or dataclass as its JSON form, in lists, tuples and dicts too;
    anything else as it is."""
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def typed_handler(fn: Callable[..., Any], event: str) -> Callable[..., Any]:
    """``fn`` wrapped to validate its typed parameters, or ``fn`` itself when it has none.

    Raises:
        ConfigurationError: an annotation that needs pydantic, which is not installed.
    """
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError):
        return fn  # no signature, or annotations that do not resolve: nothing to check
    positional: list[tuple[str, Converter | None]] = []
    rest: tuple[str, Converter] | None = None
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name)
        typed = annotation is not None and _involves_model(annotation)
        where = f"parameter {parameter.name!r} of the handler for {event!r}"
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if typed:
                rest = (parameter.name, _converter(annotation, where))
            break
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional.append((parameter.name, _converter(annotation, where) if typed else None))
    if rest is None and all(convert is None for _, convert in positional):
        return fn

    def convert(args: tuple[Any, ...]) -> tuple[Any, ...]:
        converted = list(args)
        errors: list[dict[str, object]] = []
        for index, value in enumerate(args):
            if index < len(positional):
                name, converter = positional[index]
            elif rest is not None:
                name, converter = f"{rest[0]}[{index - len(positional)}]", rest[1]
            else:
                break
            if converter is None:
                continue
            try:
                converted[index] = converter(value)
            except _Invalid as exc:
                errors.extend({**error, "loc": [name, *error["loc"]]}  # type: ignore[misc]
                              for error in exc.details)  # fmt: skip
        if errors:
            del errors[MAX_DETAILS:]
            if event == "connect":
                raise ConnectionRefusedError("invalid auth", {"details": errors})
            names = ", ".join(sorted({str(error["loc"][0]) for error in errors}))  # type: ignore[index]
            raise ClientArgumentsError(f"invalid arguments for {event!r}: {names}", errors)
        return tuple(converted)

    if is_async_callable(fn):

        @functools.wraps(fn)
        async def typed_async(*args: Any) -> Any:
            return _plain(await fn(*convert(args)))

        return typed_async

    @functools.wraps(fn)
    def typed_sync(*args: Any) -> Any:
        return _plain(fn(*convert(args)))

    return typed_sync
