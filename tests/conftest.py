"""Shared fixtures: where ../shared is, and the repository root on sys.path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"

# `pytest` (not only `python -m pytest`) must find cli.py and tuner/ at the repository root.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_data: reads the real data set in ../shared (skipped when absent, fails on CI)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (read-only): skip when it is missing, except on CI, where its absence is a failure."""
    if not SHARED_DIR.is_dir():
        message = f"{SHARED_DIR} not found: the real-data tests need the project's shared/ folder beside the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DIR
