"""Ctrl-C that always stops a search.

Python raises KeyboardInterrupt wherever the interpreter happens to be when SIGINT arrives; inside a
weakref or garbage-collection callback it is printed as "Exception ignored" and lost, and the search
trains on. The handler here also remembers the request, and `StopOnInterrupt` (a callback of every
trial) raises it again at the next batch, where nothing swallows it.
"""

from __future__ import annotations

import signal
import threading

requested = threading.Event()


def _handler(signum, frame):
    requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """Take over SIGINT in this (main) thread for the rest of the process."""
    if threading.current_thread() is threading.main_thread():
        requested.clear()
        signal.signal(signal.SIGINT, _handler)


def raise_if_requested() -> None:
    """Raise Ctrl-C again if it came since `install()`, wherever it was first raised (and maybe swallowed).

    Raises:
        KeyboardInterrupt: SIGINT arrived since `install()`.
    """
    if requested.is_set():
        raise KeyboardInterrupt
