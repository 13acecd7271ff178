"""A small mutating fuzzer: cases made from seeds by the edits that break parsers.

Hypothesis finds the smallest failing input, but spends a millisecond or more per case;
the long runs (``run.py``) need millions of cases, so they draw them here: a seed, then
one to four edits (flip a bit, put an interesting byte or number, insert, delete, repeat
or splice a run, truncate), all from one seeded ``random.Random`` so a run repeats.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

__all__ = ["Mutator"]

_INTERESTING = [
    b"\x00", b"\xff", b"\x1e", b":", b",", b"-", b"/", b"[", b"]", b"{", b"}", b'"', b"\\",
    b"\\u", b"\\ud800", b"b", b"0", b"9", b"-1", b"4294967296", b"99999999999999999999",
    b"\r\n", b"\r\n\r\n", b" ", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"null", b"true",
    b'{"_placeholder":true,"num":0}', b"%", b"?", b"=", b"&", b"\x80", b"\x7f",
    b"Content-Length: ", b"Transfer-Encoding: chunked\r\n", b"Upgrade: websocket\r\n",
]  # fmt: skip


class Mutator:
    """Makes cases from ``seeds`` (and from random bytes, now and then)."""

    def __init__(self, seeds: Sequence[bytes], seed: int, *, max_size: int = 4096) -> None:
        self.seeds = list(seeds) or [b""]
        self.random = random.Random(seed)
        self.max_size = max_size
        self._edits: list[Callable[[bytearray], None]] = [
            self._flip, self._interesting, self._insert, self._delete, self._repeat,
            self._splice, self._truncate, self._byte,
        ]  # fmt: skip

    def case(self) -> bytes:
        rnd = self.random
        if rnd.random() < 0.05:
            return rnd.randbytes(rnd.randrange(64))
        data = bytearray(rnd.choice(self.seeds))
        for _ in range(rnd.randrange(1, 5)):
            rnd.choice(self._edits)(data)
        return bytes(data[: self.max_size])

    def _at(self, data: bytearray) -> int:
        return self.random.randrange(len(data) + 1)

    def _flip(self, data: bytearray) -> None:
        if data:
            at = self.random.randrange(len(data))
            data[at] ^= 1 << self.random.randrange(8)

    def _byte(self, data: bytearray) -> None:
        if data:
            data[self.random.randrange(len(data))] = self.random.randrange(256)

    def _interesting(self, data: bytearray) -> None:
        at = self._at(data)
        token = self.random.choice(_INTERESTING)
        if self.random.random() < 0.5:
            data[at : at + len(token)] = token  # overwrite
        else:
            data[at:at] = token

    def _insert(self, data: bytearray) -> None:
        at = self._at(data)
        data[at:at] = self.random.randbytes(self.random.randrange(1, 9))

    def _delete(self, data: bytearray) -> None:
        if data:
            at = self.random.randrange(len(data))
            del data[at : at + self.random.randrange(1, 9)]

    def _repeat(self, data: bytearray) -> None:
        if data:
            at = self.random.randrange(len(data))
            run = data[at : at + self.random.randrange(1, 5)]
            data[at:at] = run * self.random.randrange(2, 300)

    def _splice(self, data: bytearray) -> None:
        other = self.random.choice(self.seeds)
        if other:
            start = self.random.randrange(len(other))
            at = self._at(data)
            data[at:at] = other[start : start + self.random.randrange(1, 64)]

    def _truncate(self, data: bytearray) -> None:
        if data:
            del data[self.random.randrange(len(data)) :]
