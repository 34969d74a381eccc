"""Colour on the terminal marks what carries meaning (the chosen model, a failure), not every digit and path."""

from __future__ import annotations

import re

from helpers import run_cli, trial_row, write_run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
MANIFEST = {"backend": "tensorflow", "device": "CPU", "versions": {"keras": "3.15.1"}, "started": "2026-12-07T06:46:26",
            "finished": "2026-12-07T07:40:00", "git_commit": "7988fed", "command": "search --space mobilenet_head "
            "--data /data/chest_xray --image-size 224"}


def test_report_colours_no_digits_names_or_paths_on_their_own(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich writes colour as to a terminal
    trials = [{**trial_row("0017-ens", 1, 0.98, stage="ensemble", parent="0017"), "members": ["0017", "0017-ft"],
               "threshold": 0.3},
              trial_row("0017", 2, 0.97)]
    write_run(tmp_path / "results", "r", trials, manifest=MANIFEST)
    code, out, err = run_cli(capsys, "report", "--results-dir", tmp_path / "results")
    assert code == 0, err
    assert ANSI.search(out)  # colour is on: the chosen model's line is bold
    plain_lines = [line for line in out.splitlines() if "Manifest:" in line or "Chosen model" in line]
    assert len(plain_lines) == 2
    for line in plain_lines:
        # Each line is styled as a whole (at most one style at its start, one reset at its end), never piecewise.
        assert len(ANSI.findall(line)) <= 2, line
    text = ANSI.sub("", out)
    assert "Chosen model 0017-ens" in text and "/data/chest_xray" in text
