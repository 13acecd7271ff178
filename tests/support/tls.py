"""A self-signed certificate for 127.0.0.1, made by the ``openssl`` command, for the TLS tests."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

from .requirements import missing

__all__ = ["client_context", "self_signed"]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for ``127.0.0.1`` into ``directory``; return both.

    Fails the test when the ``openssl`` command is missing, unless the user opted out.
    """
    if shutil.which("openssl") is None:
        missing("openssl", "the openssl command is not installed (apt-get install openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def client_context(cert: Path) -> ssl.SSLContext:
    """A client context that trusts ``cert`` alone (and checks the host name against it)."""
    return ssl.create_default_context(cafile=str(cert))
