"""Shared fixtures: where ../shared is; the repository root and tests/ on sys.path.

The tests mirror the package (core/, data/, engine/, evaluation/, reporting/, search_spaces/), with the
end-to-end command-line tests in cli/. Every subfolder imports `helpers` from this folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
SHARED_DIR = REPO_ROOT.parent / "shared"

# `pytest` (not only `python -m pytest`) must find cli.py and tuner/ at the repository root, and every
# test folder must find helpers.py here.
for path in (REPO_ROOT, TESTS_DIR):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`real_data` (registered in pyproject.toml, with `slow`) on every test that reaches ../shared through the
    `shared_dir` fixture, directly or through another fixture; tests that read it otherwise are marked by hand."""
    for item in items:
        if "shared_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (read-only): skip when it is missing, except on CI, where its absence is a failure."""
    if not SHARED_DIR.is_dir():
        message = f"{SHARED_DIR} not found: the real-data tests need the project's shared/ folder beside the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DIR
