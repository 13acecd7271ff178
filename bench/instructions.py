"""Server instructions per echo round trip, counted by callgrind: repeatable where time is not.

    ../.venv/bin/python instructions.py                       # emit/ack x def/async, 10 clients
    ../.venv/bin/python instructions.py --cases aecho --functions 25
    ../.venv/bin/python instructions.py --server servers/lean_echo.py

Wall-clock figures on a shared 2-core machine move by tens of percent; the number of
instructions the server executes per round trip does not. This runs the real bench server
(``servers/flask_realtime_app.py``, or ``--server``) under ``valgrind --tool=callgrind`` and
drives it with a small raw-socket client of its own (blocking sockets, one message in flight
per client, as ``loadgen.js`` does). For each case it warms up, then measures two windows of
N1 and N2 round trips: before each window the counters are zeroed (``callgrind_control -z``),
after it they are dumped (``callgrind_control -d``). ``(I2 - I1) / (N2 - N1)`` is the cost of
one round trip with the fixed cost of a window (the zeroing and dumping themselves, a stray
timer) cancelled out. Every thread of the server is counted (a ``def`` handler runs in a
worker thread); the client runs outside valgrind and is not counted.

``--functions K`` also prints, for the N2 window of each case, the K C functions with the
largest inclusive counts per round trip (``callgrind_annotate --inclusive=yes``): where the
interpreter, orjson, uvloop, the locks of the thread hop and the system calls spend. Python
functions are not visible to callgrind (they are all ``_PyEval_EvalFrameDefault``); the
per-layer table of docs/performance.md was made by comparing the counts of variants.

Bounded: every socket read has a deadline, each window is a fixed number of round trips, and
the server is stopped (SIGINT, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import switches

HERE = Path(__file__).resolve().parent
CASES = {  # case -> (event, with an ack)
    "echo": ("echo", False),
    "aecho": ("aecho", False),
    "echo_ack": ("echo_ack", True),
    "aecho_ack": ("aecho_ack", True),
}
PAYLOAD = '{"msg":"' + "x" * 64 + '"}'


def frame(payload: bytes) -> bytes:
    """A client text frame with an all-zero mask (the payload goes as is)."""
    n = len(payload)
    size = bytes((0x80 | n,)) if n < 126 else bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    return b"\x81" + size + b"\0\0\0\0" + payload


class Client:
    """One WebSocket Socket.IO client on a blocking socket, with a read buffer."""

    def __init__(self, port: int, deadline: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=deadline)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"no upgrade: {head[:200]!r}")
        if not self.message().startswith(b"0"):
            raise RuntimeError("no Engine.IO open packet")
        self.sock.sendall(frame(b"40"))
        if not self.message().startswith(b"40"):
            raise RuntimeError("no Socket.IO connect")

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed the connection")
        self.buf += data

    def try_message(self) -> bytes | None:
        """One complete server frame's payload from the buffer (no mask, no fragments)."""
        buf = self.buf
        if len(buf) < 2:
            return None
        n = buf[1] & 0x7F
        start = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, start = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, start = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < start + n:
            return None
        self.buf = buf[start + n :]
        return buf[start : start + n]

    def message(self) -> bytes:
        """The next message, answering Engine.IO pings on the way."""
        while True:
            msg = self.try_message()
            if msg is None:
                self._fill()
                continue
            if msg == b"2":
                self.sock.sendall(frame(b"3"))
                continue
            return msg


def run_window(clients: list[Client], event: str, ack: bool, total: int, timeout: float) -> None:
    """``total`` round trips over the clients, one message in flight per client."""
    body = f'["{event}",{PAYLOAD}]'.encode()
    out = frame((b"421" if ack else b"42") + body)
    expect = b"431[" if ack else b'42["' + event.encode()
    sel = selectors.DefaultSelector()
    sent = 0
    for c in clients:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
        if sent < total:
            c.sock.sendall(out)
            sent += 1
    done = 0
    deadline = time.monotonic() + timeout
    while done < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"window timed out after {done}/{total} round trips")
        for key, _ in sel.select(1.0):
            c = key.data
            try:
                c._fill()
            except BlockingIOError:
                continue
            while (msg := c.try_message()) is not None:
                if msg == b"2":
                    c.sock.sendall(frame(b"3"))
                    continue
                if not msg.startswith(expect):
                    raise RuntimeError(f"unexpected reply {msg[:80]!r}")
                done += 1
                if sent < total:
                    c.sock.sendall(out)
                    sent += 1
    sel.close()
    for c in clients:
        c.sock.setblocking(True)


def callgrind_control(flag: str, pid: int) -> None:
    subprocess.run(
        ["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=120
    )


def dumped_total(outdir: Path, pid: int, before: set[Path]) -> tuple[int, Path]:
    """The instruction total of the dump that appeared since ``before``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = sorted(set(outdir.glob(f"callgrind.out.{pid}*")) - before)
        for path in new:
            text = path.read_text(errors="replace")
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if m:
                return int(m.group(1)), path
        time.sleep(0.2)
    raise RuntimeError("no callgrind dump appeared")


def two_windows(
    pid: int, outdir: Path, sizes: tuple[int, int], run: Callable[[int], object]
) -> tuple[list[int], Path]:
    """The instruction totals of two windows, ``run(n)`` for each size with the counters
    zeroed before and dumped after, and the path of the last dump."""
    totals = []
    path = outdir
    for n in sizes:
        before = set(outdir.glob("callgrind.out.*"))
        callgrind_control("-z", pid)
        run(n)
        callgrind_control("-d", pid)
        total, path = dumped_total(outdir, pid, before)
        totals.append(total)
    return totals, path


# Inclusive counts of these C functions (and what they call) are printed with --functions:
# the pieces of a round trip that callgrind can name.
INCLUSIVE = {
    "orjson.loads": r"^loads$",
    "orjson.dumps": r"^dumps$",
    "thread hop (locks, futex)": (
        r"^(?:pthread_cond_\w+|sem_\w+|futex\w*|PyThread_(?:acquire|release)_lock\w*)"
    ),
    "gc": r"^gc_collect_main$",
    "malloc/free": r"^(?:malloc|free|_int_malloc|_int_free)$",
}


def annotate(path: Path, inclusive: bool) -> list[tuple[int, str]]:
    """``callgrind_annotate`` rows: (count, function), largest first."""
    out = subprocess.run(
        [
            "callgrind_annotate",
            f"--inclusive={'yes' if inclusive else 'no'}",
            "--threshold=100",
            str(path),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) (?:\([^)]*\))?\s*(\S.*)$", line)
        if m and ":" in m.group(2) and "PROGRAM TOTALS" not in m.group(2):
            name = re.sub(r" \[.*\]$", "", m.group(2).strip())
            name = name.rsplit("/", 1)[-1]  # the file's directory is noise
            rows.append((int(m.group(1).replace(",", "")), name))
    rows.sort(reverse=True)
    return rows


def print_functions(path: Path, per: int, k: int) -> None:
    """The ``k`` largest self counts, then the named pieces' inclusive counts, per round trip."""
    print("    self (exclusive) instructions per round trip:")
    rows = annotate(path, False)
    # A dump taken mid-run credits the frames open at the zeroing with everything: skip.
    top = [(c, n) for c, n in rows if c < 0.9 * rows[0][0]] if rows else []
    for count, name in top[:k]:
        print(f"    {count / per / 1000:8.1f}k  {name[:100]}")
    rows = annotate(path, True)
    print("    inclusive, by piece (a function counted once, at its outermost call):")
    for label, pattern in INCLUSIVE.items():
        hits = [(c, n) for c, n in rows if re.search(pattern, n.split(":", 1)[-1].split("'")[0])]
        # Recursion shows as name'2: count only the outermost of each function.
        best: dict[str, int] = {}
        for c, n in hits:
            base = n.split("'")[0]
            best[base] = max(best.get(base, 0), c)
        top = max(best.values(), default=0) if label == "gc" else sum(best.values())
        print(f"    {top / per / 1000:8.1f}k  {label}")


def print_layers(path: Path, per: int) -> None:
    """Each layer's inclusive count per round trip, in the order of a round trip."""
    import instruction_layers

    found = instruction_layers.layer_rows(annotate(path, True))
    print("    layer (inclusive: what it calls included) per round trip:")
    for name, target in instruction_layers.LAYERS:
        if name in found:
            print(f"    {found[name] / per / 1000:8.1f}k  {name:20s} {target.split(':')[1]}")


def start_under_callgrind(
    command: list[str], outdir: Path, port: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The server ``command`` started under callgrind (dumps in ``outdir``), once it
    accepts connections on ``port`` (at most 180 s: callgrind starts Python slowly)."""
    callgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outdir}/callgrind.out.%p"]
    return switches.start_listening([*callgrind, *command], port, env, 180.0, 0.5)


def count_switches(args: argparse.Namespace, cases: list[str]) -> int:
    """``--switches``: context switches (and with ``--syscalls`` system calls) per round trip."""
    server = switches.start_beside(args.python, args.server, args.port)
    port = args.port + 100  # start_beside's
    try:
        clients = [Client(port, 30.0) for _ in range(args.clients)]
        for case in cases:
            event, ack = CASES[case]
            run_window(clients, event, ack, args.warmup, args.timeout)
            counters = switches.count_window(
                server.pid,
                args.n2,
                lambda n, event=event, ack=ack: run_window(clients, event, ack, n, args.timeout),
                args.syscalls,
            )
            print(f"{case:10s} {args.n2} round trips, {args.clients} clients")
            print(counters.report(), flush=True)
        for c in clients:
            c.sock.close()
    finally:
        switches.stop(server)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=str(HERE / "servers" / "flask_realtime_app.py"))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--port", type=int, default=5099)
    p.add_argument("--cases", default="echo,aecho,echo_ack,aecho_ack")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--warmup", type=int, default=300, help="round trips before measuring")
    p.add_argument("--n1", type=int, default=200)
    p.add_argument("--n2", type=int, default=1200)
    p.add_argument("--functions", type=int, default=0, help="print the top K C functions")
    p.add_argument(
        "--layers",
        action="store_true",
        help="count per layer (instruction_layers.py: wrappers through named C functions)",
    )
    p.add_argument("--keep", action="store_true", help="keep the callgrind dumps")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per window at most")
    p.add_argument(
        "--switches",
        action="store_true",
        help="no callgrind: count context switches per round trip (switches.py), the "
        "server pinned to CPU 0, one window of --n2 round trips",
    )
    p.add_argument("--syscalls", action="store_true", help="with --switches: system calls too")
    args = p.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}: one of {', '.join(CASES)}")
    if args.switches:
        return count_switches(args, cases)

    outdir = Path(tempfile.mkdtemp(prefix="callgrind-"))
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(HERE.parent / "src"))
    command = [args.python, args.server, "--port", str(args.port)]
    if args.layers:
        import instruction_layers

        instruction_layers.build(outdir)
        command[1:1] = [str(HERE / "instruction_layers.py"), str(outdir)]
    server = start_under_callgrind(command, outdir, args.port, env)
    results: dict[str, float] = {}
    try:
        clients = [Client(args.port, 120.0) for _ in range(args.clients)]
        for case in cases:
            event, ack = CASES[case]
            run_window(clients, event, ack, args.warmup, args.timeout)
            totals, path = two_windows(
                server.pid,
                outdir,
                (args.n1, args.n2),
                lambda n, event=event, ack=ack: run_window(clients, event, ack, n, args.timeout),
            )
            per = (totals[1] - totals[0]) / (args.n2 - args.n1)
            results[case] = per
            print(
                f"{case:10s} {per / 1000:8.1f}k instructions per round trip"
                f"  (windows {args.n1}: {totals[0] / args.n1 / 1000:.1f}k,"
                f" {args.n2}: {totals[1] / args.n2 / 1000:.1f}k per round trip)",
                flush=True,
            )
            if args.functions:
                print_functions(path, args.n2, args.functions)
            if args.layers:
                print_layers(path, args.n2)
        for c in clients:
            c.sock.close()
    finally:
        switches.stop(server)
        if args.keep:
            print(f"callgrind dumps kept in {outdir}")
        else:
            for f in outdir.glob("*"):
                f.unlink()
            outdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
