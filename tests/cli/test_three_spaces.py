"""The registry's promise: a new space is one module and one registry line, and every command serves it."""

from __future__ import annotations

import json

import pytest
import tiny_space
from helpers import run_cli

from search_spaces.registry import SPACES, SpaceEntry
from tuner.demo import make_synthetic_dataset

pytestmark = pytest.mark.slow  # searches


def test_a_third_space_is_one_module_and_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SPACES, "tiny", SpaceEntry("tiny_space", "TinySpace", "mean-pooled pixels, one dense layer",
                                                   tiny_space.declare, batch_size=16))
    data = make_synthetic_dataset(tmp_path / "chest_xray", patients_per_class={"train": 12, "test": 6})
    results = tmp_path / "results"
    common = ["--results-dir", results]

    code, out, err = run_cli(capsys, "spaces")
    assert code == 0 and "tiny" in out and "units" in out

    code, _, err = run_cli(capsys, "search", "--space", "tiny", "--data", data, "--image-size", "32",
                           "--max-epochs", "2", "--run", "third", "--cache-dir", tmp_path / "cache", "--quiet",
                           "--precision-floor", "0.5", *common)
    assert code == 0, err
    settings = json.loads((results / "third" / "settings.json").read_text())
    assert settings["space"] == "tiny" and settings["batch_size"] == 16 and settings["finetune_epochs"] == 0

    code, out, err = run_cli(capsys, "report", "--format", "json", *common)
    assert code == 0, err
    trials = json.loads(out)
    assert trials and {trial["hyperparameters"]["units"] for trial in trials} <= {4, 8}
    assert all(trial["stage"] == "search" for trial in trials)  # no fine-tuning stage: the space has no recipe

    code, out, err = run_cli(capsys, "test", "--format", "json", *common)
    assert code == 0, err
    result = json.loads(out)
    assert result["trial_id"] == trials[0]["trial_id"] and 0.0 <= result["metrics"]["accuracy"]["value"] <= 1.0
