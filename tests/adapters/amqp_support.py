"""Helpers of the RabbitMQ cluster tests: closing connections from the broker's side."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def _rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is required for this test (apt-get install rabbitmq-server)")
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def close_connections(name_part: str) -> int:
    """Close, from the broker's side, every connection whose client-given name contains
    ``name_part`` (a test's unique channel); returns how many were closed."""
    closed = 0
    for line in _rabbitmqctl("list_connections", "--no-table-headers", "pid",
                             "client_properties").splitlines():  # fmt: skip
        pid, _, properties = line.partition("\t")
        if name_part in properties and pid.startswith("<"):
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", pid, "test: broker-side close"],
                capture_output=True, timeout=30, check=False,
            )  # fmt: skip
            closed += 1
    return closed
