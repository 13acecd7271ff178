"""``ASGIApp`` under a real uvicorn, real clients over 127.0.0.1: the Flask app through
a2wsgi on the same port, and the client file."""

from __future__ import annotations

from importlib import resources

import pytest
import requests

from flask_realtime.engine import EngineOptions

from .asgi_support import DEADLINE, Served, make_flask_app
from .engineio_support import QUIET, Serve, handshake

pytestmark = pytest.mark.usefixtures("_no_server_errors")


def test_flask_routes_on_the_same_port(quiet: Served) -> None:
    served = quiet
    with requests.Session() as http:
        hello = http.get(served.url + "/hello", timeout=DEADLINE)
        assert (hello.status_code, hello.text) == (200, "hello from flask")
        body = bytes(range(256)) * 40
        echoed = http.post(served.url + "/echo", data=body, timeout=DEADLINE)
        assert (echoed.status_code, echoed.content) == (200, body)
        missing = http.get(served.url + "/nowhere", timeout=DEADLINE)
        assert missing.status_code == 404
        assert "Not Found" in missing.text  # Flask's page, not ours
    assert handshake(served)["sid"]


def test_without_a_wsgi_app_other_paths_are_404(serve: Serve) -> None:
    served = serve()
    response = requests.get(served.url + "/hello", timeout=DEADLINE)
    assert (response.status_code, response.text) == (404, "not found")


@pytest.mark.parametrize(("options", "url_path"), [(QUIET, "/engine.io/"), (None, "/socket.io/")])
def test_client_file_with_etag(serve: Serve, options: EngineOptions | None, url_path: str) -> None:
    served = serve(options or EngineOptions(), wsgi_app=make_flask_app())
    expected = resources.files("flask_realtime.static").joinpath("socket.io.js").read_bytes()
    url = served.url + url_path + "socket.io.js"
    with requests.Session() as http:
        first = http.get(url, timeout=DEADLINE)
        assert first.status_code == 200
        assert first.headers["Content-Type"].startswith("text/javascript")
        assert first.content == expected
        etag = first.headers["ETag"]
        assert etag.startswith('"')
        again = http.get(url, headers={"If-None-Match": etag}, timeout=DEADLINE)
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["ETag"] == etag
        stale = http.get(url, headers={"If-None-Match": '"stale"'}, timeout=DEADLINE)
        assert (stale.status_code, stale.content) == (200, expected)


def test_client_file_not_served_when_disabled(serve: Serve) -> None:
    served = serve(serve_client=False)
    response = requests.get(served.url + "/engine.io/socket.io.js", timeout=DEADLINE)
    assert response.status_code == 400  # an Engine.IO request without EIO
    assert response.json()["code"] == 5
