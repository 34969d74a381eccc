"""Every bad input of docs/errors.md, run as a user would (a subprocess, TF_CPP_MIN_LOG_LEVEL unset): one
`error:` line on stderr, exit code 2, nothing on stdout, no file changed — and the page is up to date."""

from __future__ import annotations

import importlib.util
import re

import pytest
from helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # runs every documented case as a process


def _tool():
    spec = importlib.util.spec_from_file_location("make_errors_doc", REPO_ROOT / "tools" / "make_errors_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder):
    """Every path below `folder`, and each file's modification time (a folder's changes with the search's
    write probe, which leaves nothing behind)."""
    return {path: path.stat().st_mtime_ns if path.is_file() else None for path in folder.rglob("*")
            if "__pycache__" not in path.parts}


def test_every_documented_bad_input_is_one_line_and_changes_nothing(tmp_path, shared_dir):
    tool = _tool()
    cases = tool.error_cases(tmp_path)
    documented = {}
    for line in (REPO_ROOT / "docs" / "errors.md").read_text().splitlines():
        match = re.fullmatch(r"\| (.+?) \| `python cli\.py (.+?)` \| `` (.+) `` \|", line)
        if match:
            documented[match.group(1)] = (match.group(2), match.group(3))
    assert set(documented) == {title for title, _ in cases}  # the page lists exactly these cases
    before = _files(tmp_path)
    for title, argv in cases:
        assert tool.run_case(argv, tmp_path) == documented[title], title  # run_case asserts the one line
    after = _files(tmp_path)
    assert after == before
