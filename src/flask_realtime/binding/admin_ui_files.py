"""The official admin UI's files, served by the app itself: ``instrument(serve_ui=True)``.

The files are the built UI of the npm package ``@socket.io/admin-ui`` (its ``ui/dist``),
with the Material Design icons of ``@mdi/font`` beside them instead of a CDN link.
``make admin-ui`` (part of ``make setup``) installs both with npm at the versions pinned
in ``tools/admin-ui/package-lock.json`` and copies them to ``static/admin-ui/`` of the
package (``tools/admin-ui/install.py``); the wheel ships that directory, so users of a
released package need neither npm nor a network. A checkout without them gets a
:class:`~flask_realtime.exceptions.ConfigurationError` that says to run ``make admin-ui``.

The page is served as the UI's own ``index.html`` with one script added first: it fills
the UI's connection form (server URL, Socket.IO path, admin namespace) with this
server's, unless the browser remembers other values.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask, Response

__all__ = ["UI_DIR", "serve_admin_ui", "ui_directory"]

UI_DIR = "admin-ui"
"""The directory of the UI's files in ``flask_realtime/static``."""


def ui_directory() -> Path:
    """Where the UI's files are.

    Raises:
        ConfigurationError: they are not installed (a source checkout: ``make admin-ui``).
    """
    folder = Path(str(resources.files("flask_realtime.static").joinpath(UI_DIR)))
    if not (folder / "index.html").is_file():
        raise ConfigurationError(
            f"the admin UI's files are not in {folder}: in a source checkout run "
            "`make admin-ui` (npm installs @socket.io/admin-ui); released wheels ship them"
        )
    return folder


def _defaults_script(socketio_path: str, namespace: str) -> str:
    settings = json.dumps({"path": socketio_path, "namespace": namespace})
    return (
        "<script>(function(){var s=" + settings + ";try{"
        "if(!localStorage.getItem('server_url')){localStorage.setItem('server_url',"
        "location.origin);localStorage.setItem('path',s.path);"
        "localStorage.setItem('namespace',s.namespace);}}catch(e){}})();</script>"
    )


def serve_admin_ui(app: Flask, url_path: str, socketio_path: str, namespace: str) -> None:
    """Serve the UI at ``url_path`` (``/admin-ui/``) of ``app``.

    Raises:
        ConfigurationError: the files are missing, or ``url_path`` is not a path.
    """
    from flask import redirect, send_from_directory

    if not url_path.startswith("/") or url_path == "/":
        raise ConfigurationError(f"the admin UI's path must be like '/admin-ui', not {url_path!r}")
    folder = ui_directory()
    base = url_path.rstrip("/")
    page = (folder / "index.html").read_text(encoding="utf-8")
    page = page.replace("<head>", "<head>" + _defaults_script(socketio_path, namespace), 1)

    def index() -> Response:
        from flask import Response

        return Response(page, mimetype="text/html", headers={"Cache-Control": "no-cache"})

    def asset(filename: str) -> Response:
        return send_from_directory(folder, filename, max_age=3600)

    def bare() -> Response:
        return redirect(base + "/", code=308)  # type: ignore[return-value]

    endpoint = "flask_realtime_admin_ui"
    app.add_url_rule(base, endpoint + "_bare", bare)
    app.add_url_rule(base + "/", endpoint, index)
    app.add_url_rule(base + "/<path:filename>", endpoint + "_asset", asset)
