"""``flask run`` for apps with Socket.IO: our server instead of Werkzeug's.

Flask loads the commands of the ``flask.commands`` entry point group after its own, so a
command registered there as ``run`` takes the place of Flask's (Flask-SocketIO did the
same before it dropped its command)::

    [project.entry-points."flask.commands"]
    run = "flask_realtime.cli:run"

The command takes exactly the options of Flask's ``run``. For an app that has a
``SocketIO`` it serves the app as ``socketio.run(app, ...)`` would, so ``flask --app chat
run --debug`` serves the routes and Socket.IO, with the reloader and the debugger; for any
other app it hands over to Flask's own command, unchanged.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import ScriptInfo, run_command
from flask.helpers import get_debug_flag

from .service import service_of
from .serving import run as serve_app

__all__ = ["run"]


def _run(
    host: str,
    port: int,
    reload: bool | None,
    debugger: bool | None,
    with_threads: bool,
    cert: Any,
    extra_files: list[str] | None,
    exclude_patterns: list[str] | None,
    workers: int,
    **others: Any,
) -> None:
    ctx = click.get_current_context()
    info = ctx.ensure_object(ScriptInfo)
    app = info.load_app()
    service = service_of(app)
    if service is None:
        if workers != 1:
            raise click.UsageError("--workers needs an app with a SocketIO")
        # No SocketIO in this app: Flask's own command, with the same arguments.
        ctx.invoke(
            run_command, host=host, port=port, reload=reload, debugger=debugger,
            with_threads=with_threads, cert=cert, extra_files=extra_files,
            exclude_patterns=exclude_patterns, **others,
        )  # fmt: skip
        return
    debug = get_debug_flag()
    reloader_options: dict[str, Any] = {}
    if extra_files:
        reloader_options["extra_files"] = extra_files
    if exclude_patterns:
        reloader_options["exclude_patterns"] = exclude_patterns
    use_debugger = debug if debugger is None else debugger
    serve_app(
        service,
        host,
        port,
        {
            "debug": use_debugger,
            "use_reloader": debug if reload is None else reload,
            "reloader_options": reloader_options,
            "log_output": True,
            "ssl_context": cert,
            "workers": workers,
        },
    )


run = click.Command(
    "run",
    callback=_run,
    params=[
        *run_command.params,
        click.Option(
            ["--workers", "-w"],
            type=click.IntRange(1, 1024),
            default=1,
            show_default=True,
            help="Worker processes serving the port, one cluster: no Redis and no sticky "
            "sessions needed on one machine. Not with the reloader (--no-reload).",
        ),
    ],
    help="Run the app with Socket.IO on flask-realtime's server.\n\n"
    "The reloader and debugger are enabled by default with the '--debug' option. "
    "Apps without SocketIO run on Flask's development server, as with Flask's command.",
    short_help="Run a server (with Socket.IO).",
)
"""The ``flask run`` command (see the module docstring)."""
