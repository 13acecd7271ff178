"""The API reference cannot fall behind the code: every public name has an entry in the
built page, every option a row in its table, every HTTP limit a row in limits.md.

The site is built once for this module (Sphinx, as ``make docs`` builds it, warnings
being errors), into a temporary directory.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

import flask_realtime
from flask_realtime import Namespace, SocketIO, SocketIOTestClient
from flask_realtime.binding.options import VALID_NAMES
from flask_realtime.binding.serving import RUN_OPTIONS
from flask_realtime.emitter import Emitter
from flask_realtime.runtime import Limits

from .snippets import DOCS

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def api_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
         str(out)],
        capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    return (out / "api.html").read_text(encoding="utf-8")


def _entries(html: str) -> set[str]:
    return set(re.findall(r'<dt class="[^"]*" id="([\w.]+)"', html))


# Public for the package's own modules, left out of the reference on purpose.
LEFT_OUT = {
    "flask_realtime.SocketIO": {"service_for"},  # the binding's per-app object
    "flask_realtime.Namespace": {"handlers"},  # what on_namespace() registers
}


def _public(cls: type) -> list[str]:
    return [name for name in vars(cls) if not name.startswith("_")] + [
        name
        for base in cls.__mro__[1:-1]
        if base.__module__.startswith("flask_realtime")
        for name in vars(base)
        if not name.startswith("_")
    ]


def test_every_public_name_has_an_entry(api_page: str) -> None:
    entries = _entries(api_page)
    missing = []
    for name in [*flask_realtime.__all__, "GunicornWorker", "__version__"]:
        obj = getattr(flask_realtime, name)
        where = {f"flask_realtime.{name}", f"{getattr(obj, '__module__', '')}.{name}"}
        if not where & entries:
            missing.append(name)
    assert missing == [], f"not in docs/api.md: {missing}"


@pytest.mark.parametrize(
    ("cls", "qualified"),
    [
        (SocketIO, "flask_realtime.SocketIO"),
        (Namespace, "flask_realtime.Namespace"),
        (SocketIOTestClient, "flask_realtime.SocketIOTestClient"),
        (Emitter, "flask_realtime.emitter.Emitter"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_public_method_has_an_entry(api_page: str, cls: type, qualified: str) -> None:
    entries = _entries(api_page)
    names = sorted(set(_public(cls)))
    assert names, cls
    left_out = LEFT_OUT.get(qualified, set())
    missing = [n for n in names if n not in left_out and f"{qualified}.{n}" not in entries]
    assert missing == [], f"{qualified}: not in the API reference: {missing}"


def test_the_new_methods_are_documented_with_their_arguments(api_page: str) -> None:
    # The signatures in the page are the code's: a keyword added later shows up.
    for method, keyword in [
        (SocketIO.asgi_app, "sticky_sessions"),
        (SocketIO.instrument, "serve_ui"),
        (SocketIO.metrics, "max_event_names"),
        (SocketIO.log_connections, "payloads"),
    ]:
        assert keyword in inspect.signature(method).parameters
        entry = api_page.split(f'id="flask_realtime.SocketIO.{method.__name__}"', 1)[1]
        assert keyword in entry.split("</dt>", 1)[0], method.__name__


def test_run_documents_its_keywords(api_page: str) -> None:
    entry = api_page.split('id="flask_realtime.SocketIO.run"', 1)[1].split("</dd>", 1)[0]
    documented = set(re.findall(r'<span class="pre">(\w+)</span>', entry))
    assert sorted(RUN_OPTIONS - {"allow_unsafe_werkzeug"} - documented) == []


@pytest.mark.parametrize("page", [DOCS / "api.md", DOCS.parent / "README.md"], ids=lambda p: p.name)
def test_every_option_has_a_row(page: Path) -> None:
    table = page.read_text(encoding="utf-8").split("## Options", 1)[1].split("\n## ", 1)[0]
    rows = {m for row in table.splitlines() if row.startswith("| `") for m in
            re.findall(r"`(\w+)`", row.split("|")[1])}  # fmt: skip
    assert sorted(VALID_NAMES - rows) == [], f"options missing from {page.name}'s table"
    assert sorted(rows - VALID_NAMES - {"resource"}) == [], "rows for options that do not exist"


def test_every_http_limit_has_a_row() -> None:
    text = (DOCS / "limits.md").read_text(encoding="utf-8")
    missing = [f.name for f in fields(Limits) if f"`{f.name}`" not in text]
    assert missing == [], f"not in docs/limits.md: {missing}"


def test_the_site_names_the_documented_version(api_page: str) -> None:
    assert flask_realtime.__version__ in api_page


def test_every_metric_has_a_row() -> None:
    # The metrics an app exports, scraped, against the table of observability.md.
    from flask import Flask

    app = Flask(__name__)
    socketio = SocketIO(app)
    socketio.metrics()
    socketio.on_event("echo", lambda data: data)
    client = socketio.test_client(app)
    assert client.emit("echo", 1, callback=True) == 1
    scraped = app.test_client().get("/metrics").get_data(as_text=True)
    exported = set(re.findall(r"^# TYPE (\w+)", scraped, re.M))
    assert "socketio_events_received_total" in exported
    table = (DOCS / "observability.md").read_text(encoding="utf-8")
    table = table.split("## Prometheus metrics", 1)[1].split("\n## ", 1)[0]
    rows = {name for row in table.splitlines() if row.startswith("| `")
            for name in re.findall(r"`(socketio_\w+)`", row.split("|")[1])}  # fmt: skip
    assert sorted(exported - rows) == [], "metrics missing from observability.md"
    assert sorted(rows - exported) == [], "rows for metrics that are not exported"


def _defaults() -> dict[str, object]:
    from flask_realtime.binding.options import SocketIOOptions
    from flask_realtime.engine import EngineOptions

    found: dict[str, object] = {}
    for cls in (SocketIOOptions, EngineOptions):
        for spec in fields(cls):
            if spec.default is not MISSING:
                found[spec.name] = spec.default
    return found


@pytest.mark.parametrize("page", [DOCS / "api.md", DOCS.parent / "README.md"], ids=lambda p: p.name)
def test_the_written_defaults_are_the_code_s(page: Path) -> None:
    table = page.read_text(encoding="utf-8").split("## Options", 1)[1].split("\n## ", 1)[0]
    defaults = _defaults()
    checked = []
    for row in table.splitlines():
        cells = row.split("|")
        if not row.startswith("| `") or len(cells) < 4:
            continue
        names = re.findall(r"`(\w+)`", cells[1])
        written = re.findall(r"`([^`]+)`", cells[2])
        if len(names) != len(written):
            continue  # a default in words ("same origin", "16 MiB")
        for name, text in zip(names, written, strict=True):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                continue
            if name in defaults and not isinstance(defaults[name], tuple):
                assert value == defaults[name], f"{page.name}: {name} = {text}"
                checked.append(name)
    assert len(checked) >= 20, checked
