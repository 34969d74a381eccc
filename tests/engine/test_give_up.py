"""A search's give-up is read from the run's own records, not from Keras Tuner's message."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tuner.core.runs import RunPaths
from tuner.engine import search


def records(*statuses: str, stage: str = "search") -> list:
    return [SimpleNamespace(stage=stage, completed=status == "completed") for status in statuses]


@pytest.mark.parametrize(("found", "limit", "expected"), [
    (records("completed", "failed", "failed"), 2, True),
    (records("failed", "completed", "failed"), 2, False),  # not in a row: another error
    (records("failed"), 2, False),  # fewer failures than the limit
    (records("failed", "failed") + records("completed", stage="finetune"), 2, True),  # later stages do not count
    ([], 1, False),
])
def test_gave_up_is_the_last_trials_all_failed(monkeypatch, tmp_path, found, limit, expected):
    monkeypatch.setattr(search, "read_trial_records", lambda run: found)
    assert search.gave_up(RunPaths(tmp_path / "r"), limit) is expected
