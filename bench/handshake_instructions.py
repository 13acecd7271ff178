"""Server instructions per long-polling session, counted by callgrind.

    ../.venv/bin/python handshake_instructions.py                 # /, /cdef, /casync
    ../.venv/bin/python handshake_instructions.py --server servers/lean_echo.py --cases /

What ``instructions.py`` does for an echo round trip, for a whole long-polling session as
``loadgen.js``'s polling handshake case makes it: open (``GET``), the namespace connect
(``POST 40``, or ``40/cdef,``), its answer (``GET``), close (``POST 1``), on one keep-alive
HTTP/1.1 connection. ``/`` has no connect handler in the bench server, ``/cdef`` a ``def``
one and ``/casync`` an ``async def`` one: the difference between the rows is what an app's
connect handler costs per session. Two windows of N1 and N2 sessions, counters zeroed before
and dumped after each, ``(I2 - I1) / (N2 - N1)`` per session; every thread counted, the
client (here, outside valgrind) not.

Bounded: every socket operation has a timeout, each window a fixed number of sessions, and the
server is stopped (SIGINT, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
from pathlib import Path

from instructions import (
    HERE,
    print_functions,
    start_under_callgrind,
    two_windows,
)
from switches import stop


class PollingClient:
    """Engine.IO long-polling sessions, one after another, on one keep-alive connection."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.n = 0

    def request(self, method: str, sid: str | None, body: bytes = b"") -> bytes:
        self.n += 1
        query = f"EIO=4&transport=polling&t={self.n:x}" + (f"&sid={sid}" if sid else "")
        head = f"{method} /socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        if b" 200 " not in lines[0]:
            raise RuntimeError(f"{method} answered {lines[0]!r}")
        sized = [line for line in lines if line.lower().startswith(b"content-length:")]
        length = int(sized[0].split(b":", 1)[1])
        while len(self.buf) < length:
            self._fill()
        answer, self.buf = self.buf[:length], self.buf[length:]
        return answer

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed the connection")
        self.buf += data

    def session(self, nsp: str) -> None:
        opened = self.request("GET", None)
        if not opened.startswith(b"0"):
            raise RuntimeError(f"no open packet: {opened[:80]!r}")
        sid = json.loads(opened[1:])["sid"]
        connect = b"40" if nsp == "/" else f"40{nsp},".encode()
        if self.request("POST", sid, connect) != b"ok":
            raise RuntimeError("the namespace connect was refused")
        for _ in range(4):
            packets = self.request("GET", sid).split(b"\x1e")
            if any(p.startswith(connect) for p in packets):
                break
        else:
            raise RuntimeError(f"no CONNECT answer for {nsp}")
        self.request("POST", sid, b"1")


def count_switches(args: argparse.Namespace, cases: list[str]) -> int:
    """``--switches``: context switches (and with ``--syscalls`` system calls) per session."""
    import switches

    server = switches.start_beside(args.python, args.server, args.port)
    port = args.port + 100  # start_beside's
    try:
        clients = [PollingClient(port, 30.0) for _ in range(args.clients)]

        def sessions(nsp: str, n: int) -> None:
            """``n`` sessions, shared by the clients, each client in a thread of its own."""
            errors: list[BaseException] = []

            def run(client: PollingClient, count: int) -> None:
                try:
                    for _ in range(count):
                        client.session(nsp)
                except BaseException as exc:  # reported below, in the caller
                    errors.append(exc)

            share, extra = divmod(n, len(clients))
            threads = [
                threading.Thread(target=run, args=(c, share + (i < extra)), daemon=True)
                for i, c in enumerate(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            if errors or any(thread.is_alive() for thread in threads):
                raise RuntimeError(f"a polling client failed: {errors[:1]}")

        for nsp in cases:
            sessions(nsp, args.warmup)
            counters = switches.count_window(
                server.pid, args.n2, lambda n, nsp=nsp: sessions(nsp, n), args.syscalls
            )
            print(f"{nsp:8s} {args.n2} polling sessions, {args.clients} client(s)")
            print(counters.report(), flush=True)
        for client in clients:
            client.sock.close()
    finally:
        switches.stop(server)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=str(HERE / "servers" / "flask_realtime_app.py"))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--port", type=int, default=5098)
    p.add_argument("--cases", default="/,/cdef,/casync", help="namespaces, comma-separated")
    p.add_argument("--warmup", type=int, default=100, help="sessions before measuring")
    p.add_argument("--n1", type=int, default=100)
    p.add_argument("--n2", type=int, default=500)
    p.add_argument("--functions", type=int, default=0, help="print the top K C functions")
    p.add_argument(
        "--switches",
        action="store_true",
        help="no callgrind: count context switches per session (switches.py), the server "
        "pinned to CPU 0, one window of --n2 sessions",
    )
    p.add_argument("--syscalls", action="store_true", help="with --switches: system calls too")
    p.add_argument(
        "--clients",
        type=int,
        default=1,
        help="with --switches: clients making sessions at once (threads of this process)",
    )
    args = p.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if args.switches:
        return count_switches(args, cases)

    outdir = Path(tempfile.mkdtemp(prefix="callgrind-"))
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(HERE.parent / "src"))
    command = [args.python, args.server, "--port", str(args.port)]
    server = start_under_callgrind(command, outdir, args.port, env)
    try:
        client = PollingClient(args.port, 120.0)
        for nsp in cases:
            for _ in range(args.warmup):
                client.session(nsp)
            totals, path = two_windows(
                server.pid,
                outdir,
                (args.n1, args.n2),
                lambda n, nsp=nsp: [client.session(nsp) for _ in range(n)],
            )
            per = (totals[1] - totals[0]) / (args.n2 - args.n1)
            print(
                f"{nsp:8s} {per / 1000:8.1f}k instructions per polling session"
                f"  (windows {args.n1}: {totals[0] / args.n1 / 1000:.1f}k,"
                f" {args.n2}: {totals[1] / args.n2 / 1000:.1f}k per session)",
                flush=True,
            )
            if args.functions:
                print_functions(path, args.n2, args.functions)
        client.sock.close()
    finally:
        stop(server)
        for f in outdir.glob("*"):
            f.unlink()
        outdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
