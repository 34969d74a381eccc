"""core/locks.py file_lock: one holder at a time across processes, its pid in the file, waiting or not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuner.core.locks import LockHeld, file_lock

REPO_ROOT = Path(__file__).resolve().parents[2]

# A child that takes the lock, says so, and keeps it for argv[2] seconds (or until its stdin closes).
HOLD_LOCK = """
import select, sys, time
from pathlib import Path
from tuner.core.locks import file_lock
with file_lock(Path(sys.argv[1])):
    print("locked", time.monotonic(), flush=True)
    select.select([sys.stdin], [], [], float(sys.argv[2]))
    print("releasing", time.monotonic(), flush=True)
"""


def hold_in_child(path: Path, seconds: float) -> tuple[subprocess.Popen, float]:
    """A child holding the lock on `path`; returns it and the time (monotonic) it took the lock."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    word, locked_at = child.stdout.readline().split()
    assert word == "locked"
    return child, float(locked_at)


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=30)


def test_the_holders_pid_is_written_in_the_lock_file(tmp_path):
    path = tmp_path / "sub" / ".search.lock"  # its folder is made
    path.parent.mkdir()
    path.write_text("99999999999")  # a longer pid left by an earlier holder
    with file_lock(path, wait=False):
        assert path.read_text() == str(os.getpid())
    assert path.exists()  # the file stays; only the lock goes


@pytest.mark.slow
def test_wait_false_raises_lock_held_naming_the_holder(tmp_path):
    path = tmp_path / ".search.lock"
    child, _ = hold_in_child(path, 20)
    try:
        assert path.read_text() == str(child.pid)
        started = time.monotonic()
        with pytest.raises(LockHeld) as held:
            with file_lock(path, wait=False):
                pytest.fail("the lock was taken while another process held it")
        assert time.monotonic() - started < 5  # refused at once, not after waiting
        assert held.value.holder == str(child.pid)
        assert str(path) in str(held.value) and f"process {child.pid}" in str(held.value)
        assert path.read_text() == str(child.pid)  # the refused process did not overwrite the holder's pid
    finally:
        stop(child)


@pytest.mark.slow
def test_wait_true_waits_until_the_holder_releases(tmp_path):
    path = tmp_path / ".search.lock"
    child, _ = hold_in_child(path, 1.0)
    try:
        with file_lock(path, wait=True):
            acquired = time.monotonic()
            assert path.read_text() == str(os.getpid())
        word, releasing = child.stdout.readline().split()
        assert word == "releasing"
        assert acquired >= float(releasing)  # not before the child let go (time.monotonic is system-wide)
        assert child.wait(timeout=30) == 0
    finally:
        stop(child)


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    path = tmp_path / ".search.lock"
    with pytest.raises(ValueError):
        with file_lock(path, wait=False):
            raise ValueError
    with file_lock(path, wait=False):
        pass


def test_lock_held_says_unknown_when_the_holder_wrote_no_pid(tmp_path):
    import fcntl

    path = tmp_path / ".search.lock"
    path.write_text("")
    with open(path) as other:  # another open file description: flock conflicts even within one process
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(LockHeld) as held:
            with file_lock(path, wait=False):
                pass
    assert held.value.holder == "unknown"
