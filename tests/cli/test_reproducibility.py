"""Same command, same seed: the same trials and the same numbers; --from-run repeats a run exactly."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest

import cli
from tuner.core.runs import RunPaths
from tuner.demo import make_synthetic_dataset

pytestmark = pytest.mark.slow  # every test runs searches


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 16, "test": 5})


def trial_table(run: RunPaths) -> list[tuple]:
    """Hyperparameters and metrics of every trial, rounded to 4 decimals."""
    table = json.loads(run.trials_json.read_text())
    metrics = ("score", "recall", "precision", "threshold", "roc_auc", "pr_auc", "accuracy", "val_loss")
    return sorted((t["trial_id"], json.dumps(t["hyperparameters"], sort_keys=True),
                   tuple(round(t[m], 4) for m in metrics), t["epochs"], t["best_epoch"]) for t in table)


def test_two_runs_of_the_same_command_give_identical_trial_tables(data, tmp_path):
    common = ["search", "--space", "cnn_depth", "--data", str(data), "--image-size", "32", "--max-epochs", "3",
              "--batch-size", "16", "--results-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache"),
              "--quiet", "--precision-floor", "0.5", "--seed", "3"]
    assert cli.main([*common, "--run", "first"]) == 0
    assert cli.main([*common, "--run", "second"]) == 0
    first, second = trial_table(RunPaths(tmp_path / "first")), trial_table(RunPaths(tmp_path / "second"))
    assert len(first) >= 4
    assert first == second

    assert cli.main(["search", "--from-run", "first", "--run", "again", "--results-dir", str(tmp_path), "--quiet"]) == 0
    assert trial_table(RunPaths(tmp_path / "again")) == first
    stored = {k: v for k, v in json.loads((tmp_path / "again" / "settings.json").read_text()).items()
              if k != "run_name"}
    assert stored == {k: v for k, v in json.loads((tmp_path / "first" / "settings.json").read_text()).items()
                      if k != "run_name"}


def test_another_seed_samples_other_trials(data, tmp_path):
    common = ["search", "--space", "cnn_depth", "--data", str(data), "--image-size", "32", "--max-epochs", "1",
              "--results-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert cli.main([*common, "--run", "a", "--seed", "1"]) == 0
    assert cli.main([*common, "--run", "b", "--seed", "2"]) == 0

    def hps(run: str) -> list[dict]:
        return [t["hyperparameters"] for t in json.loads((tmp_path / run / "trials.json").read_text())]

    assert hps("a") != hps("b")


def test_manifest_names_versions_backend_device_and_data(data, tmp_path):
    assert cli.main(["search", "--space", "cnn_depth", "--data", str(data), "--image-size", "32", "--max-epochs", "1",
                     "--results-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache"), "--quiet",
                     "--run", "m"]) == 0
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert {"python", "keras", "keras_tuner", "numpy", "xray_tuner"} <= set(manifest["versions"])
    assert manifest["backend"] == keras.backend.backend() and manifest["device"].startswith(("CPU", "GPU"))
    assert set(manifest["data_fingerprint"]) == {"train", "validation", "test"}
    assert manifest["settings"]["seed"] == 0 and manifest["started"] and manifest["finished"]
    assert "search" in manifest["command"]
