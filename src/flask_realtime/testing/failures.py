"""What should fail a test: a handler's exception, or an ack that cannot be sent.

The server only logs these; a test should fail on them, as with Flask-SocketIO's test
client, whose handlers run in the test's own thread. Ours run on the app's workers, so the
client collects them from the app's feed of handler outcomes (on the loop thread) and
raises the first in the test's thread once the server has settled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..exceptions import ConfigurationError, ConnectionRefusedError
from ..protocol.socketio import Packet, PacketType
from ..server.acks import ack_args

if TYPE_CHECKING:
    from ..binding.outcomes import Outcome
    from ..protocol.parsers import Parser

__all__ = ["Failures"]


class Failures:
    """The failures of one test client's connection.

    Args:
        parser: the app's parser (an ack the client asked for must encode with it).
        current_session: the Engine.IO session id of the client's connection now.
    """

    def __init__(self, parser: Parser, current_session: Callable[[], str | None]) -> None:
        self._parser = parser
        self._current_session = current_session
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []

    def record(self, error: BaseException) -> None:
        """Keep ``error`` for the test (any thread)."""
        with self._lock:
            self._errors.append(error)

    def raise_first(self) -> None:
        """Raise the first failure kept since the last call, if any (the test's thread)."""
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def on_outcome(self, outcome: Outcome) -> None:
        """A handler call of the app finished (loop thread): keep what fails this test.

        A refusal is not a failure (it is the client's ``connect_error``).
        """
        if outcome.eio_sid != self._current_session():
            return
        error = outcome.error
        if error is not None:
            if not isinstance(error, ConnectionRefusedError):
                self.record(error)
            return
        if outcome.ack_id is None:
            return
        ack = Packet(PacketType.ACK, outcome.namespace, ack_args(outcome.result), outcome.ack_id)
        try:
            self._parser.encode(ack)
        except ConfigurationError as exc:
            self.record(exc)
