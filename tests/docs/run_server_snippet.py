"""Run a documentation snippet that serves, on the port given: ``python this.py PORT app.py``.

The snippet's ``socketio.run(app, ...)`` is kept as written (its other arguments
included); only the address is replaced, so that the tests can run it beside others.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any

from flask_realtime import SocketIO

PORT = int(sys.argv[1])
_run = SocketIO.run


def _run_here(self: SocketIO, app: Any, host: Any = None, port: Any = None, **kwargs: Any) -> None:
    _run(self, app, "127.0.0.1", PORT, **kwargs)


SocketIO.run = _run_here  # type: ignore[method-assign]
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
