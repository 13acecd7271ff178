"""adapters/local_hub_process.py: the workers' hub as a process of its own (gunicorn's
master starts it): it listens before start returns, and leaves with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flask_realtime.adapters.local import LocalLink
from flask_realtime.adapters.local_hub_process import hub_path, start_hub_process
from flask_realtime.exceptions import BrokerUnavailableError
from support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_the_hub_listens_when_start_returns(tmp_path: Path) -> None:
    process = start_hub_process(str(tmp_path))
    try:
        first = LocalLink.join(hub_path(str(tmp_path)))
        second = LocalLink.join(hub_path(str(tmp_path)))
        assert (first.index, second.index) == (0, 1)
        first.close()
        second.close()
    finally:
        process.kill()
        process.wait(10)


def test_a_hub_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerUnavailableError, match="exited at start"):
        start_hub_process(str(tmp_path / "no" / "such" / "directory"))


def test_the_hub_leaves_with_its_parent_and_removes_the_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    parent = textwrap.dedent(f"""
        from flask_realtime.adapters.local_hub_process import start_hub_process
        print(start_hub_process({str(run_dir)!r}).pid, flush=True)
    """)  # the parent exits at once, as a gunicorn master that stopped
    result = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=30, check=True
    )
    hub = int(result.stdout.strip())

    def gone() -> bool:
        try:
            os.kill(hub, 0)
        except ProcessLookupError:
            return not run_dir.exists()
        return False

    wait_until(gone, 10, "the hub to exit and remove its directory")
