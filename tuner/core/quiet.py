"""Keep the native libraries' start-up chatter off the terminal.

TensorFlow, XLA, absl, oneDNN and CUDA log from C++ straight to file descriptor 2 — "oneDNN custom
operations are on", "Could not find cuda drivers", "failed call to cuInit" on a machine without a GPU —
whatever TF_CPP_MIN_LOG_LEVEL says, and before our own one-line messages. Here Python's own stderr
keeps the terminal, and descriptor 2 becomes a pipe whose lines are passed on unless they are such
log lines. Caveat: a native crash that kills the process at once can take its last message with it
(the pump thread dies too); XRAY_TUNER_NATIVE_LOGS=1 turns the filter off.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] "  # absl / TensorFlow C++ info and warnings
    # Errors only where they say "no GPU here": a real GPU error (out of memory, cuDNN) gets through.
    rb"|E\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] failed call to cuInit"
    rb"|E\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] oneDNN supports DT_HALF only"  # a speed note, not an error
    rb"|To enable the following instructions: .* rebuild TensorFlow"
    rb"|\s*$)"
)
SHOW_ALL = "XRAY_TUNER_NATIVE_LOGS"  # set to 1 to see every native log line


def filter_native_stderr() -> None:
    """From now on in this process, drop native log lines written to descriptor 2."""
    if os.environ.get(SHOW_ALL):
        return
    terminal = os.dup(2)
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=sys.stderr.encoding, errors="replace")
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pass_on() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = [line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line)]
            if kept:
                _write_all(terminal, b"".join(kept))
        if pending and not NATIVE_LOG_LINE.match(pending):
            _write_all(terminal, pending)

    pump = threading.Thread(target=pass_on, name="native-stderr", daemon=True)
    pump.start()

    def finish() -> None:
        os.dup2(terminal, 2)  # closes the pipe's last write end: the pump reads to the end and stops
        pump.join(timeout=2)

    atexit.register(finish)


def _write_all(descriptor: int, data: bytes) -> None:
    while data:
        data = data[os.write(descriptor, data):]
