"""Shared by the benchmark scripts: paths to ../shared and a timed run of cli.py."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data" / "chest_xray"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def require_shared() -> None:
    if not DATA.is_dir() or not WEIGHTS.is_file():
        sys.exit(f"benchmarks read the real data and weights in {SHARED}: not found")


def timed_cli(*argv: str) -> tuple[float, float]:
    """Run `python cli.py ARGV…`; return (wall seconds, peak resident memory of that process in GiB)."""
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "cli.py", *argv], cwd=REPO)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"cli.py {' '.join(argv)} failed with exit code {completed.returncode}")
    # ru_maxrss of children is the largest single child so far, in KiB on Linux.
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return seconds, peak_gib


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
