"""Long commands relaunch themselves with tcmalloc preloaded where it is installed; nothing else does."""

from __future__ import annotations

import os
import sys

import pytest

from tuner.core import allocator


@pytest.fixture
def relaunches(monkeypatch):
    """The relaunches `relaunch_with_tcmalloc` asked for, instead of doing them."""
    calls = []
    monkeypatch.setattr(allocator.os, "execve", lambda *call: calls.append(call))
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: f"lib{name}.so.4")
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.sys, "orig_argv", [sys.executable, "cli.py", "search", "--quiet"])
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv(allocator.CHOICE, raising=False)
    return calls


def test_search_and_train_relaunch_with_tcmalloc_preloaded(relaunches, monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "libother.so")
    allocator.relaunch_with_tcmalloc(["search", "--quiet"])
    [(executable, argv, environment)] = relaunches
    assert executable == sys.executable and argv == [sys.executable, "cli.py", "search", "--quiet"]
    assert environment["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libother.so"  # what was preloaded stays
    assert environment["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize("argv, environment, platform, library", [
    (["report"], {}, "linux", "found"),  # a short command
    (["search"], {"XRAY_TUNER_ALLOCATOR": "system"}, "linux", "found"),  # the user's choice
    (["search"], {"LD_PRELOAD": "/usr/lib/libtcmalloc_minimal.so.4"}, "linux", "found"),  # already there
    (["search"], {}, "darwin", "found"),
    (["search"], {}, "linux", None),  # not installed
    ([], {}, "linux", "found"),
])
def test_no_relaunch(relaunches, monkeypatch, argv, environment, platform, library):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(allocator.sys, "platform", platform)
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: library and f"lib{name}.so.4")
    allocator.relaunch_with_tcmalloc(argv)
    assert relaunches == []
