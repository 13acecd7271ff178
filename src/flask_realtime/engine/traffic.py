"""The traffic counts instrumentation reads: Socket.IO messages and bytes, in and out.

An Engine.IO server counts into a :class:`Traffic` only once it is given one (its
``traffic`` attribute, set by ``server/observers.py`` for the metrics and the admin UI's
statistics); until then each message costs one ``traffic is None`` test.

Counted, a message costs one ``append`` of its length to :attr:`Traffic.received` or
:attr:`Traffic.sent`: about 330 instructions (callgrind), where two additions to
counters, which make two new integers, cost 800. The lists are summed into the totals
when read, and by :meth:`Traffic.fold`, which ``server/observers.py`` calls every second
while the server counts: they stay short and the counts exact.

A broadcast's messages are counted once for all their recipients, by the adapter that
writes them (:meth:`Traffic.broadcast`, which marks them ``counted`` so that no recipient's
send counts them again): a recipient then costs a test, not an append. The rare send that
does not happen after all (the session closing, a volatile message dropped) takes its
copy back (:meth:`Traffic.unsent`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .message import OutgoingMessage

__all__ = ["Traffic"]


class Traffic:
    """Socket.IO messages and their bytes: in (each MESSAGE a client sent) and out (each
    message the server wrote or queued for a client), since counting began.

    The engine appends each message's length to :attr:`received` or :attr:`sent`;
    readers read the properties (loop thread).
    """

    __slots__ = ("_bytes_in", "_bytes_out", "_messages_in", "_messages_out", "received",
                 "sent")  # fmt: skip

    def __init__(self) -> None:
        self.received: list[int] = []
        """The lengths of the messages in, not summed yet."""
        self.sent: list[int] = []
        """The lengths of the messages out, not summed yet."""
        self._messages_in = 0
        self._bytes_in = 0
        self._messages_out = 0
        self._bytes_out = 0

    def broadcast(self, messages: Collection[OutgoingMessage], recipients: int) -> None:
        """Count ``messages``, about to be sent to ``recipients`` clients each, and mark
        them counted (see the module docstring)."""
        for message in messages:
            message.counted = True
            self._messages_out += recipients
            self._bytes_out += recipients * len(message.data)

    def unsent(self, message: OutgoingMessage) -> None:
        """A counted message (:meth:`broadcast`) that one recipient's send dropped."""
        self._messages_out -= 1
        self._bytes_out -= len(message.data)

    def fold(self) -> None:
        """Sum the lengths listed into the totals, and empty the lists."""
        received, sent = self.received, self.sent
        self._messages_in += len(received)
        self._bytes_in += sum(received)
        received.clear()
        self._messages_out += len(sent)
        self._bytes_out += sum(sent)
        sent.clear()

    @property
    def messages_in(self) -> int:
        return self._messages_in + len(self.received)

    @property
    def bytes_in(self) -> int:
        return self._bytes_in + sum(self.received)

    @property
    def messages_out(self) -> int:
        return self._messages_out + len(self.sent)

    @property
    def bytes_out(self) -> int:
        return self._bytes_out + sum(self.sent)
