"""python-socketio's threaded client, made to handle a connection's messages in order.

python-engineio's ``Client`` hands every message it receives to a new thread. Two messages
can then be handled in either order: a binary packet's attachments can overtake each other
or their head (python-socketio then calls an event handler with ``None``, or raises
"Unexpected binary attachment", a known race of that client), and events can reach the
handlers out of the order the server sent them. Tests that check what arrived, and in
which order, make their clients handle messages one after another, in the thread that
reads them, as the JavaScript client does.
"""

from __future__ import annotations

from typing import Any

import socketio

__all__ = ["in_order"]


def in_order(client: socketio.Client) -> socketio.Client:
    """``client``, handling its messages in the order they arrive (before connecting).

    Its event handlers then run in the reader thread: they must not wait for the server
    (no ``client.call`` inside a handler).
    """
    eio = client.eio
    trigger = eio._trigger_event

    def trigger_in_order(event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return trigger(event, *args, **kwargs)

    eio._trigger_event = trigger_in_order
    return client
