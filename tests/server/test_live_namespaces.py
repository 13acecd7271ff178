"""The handler registry and a server's live-namespace table: registration, resolution of
static/dynamic/"*" names, handler lookup."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server.live_namespaces import LiveNamespace, NamespaceTable
from flask_realtime.server.registry import HandlerRegistry, HandlerSet


def h(name: str) -> Any:
    def handler(*args: Any) -> str:  # pragma: no cover - identity only
        return name

    handler.__name__ = name
    return handler


def tables(accept: Any = None) -> tuple[HandlerRegistry, NamespaceTable]:
    registry = HandlerRegistry()
    return registry, NamespaceTable(registry, accept)


def test_the_main_namespace_always_exists() -> None:
    _registry, table = tables()
    main = table.get("/")
    assert main is not None
    assert table.resolve("/", None) is main
    assert table.resolve("/other", None) is None
    assert not main.transient


def test_listed_namespaces_exist_from_the_start() -> None:
    _registry, table = tables(["/a", "b"])
    assert table.get("/a") is not None
    assert table.get("/b") is not None


def test_registering_a_handler_creates_its_namespace() -> None:
    registry, table = tables()
    registry.handlers("/chat").add("msg", h("msg"))
    chat = table.resolve("/chat", None)
    assert chat is not None
    assert chat.name == "/chat"
    assert registry.handlers("chat") is chat.handlers
    assert registry.handlers(None) is registry.handlers("/")


def test_handler_lookup_priority() -> None:
    registry, table = tables()
    own, own_all, any_ev, any_all = h("own"), h("own_all"), h("any_ev"), h("any_all")
    registry.handlers("/").add("ev", own)
    registry.handlers("/").add("*", own_all)
    registry.handlers("*").add("ev", any_ev)
    registry.handlers("*").add("other", any_ev)
    registry.handlers("*").add("*", any_all)
    main = table.get("/")
    assert main is not None
    assert main.find_handler("ev", (1,)) == (own, (1,))
    assert main.find_handler("other", (1,)) == (own_all, ("other", 1))
    registry.handlers("/").catch_all = None
    assert main.find_handler("other", (1,)) == (any_ev, ("/", 1))
    assert main.find_handler("third", (1,)) == (any_all, ("third", "/", 1))


def test_catch_alls_never_get_lifecycle_events() -> None:
    registry, table = tables()
    registry.handlers("/").add("*", h("own_all"))
    registry.handlers("*").add("*", h("any_all"))
    main = table.get("/")
    assert main is not None
    assert main.find_handler("connect", (None,)) == (None, (None,))
    assert main.find_handler("disconnect", ("r",)) == (None, ("r",))


def test_a_connect_handler_for_every_namespace_gets_the_namespace() -> None:
    registry, table = tables()
    connect = h("connect")
    registry.handlers("*").add("connect", connect)
    main = table.get("/")
    assert main is not None
    assert main.find_handler("connect", ({"a": 1},)) == (connect, ("/", {"a": 1}))


def test_a_dynamic_pattern_matches_the_whole_name() -> None:
    registry, table = tables()
    handlers = registry.add_dynamic(re.compile(r"/dyn-\d+"))
    child = table.resolve("/dyn-12", None)
    assert child is not None
    assert child.handlers is handlers
    assert child.transient
    assert table.resolve("/dyn-12", None) is child
    assert table.resolve("/dyn-12x", None) is None
    assert table.resolve("/x/dyn-1", None) is None


def test_declaring_a_dynamic_namespace_twice_gives_the_same_handlers() -> None:
    registry, _table = tables()

    def allow(name: str, auth: Any) -> bool:
        return True

    assert registry.add_dynamic(allow) is registry.handlers(allow)
    assert registry.add_dynamic(re.compile("/a")) is registry.add_dynamic(re.compile("/a"))


def test_dynamic_parents_are_tried_in_order() -> None:
    registry, table = tables()
    first = registry.add_dynamic(re.compile(r"/a.*"))
    registry.add_dynamic(re.compile(r"/ab"))
    child = table.resolve("/ab", None)
    assert child is not None
    assert child.handlers is first


def test_a_failing_dynamic_check_refuses(caplog: pytest.LogCaptureFixture) -> None:
    registry, table = tables()

    def broken(name: str, auth: Any) -> bool:
        raise RuntimeError("check failed")

    registry.add_dynamic(broken)
    with caplog.at_level(logging.ERROR):
        assert table.resolve("/x", None) is None
    assert "dynamic namespace check" in caplog.text


def test_star_accepts_any_name_with_no_handlers_of_its_own() -> None:
    _registry, table = tables("*")
    anything = table.resolve("/anything", {"k": 1})
    assert anything is not None
    assert anything.handlers.events == {}
    assert anything.transient


def test_transient_namespaces_are_released_when_empty() -> None:
    _registry, table = tables("*")
    child = table.resolve("/t", None)
    assert child is not None
    child.sockets["sid"] = object()  # type: ignore[assignment]
    table.release(child)
    assert table.get("/t") is child
    child.sockets.clear()
    table.release(child)
    assert table.get("/t") is None
    main = table.get("/")
    assert main is not None
    table.release(main)
    assert table.get("/") is main


def test_ack_ids_count_up_per_namespace() -> None:
    any_handlers = HandlerSet()
    a = LiveNamespace("/a", HandlerSet(), any_handlers, transient=False)
    b = LiveNamespace("/b", HandlerSet(), any_handlers, transient=False)
    assert [a.next_ack_id(), a.next_ack_id(), b.next_ack_id()] == [0, 1, 0]
    assert repr(a) == "<LiveNamespace /a sockets=0>"


def test_bad_registrations_are_configuration_errors() -> None:
    registry, _table = tables()
    with pytest.raises(ConfigurationError):
        registry.handlers(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        registry.add_dynamic("/x")  # type: ignore[arg-type]


def test_tables_sharing_a_registry_see_later_registrations() -> None:
    registry = HandlerRegistry()
    first, second = NamespaceTable(registry), NamespaceTable(registry, ["/only-here"])
    assert first.resolve("/chat", None) is None
    registry.on("msg", h("msg"), "/chat")  # after both tables exist (another thread)
    chat_1, chat_2 = first.resolve("/chat", None), second.resolve("/chat", None)
    assert chat_1 is not None
    assert chat_2 is not None
    assert chat_1 is not chat_2  # live state is per table
    assert chat_1.handlers is chat_2.handlers  # handlers are the registry's
    assert second.get("/only-here") is not None
    assert first.get("/only-here") is None  # one server's option is not the other's


def test_a_name_accepted_by_option_gets_handlers_registered_later() -> None:
    registry, table = tables(["/late"])
    late = table.get("/late")
    assert late is not None
    registry.on("msg", h("msg"), "/late")
    assert late.find_handler("msg", ())[0] is not None


def test_the_error_handler_is_the_namespaces_own_else_the_default() -> None:
    registry = HandlerRegistry()
    own, default = h("own"), h("default")
    assert registry.error_handler(registry.handlers("/a")) is None
    registry.on_error(None, default)
    registry.on_error("/a", own)
    assert registry.error_handler(registry.handlers("/a")) is own
    assert registry.error_handler(registry.handlers("/b")) is default
