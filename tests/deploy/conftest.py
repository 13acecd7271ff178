"""Fixtures of the deployment tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tls import self_signed


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (made with openssl)."""
    return self_signed(tmp_path_factory.mktemp("tls"))
