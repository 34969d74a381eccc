"""`predict`'s refusals before any model loads, on a run folder written by hand: one line, exit 2, nothing written.
(The predictions themselves need a trained run: tests/cli/test_pipeline.py and test_sites.py, both `slow`.)"""

from __future__ import annotations

import pytest
from helpers import run_cli, snapshot, trial_row, write_image, write_run


@pytest.fixture
def results(tmp_path):
    results = tmp_path / "results"
    write_run(results, "r", [trial_row("0003", 1, 0.96), trial_row("0001", 2, 0.9)])
    write_run(results, "empty", [])
    write_image(tmp_path / "images" / "scan.png")
    return results


@pytest.mark.parametrize("argv, message", [
    (["$TMP/missing.jpeg"], "$TMP/missing.jpeg not found: pass image files or folders of images"),
    (["$TMP/images", "--run", "r", "--trial", "0099"], "run 'r' has no finished trial '0099' (finished: 0003, 0001)"),
    (["$TMP/images", "--run", "empty"], "run 'empty' has no finished trial yet: let its search finish"),
    (["$TMP/images", "--explain-dir", "$TMP/pictures"], "--explain-dir goes with --explain"),
], ids=["missing file", "unknown trial", "no finished trial", "explain-dir alone"])
def test_predict_refuses_in_one_line_before_loading_a_model(results, tmp_path, capsys, argv, message):
    before = snapshot(tmp_path)
    argv = [arg.replace("$TMP", str(tmp_path)) for arg in argv]
    code, out, err = run_cli(capsys, "predict", *argv, "--results-dir", results)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {message.replace('$TMP', str(tmp_path))}") and err.count("\n") == 1, err
    assert snapshot(tmp_path) == before
