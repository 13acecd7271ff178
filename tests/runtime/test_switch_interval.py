"""The GIL's switch interval in a process the server owns (``runtime/switch_interval.py``):
set from the main thread over Python's default only, and put back when the server stops."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from flask_realtime.runtime.switch_interval import (
    PYTHON_DEFAULT,
    restore_switch_interval,
    set_switch_interval,
)


@pytest.fixture(autouse=True)
def python_default() -> Iterator[None]:
    """Each test starts from Python's default and leaves the process as it found it."""
    before = sys.getswitchinterval()
    restore_switch_interval()
    sys.setswitchinterval(PYTHON_DEFAULT)
    yield
    restore_switch_interval()
    sys.setswitchinterval(before)


def test_the_main_thread_replaces_pythons_default_until_restored() -> None:
    assert set_switch_interval(0.001) is True
    assert sys.getswitchinterval() == pytest.approx(0.001)
    restore_switch_interval()
    assert sys.getswitchinterval() == pytest.approx(PYTHON_DEFAULT)


def test_an_interval_the_app_chose_is_kept() -> None:
    sys.setswitchinterval(0.01)
    assert set_switch_interval(0.001) is False
    assert sys.getswitchinterval() == pytest.approx(0.01)
    restore_switch_interval()  # nothing was replaced: nothing to put back
    assert sys.getswitchinterval() == pytest.approx(0.01)


def test_a_second_server_in_the_process_changes_nothing_more() -> None:
    assert set_switch_interval(0.001) is True
    assert set_switch_interval(0.002) is False
    assert sys.getswitchinterval() == pytest.approx(0.001)
    restore_switch_interval()
    assert sys.getswitchinterval() == pytest.approx(PYTHON_DEFAULT)


def test_a_server_in_another_thread_is_a_guest_and_changes_nothing() -> None:
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(set_switch_interval(0.001)))
    thread.start()
    thread.join(5)
    assert results == [False]
    assert sys.getswitchinterval() == pytest.approx(PYTHON_DEFAULT)
