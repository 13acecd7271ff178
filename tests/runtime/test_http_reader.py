"""RequestReader: the header names of a request, as the server's other layers read them."""

from __future__ import annotations

from typing import Any

from flask_realtime.runtime.http import reader as reader_module
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.http.reader import RequestReader


class Sink:
    """Keeps the requests a reader parsed."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def on_request(self, request: Request, **details: Any) -> int | None:
        self.requests.append(request)
        return None

    def on_body(self, data: bytes) -> None:
        pass

    def on_message_complete(self) -> None:
        pass

    def on_reject(self, status: int, message: str, request: Request | None) -> None:
        raise AssertionError(f"rejected: {status} {message}")


def test_header_names_are_lower_case_every_time_and_the_names_kept_are_bounded() -> None:
    # The lower-case text of each name is remembered (clients repeat their names); a
    # client inventing names cannot grow that table past its bound, and names stay right.
    sink = Sink()
    reader = RequestReader(sink, Limits(), ("127.0.0.1", 1), "http")
    head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: 1\r\nx-mixed-case: 2\r\n\r\n"
    for _ in range(2):  # the second time from the table
        reader.feed(head)
    for request in sink.requests:
        assert request.headers == [("host", "h"), ("x-mixed-case", "1"), ("x-mixed-case", "2")]
    for n in range(reader_module._NAMES_KEPT * 2):
        reader.feed(f"GET / HTTP/1.1\r\nHost: h\r\nX-N{n}: v\r\n\r\n".encode())
        assert sink.requests[-1].headers[-1] == (f"x-n{n}", "v")
    assert len(reader_module._NAMES) <= reader_module._NAMES_KEPT
    reader.release()
