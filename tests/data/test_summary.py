"""The `data` command: its JSON and table output, and its bad-value handling (in-process and as a
real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT, SMALL_SIZE, json_summary, run_cli, snapshot

import cli
from tuner.core.settings import CACHE_ENV, DATA_ENV
from tuner.data.layout import CLASS_NAMES

# --- the data command -----------------------------------------------------------------------


def test_json_summary(generated, tmp_path, capsys):
    cache = tmp_path / "cache"
    summary = json_summary(capsys, "--data", generated.root, "--cache-dir", cache, "--image-size", SMALL_SIZE)
    counts = summary["counts"]
    for class_name in CLASS_NAMES:
        pool = counts["train"][class_name]["images"] + counts["validation"][class_name]["images"]
        assert pool == generated.images("train", class_name)
        assert counts["test"][class_name]["images"] == generated.images("test", class_name)
        for side in ("train", "validation", "test"):
            assert counts[side][class_name]["patients"] > 0
            assert counts[side][class_name]["images"] >= counts[side][class_name]["patients"]
    assert summary["shared_patients_train_validation"] == 0
    leak = summary["image_level_split_leak"]
    assert leak["validation_images_sharing_a_patient_with_train"] > 0  # patients with several images
    assert leak["validation_images"] >= leak["validation_images_sharing_a_patient_with_train"]
    assert summary["duplicate_groups"] == [] and summary["train_test_leaks"] == []
    assert summary["skipped_files"] == []
    assert set(summary["class_weights"]) == set(CLASS_NAMES)
    assert summary["cache"]["decoded_this_load"] == len(generated.all_paths())
    assert Path(summary["cache"]["path"]).is_relative_to(cache)
    assert summary["cache"]["size_bytes"] > 0

    again = json_summary(capsys, "--data", generated.root, "--cache-dir", cache, "--image-size", SMALL_SIZE)
    assert again["cache"]["decoded_this_load"] == 0
    assert again["counts"] == counts


def test_table_format_prints(generated, tmp_path, capsys):
    code, out, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", tmp_path / "cache",
                             "--image-size", SMALL_SIZE, "--limit", "4")
    assert code == 0, err
    for word in ("train", "validation", "test", "NORMAL", "PNEUMONIA", "Class weights"):
        assert word in out


BAD_VALUES = {  # the flag and value, and the whole of stderr (`{program}`: the program as typed)
    "--val-fraction 0": (["--val-fraction", "0"], "error: --val-fraction 0.0 is outside (0, 1): use e.g. 0.2"),
    "--val-fraction 1": (["--val-fraction", "1"], "error: --val-fraction 1.0 is outside (0, 1): use e.g. 0.2"),
    "--val-fraction 1.5": (["--val-fraction", "1.5"], "error: --val-fraction 1.5 is outside (0, 1): use e.g. 0.2"),
    "--image-size 16": (["--image-size", "16"], "error: --image-size 16 is too small: use 32 or more (default 224)"),
    "--image-size abc": (["--image-size", "abc"],
                         "error: argument --image-size: invalid int value: 'abc' (see `{program} data --help`)"),
    "--limit 0": (["--limit", "0"], "error: --limit 0 must be at least 1 image per class"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_value_exits_2_with_one_line_and_writes_nothing(generated, tmp_path, capsys, case):
    before = snapshot(generated.root)
    cache = tmp_path / "cache"
    flags, message = BAD_VALUES[case]
    code, out, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", cache, *flags)
    assert code == 2
    assert out == ""
    assert err == message.format(program=cli.program_name()) + "\n"
    assert not cache.exists()
    assert snapshot(generated.root) == before


@pytest.mark.slow
def test_real_process_exit_code_and_no_traceback(generated, tmp_path):
    """As a process, where an uncaught exception would print a traceback: one line, exit code 2."""
    cache = tmp_path / "cache"
    env = {key: value for key, value in os.environ.items() if key not in (DATA_ENV, CACHE_ENV)}
    completed = subprocess.run(
        [sys.executable, "cli.py", "data", "--data", str(generated.root), "--cache-dir", str(cache),
         "--image-size", "abc"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr == BAD_VALUES["--image-size abc"][1].format(program="python cli.py") + "\n"
    assert not cache.exists()
