"""Keep the native libraries' start-up chatter off the terminal.

TensorFlow, XLA, absl, oneDNN and CUDA log from C++ straight to file descriptor 2 — "oneDNN custom
operations are on", "Could not find cuda drivers", "failed call to cuInit" on a machine without a GPU —
whatever TF_CPP_MIN_LOG_LEVEL says, and before our own one-line messages. Here Python's own stderr
keeps the terminal, and descriptor 2 becomes a pipe whose lines are passed on unless they are such
log lines (a C++ crash's message still gets through).
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] "  # absl / TensorFlow C++ log lines (not F: fatal)
    rb"|To enable the following instructions: .* rebuild TensorFlow"
    rb"|\s*$)"
)


def filter_native_stderr() -> None:
    """From now on in this process, drop native log lines written to descriptor 2."""
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
                os.write(terminal, b"".join(kept))
        if pending and not NATIVE_LOG_LINE.match(pending):
            os.write(terminal, pending)

    pump = threading.Thread(target=pass_on, name="native-stderr", daemon=True)
    pump.start()

    def finish() -> None:
        os.dup2(terminal, 2)  # closes the pipe's last write end: the pump reads to the end and stops
        pump.join(timeout=2)

    atexit.register(finish)
