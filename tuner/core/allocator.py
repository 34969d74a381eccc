"""tcmalloc for the long commands on Linux, where it is installed: TensorFlow's CPU training allocates and frees
buffers of tens of megabytes every step, which glibc's malloc gives back to the kernel and faults in again.

tcmalloc can only be preloaded, so `relaunch_with_tcmalloc` starts the same command once more with `LD_PRELOAD`
set. It changes how memory is handed out, not what is computed. Measured: docs/benchmarks.md ("One fine-tuning step").
"""

from __future__ import annotations

import ctypes.util
import os
import sys

CHOICE = "XRAY_TUNER_ALLOCATOR"  # "system" keeps the C library's malloc
LONG_COMMANDS = ("search", "train")
_QUIET = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(2**40)}  # no "tcmalloc: large alloc" lines on stderr


def allocator_in_use() -> str:
    """"tcmalloc" when this process has it preloaded, else "system"."""
    return "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "system"


def relaunch_with_tcmalloc(argv: list[str]) -> None:
    """Replace this process by the same command with tcmalloc preloaded, where that helps and can be done: on
    Linux, for `search` and `train` (`argv[0]`, the command), when tcmalloc is installed (Debian and Ubuntu:
    `apt-get install libtcmalloc-minimal4`), not loaded yet, and `XRAY_TUNER_ALLOCATOR` is not "system".
    Otherwise returns and changes nothing."""
    if (sys.platform != "linux" or not argv or argv[0] not in LONG_COMMANDS
            or os.environ.get(CHOICE) == "system" or allocator_in_use() == "tcmalloc"):
        return
    library = ctypes.util.find_library("tcmalloc_minimal")
    if library is None:
        return
    preload = " ".join(filter(None, [library, os.environ.get("LD_PRELOAD")]))
    environment = {**os.environ, "LD_PRELOAD": preload, **_QUIET}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
