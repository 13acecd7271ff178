"""What closing N loopback TCP connections costs a process (``close_cost-8500.txt``):
``python close_cost.py 8500``. Each soak client process holds 8,500 connections and ends
them all when it exits; on loopback the kernel ends both sides of each in the closer's
time, on the cores the server shares."""

from __future__ import annotations

import resource
import socket
import sys
import threading
import time

resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1:] * 2)
count = int(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
port = listener.getsockname()[1]
accepted: list[socket.socket] = []


def accept() -> None:
    while len(accepted) < count:
        accepted.append(listener.accept()[0])


thread = threading.Thread(target=accept)
thread.start()
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
thread.join()
wall, cpu = time.perf_counter(), time.process_time()
for each in clients:
    each.close()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(f"client close of {count}: {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms cpu")
wall = time.perf_counter()
for each in accepted:
    each.close()
print(f"server close of {count} (after FIN): {(time.perf_counter() - wall) * 1e3:.1f} ms wall")
