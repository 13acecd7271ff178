"""Redis servers of a test's own: one that it may stop and restart, one behind TLS, and a
real three-master Redis Cluster, each started with the machine's ``redis-server`` on free
ports in the test's temporary directory (a loud failure when it is missing)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from .redis_support import free_port, wait_until


def _require(command: str) -> None:
    if shutil.which(command) is None:
        pytest.fail(f"{command} is required for this test (apt-get install redis-server)")


def _answers(port: int, context: ssl.SSLContext | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as raw:
            if context is None:
                raw.sendall(b"PING\r\n")
                return raw.recv(16).startswith(b"+PONG")
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"PING\r\n")
                return tls.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """A redis-server of the test's own, on a free port, that it may stop and restart.

    With ``tls`` (:class:`Certificates`), it listens with TLS only.
    """

    def __init__(self, tmp: Path, tls: Certificates | None = None) -> None:
        _require("redis-server")
        self.port = free_port()
        self.tls = tls
        scheme = "rediss" if tls else "redis"
        self.url = f"{scheme}://127.0.0.1:{self.port}/0"
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            listen = [
                *("--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"),
                *("--tls-cert-file", str(self.tls.server_cert)),
                *("--tls-key-file", str(self.tls.server_key)),
                *("--tls-ca-cert-file", str(self.tls.ca)),
            ]
        self.proc = subprocess.Popen(
            [
                *("redis-server", *listen, "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        context = self.tls.client_context() if self.tls else None
        wait_until(lambda: _answers(self.port, context), "the private redis-server", 10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Certificates:
    """A certificate authority of the test's own and a server certificate it signed (for
    127.0.0.1 and localhost), made with the openssl command; and another CA, which did
    not sign it."""

    def __init__(self, tmp: Path) -> None:
        _require("openssl")
        self.dir = tmp / "tls"
        self.dir.mkdir(exist_ok=True)
        self.ca, ca_key = self._authority("test-ca")
        self.other_ca, _ = self._authority("another-ca")
        self.server_key = self.dir / "server.key"
        self.server_cert = self.dir / "server.pem"
        request = self.dir / "server.csr"
        extensions = self.dir / "server.ext"
        extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(self.server_key),
                      "-out", str(request))  # fmt: skip
        self._openssl("x509", "-req", "-in", str(request), "-CA", str(self.ca), "-CAkey",
                      str(ca_key), "-CAcreateserial", "-days", "1", "-out",
                      str(self.server_cert), "-extfile", str(extensions))  # fmt: skip

    def _authority(self, name: str) -> tuple[Path, Path]:
        cert, key = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-days", "1", "-subj", f"/CN={name}", "-keyout", str(key),
                      "-out", str(cert))  # fmt: skip
        return cert, key

    def _openssl(self, *args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"openssl {args[0]} failed: {done.stderr}")

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


class PrivateRedisCluster:
    """A real Redis Cluster of three masters (no replicas), made by ``redis-cli --cluster
    create``; its ``url`` lists two of the nodes (``redis+cluster://``)."""

    def __init__(self, tmp: Path, masters: int = 3) -> None:
        _require("redis-server")
        _require("redis-cli")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        try:
            for n in range(masters):
                self.ports.append(self._start_node(tmp / f"node-{n}"))
            done = subprocess.run(
                ["redis-cli", "--cluster", "create",
                 *(f"127.0.0.1:{port}" for port in self.ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                pytest.fail(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
            wait_until(self._ok, "the Redis Cluster to agree on its slots", 30)
        except BaseException:
            self.stop()
            raise
        self.url = f"redis+cluster://127.0.0.1:{self.ports[0]},127.0.0.1:{self.ports[1]}"

    def _start_node(self, where: Path) -> int:
        where.mkdir(parents=True)
        port, bus = free_port(), free_port()
        self.procs.append(
            subprocess.Popen(
                [
                    *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                    *("--cluster-enabled", "yes", "--cluster-port", str(bus)),
                    *("--cluster-config-file", str(where / "nodes.conf")),
                    *("--cluster-node-timeout", "2000"),
                    *("--save", "", "--appendonly", "no", "--dir", str(where)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_until(lambda: _answers(port), f"the cluster node on {port}", 10)
        return port

    def _ok(self) -> bool:
        for port in self.ports:
            done = subprocess.run(
                ["redis-cli", "-p", str(port), "cluster", "info"],
                capture_output=True, text=True, timeout=10, check=False,
            )  # fmt: skip
            if "cluster_state:ok" not in done.stdout:
                return False
        return True

    def _cli(self, port: int, *args: str) -> str:
        done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                              text=True, timeout=10, check=False)  # fmt: skip
        if done.returncode != 0 or done.stdout.startswith("ERR"):
            pytest.fail(f"redis-cli {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def owner_of(self, slot: int) -> int:
        """The port of the master that serves ``slot``."""
        for line in self._cli(self.ports[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if span[0].isdigit() and int(low) <= slot <= int(high or low):
                    return int(fields[1].split(":")[1].split("@")[0])
        pytest.fail(f"no master serves slot {slot}")

    def move_slot_of(self, channel: str) -> tuple[int, int]:
        """Give the slot of ``channel`` (which holds no keys) to another master, as a
        resharding does; returns the ports of the old and the new owner."""
        slot = int(self._cli(self.ports[0], "cluster", "keyslot", channel))
        source = self.owner_of(slot)
        target = next(port for port in self.ports if port != source)
        ids = {port: self._cli(port, "cluster", "myid") for port in (source, target)}
        self._cli(target, "cluster", "setslot", str(slot), "importing", ids[source])
        self._cli(source, "cluster", "setslot", str(slot), "migrating", ids[target])
        for port in (target, source):
            self._cli(port, "cluster", "setslot", str(slot), "node", ids[target])
        wait_until(lambda: all(self._owner_seen(p, slot, target) for p in self.ports),
                   "every node to know the new owner", 10)  # fmt: skip
        return source, target

    def _owner_seen(self, port: int, slot: int, owner: int) -> bool:
        for line in self._cli(port, "cluster", "nodes").splitlines():
            fields = line.split()
            if f":{owner}@" in fields[1] and any(
                s[0].isdigit() and int(s.partition("-")[0]) <= slot <= int(s.partition("-")[2] or s)
                for s in fields[8:]
            ):
                return True
        return False

    def shard_subscribers(self, channel: str) -> int:
        """``PUBSUB SHARDNUMSUB`` of ``channel``, summed over the nodes."""
        total = 0
        for port in self.ports:
            answer = self._cli(port, "pubsub", "shardnumsub", channel).split()
            total += int(answer[-1])
        return total

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs = []
