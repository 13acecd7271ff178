"""Namespaces: registration, resolution of static/dynamic/"*" names, handler lookup."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server.namespace import HandlerSet, Namespace, NamespaceRegistry


def h(name: str) -> Any:
    def handler(*args: Any) -> str:  # pragma: no cover - identity only
        return name

    handler.__name__ = name
    return handler


def test_the_main_namespace_always_exists() -> None:
    registry = NamespaceRegistry()
    main = registry.get("/")
    assert main is not None
    assert registry.resolve("/", None) is main
    assert registry.resolve("/other", None) is None
    assert not main.transient


def test_listed_namespaces_exist_from_the_start() -> None:
    registry = NamespaceRegistry(["/a", "b"])
    assert registry.get("/a") is not None
    assert registry.get("/b") is not None


def test_registering_a_handler_creates_its_namespace() -> None:
    registry = NamespaceRegistry()
    registry.handlers("/chat").add("msg", h("msg"))
    chat = registry.resolve("/chat", None)
    assert chat is not None
    assert chat.name == "/chat"
    assert registry.handlers("chat") is chat.handlers
    assert registry.handlers(None) is registry.handlers("/")


def test_handler_lookup_priority() -> None:
    registry = NamespaceRegistry()
    own, own_all, any_ev, any_all = h("own"), h("own_all"), h("any_ev"), h("any_all")
    registry.handlers("/").add("ev", own)
    registry.handlers("/").add("*", own_all)
    registry.handlers("*").add("ev", any_ev)
    registry.handlers("*").add("other", any_ev)
    registry.handlers("*").add("*", any_all)
    main = registry.get("/")
    assert main is not None
    assert main.find_handler("ev", (1,)) == (own, (1,))
    assert main.find_handler("other", (1,)) == (own_all, ("other", 1))
    registry.handlers("/").catch_all = None
    assert main.find_handler("other", (1,)) == (any_ev, ("/", 1))
    assert main.find_handler("third", (1,)) == (any_all, ("third", "/", 1))


def test_catch_alls_never_get_lifecycle_events() -> None:
    registry = NamespaceRegistry()
    registry.handlers("/").add("*", h("own_all"))
    registry.handlers("*").add("*", h("any_all"))
    main = registry.get("/")
    assert main is not None
    assert main.find_handler("connect", (None,)) == (None, (None,))
    assert main.find_handler("disconnect", ("r",)) == (None, ("r",))


def test_a_connect_handler_for_every_namespace_gets_the_namespace() -> None:
    registry = NamespaceRegistry()
    connect = h("connect")
    registry.handlers("*").add("connect", connect)
    main = registry.get("/")
    assert main is not None
    assert main.find_handler("connect", ({"a": 1},)) == (connect, ("/", {"a": 1}))


def test_a_dynamic_pattern_matches_the_whole_name() -> None:
    registry = NamespaceRegistry()
    handlers = registry.add_dynamic(re.compile(r"/dyn-\d+"))
    child = registry.resolve("/dyn-12", None)
    assert child is not None
    assert child.handlers is handlers
    assert child.transient
    assert registry.resolve("/dyn-12", None) is child
    assert registry.resolve("/dyn-12x", None) is None
    assert registry.resolve("/x/dyn-1", None) is None


def test_declaring_a_dynamic_namespace_twice_gives_the_same_handlers() -> None:
    registry = NamespaceRegistry()

    def allow(name: str, auth: Any) -> bool:
        return True

    assert registry.add_dynamic(allow) is registry.handlers(allow)
    assert registry.add_dynamic(re.compile("/a")) is registry.add_dynamic(re.compile("/a"))


def test_dynamic_parents_are_tried_in_order() -> None:
    registry = NamespaceRegistry()
    first = registry.add_dynamic(re.compile(r"/a.*"))
    registry.add_dynamic(re.compile(r"/ab"))
    child = registry.resolve("/ab", None)
    assert child is not None
    assert child.handlers is first


def test_a_failing_dynamic_check_refuses(caplog: pytest.LogCaptureFixture) -> None:
    registry = NamespaceRegistry()

    def broken(name: str, auth: Any) -> bool:
        raise RuntimeError("check failed")

    registry.add_dynamic(broken)
    with caplog.at_level(logging.ERROR):
        assert registry.resolve("/x", None) is None
    assert "dynamic namespace check" in caplog.text


def test_star_accepts_any_name_with_no_handlers_of_its_own() -> None:
    registry = NamespaceRegistry("*")
    anything = registry.resolve("/anything", {"k": 1})
    assert anything is not None
    assert anything.handlers.events == {}
    assert anything.transient


def test_transient_namespaces_are_released_when_empty() -> None:
    registry = NamespaceRegistry("*")
    child = registry.resolve("/t", None)
    assert child is not None
    child.sockets["sid"] = object()  # type: ignore[assignment]
    registry.release(child)
    assert registry.get("/t") is child
    child.sockets.clear()
    registry.release(child)
    assert registry.get("/t") is None
    main = registry.get("/")
    assert main is not None
    registry.release(main)
    assert registry.get("/") is main


def test_ack_ids_count_up_per_namespace() -> None:
    any_handlers = HandlerSet()
    a = Namespace("/a", HandlerSet(), any_handlers, transient=False)
    b = Namespace("/b", HandlerSet(), any_handlers, transient=False)
    assert [a.next_ack_id(), a.next_ack_id(), b.next_ack_id()] == [0, 1, 0]
    assert repr(a) == "<Namespace /a sockets=0>"


def test_bad_registrations_are_configuration_errors() -> None:
    registry = NamespaceRegistry()
    with pytest.raises(ConfigurationError):
        registry.handlers(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        registry.add_dynamic("/x")  # type: ignore[arg-type]
