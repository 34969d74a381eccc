"""engine/tuner.py: per-trial seeds, trial records from Keras Tuner trials, and which tuner a search gets."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from types import SimpleNamespace

import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine.hyperparameters import Fixed
from keras_tuner.engine.trial import Trial

from search_spaces.reference import REFERENCE_DIR
from tuner.core.live import SearchDisplay
from tuner.core.settings import DataSettings, SearchSettings
from tuner.data.dataset import load_dataset
from tuner.demo import make_synthetic_dataset
from tuner.engine.hypermodels import make_space
from tuner.engine.records import EPOCH_METRICS, TrialRecord
from tuner.engine.tuner import (
    OBJECTIVE,
    FixedConfiguration,
    TimeBudgetSpent,
    TrialContext,
    XrayHyperband,
    make_tuner,
    search_trial_record,
    trial_seed,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_dataset(root / "data", patients_per_class={"train": 10, "test": 3})
    return load_dataset(DataSettings(data_dir=root / "data", image_size=32, cache_dir=root / "cache"))


def search_settings(dataset, tmp_path, **overrides) -> SearchSettings:
    values = dict(space="cnn_depth", data=replace(dataset.settings, seed=7), results_dir=tmp_path / "results",
                  run_name="run", max_epochs=4, factor=2, hyperband_iterations=2, batch_size=8, max_failed_trials=5,
                  show_progress=False)
    return SearchSettings(**{**values, **overrides})


def trial_context(settings, dataset, **kwargs) -> TrialContext:
    display = SearchDisplay(settings.run_name, settings.precision_floor, enabled=False)
    return TrialContext(settings, settings.run, dataset, kwargs.pop("inputs", dataset.images), display, **kwargs)


# --- trial_seed ---------------------------------------------------------------------------------------------


def test_trial_seed_depends_only_on_the_seed_and_the_trial_id():
    # Pinned: a resumed run (or one started by a later version) must train every trial as before.
    assert trial_seed(0, "0000") == 1945509191
    assert trial_seed(0, "0001") == 82914769
    assert trial_seed(7, "0000") == 1861430783
    assert trial_seed(0, "0000") == trial_seed(0, "0000")
    seeds = {trial_seed(0, f"{number:04d}") for number in range(200)}
    assert len(seeds) == 200  # every trial id its own seed
    assert all(0 <= seed < 2**31 for seed in seeds)
    assert trial_seed(1, "0000") != trial_seed(0, "0000")


# --- search_trial_record ------------------------------------------------------------------------------------


def epoch(number: int, score: float) -> dict:
    metrics = {name: 0.5 for name in EPOCH_METRICS}
    metrics.update(score=score, reachable=True, recall=0.9 + number / 100, precision=0.91, specificity=0.6,
                   prevalence=0.5, threshold=0.1 * number, roc_auc=0.8 + number / 100, pr_auc=0.7, accuracy=0.75)
    return {"epoch": number, "loss": 0.4, "learning_rate": 1e-3, "seconds": 1.0, "val_loss": 0.3 + number / 10,
            **metrics}


def keras_tuner_trial(status: str, message: str | None = None, **values) -> Trial:
    hp = keras_tuner.HyperParameters()
    hp.values.update({"blocks": 3, "dropout": 0.2, "tuner/epochs": 4, "tuner/initial_epoch": 2, "tuner/bracket": 1,
                      "tuner/round": 1, "tuner/trial_id": "0002", **values})
    return Trial(hp, trial_id="0005", status=status, message=message)


def test_a_completed_trial_record_holds_its_first_best_epoch(dataset, tmp_path):
    settings = search_settings(dataset, tmp_path)
    history = [epoch(1, 0.5), epoch(2, 0.8), epoch(3, 0.8), epoch(4, 0.7)]
    current = {"metrics": SimpleNamespace(history=history), "started": time.monotonic() - 3.0}

    record = search_trial_record(keras_tuner_trial("COMPLETED"), current, settings, worker="worker0")

    assert isinstance(record, TrialRecord) and record.completed and record.message is None
    assert record.best_epoch == 2  # the first of the two best-scoring epochs, as Keras Tuner keeps it
    assert record.score == 0.8 and record.epochs == 4 and record.history == history
    assert record.operating_point.threshold == pytest.approx(0.2)
    assert record.operating_point.recall == pytest.approx(0.92)
    assert record.roc_auc == pytest.approx(0.82) and record.val_loss == pytest.approx(0.5)
    assert (record.trial_id, record.stage, record.worker) == ("0005", "search", "worker0")
    assert (record.bracket, record.round, record.parent_trial) == (1, 1, "0002")
    assert (record.initial_epoch, record.target_epochs) == (2, 4)
    assert record.hyperparameters == {"blocks": 3, "dropout": 0.2}  # Keras Tuner's bookkeeping left out
    assert record.cached_features is False  # cnn_depth trains on images
    assert 2.5 < record.seconds < 60


def test_a_failed_trial_record_gives_the_tracebacks_last_line(dataset, tmp_path):
    settings = search_settings(dataset, tmp_path)
    traceback = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in fit\n    raise ...\n"
                 "FloatingPointError: the model's output became NaN/inf at epoch 2\n\n")
    history = [epoch(1, 0.4)]
    current = {"metrics": SimpleNamespace(history=history), "started": time.monotonic()}

    record = search_trial_record(keras_tuner_trial("FAILED", traceback), current, settings, worker=None)

    assert record.status == "failed" and not record.completed
    assert record.message == "FloatingPointError: the model's output became NaN/inf at epoch 2"
    assert record.history == history and record.epochs == 1
    assert record.score is None and record.best_epoch is None and record.operating_point is None
    assert record.hyperparameters == {"blocks": 3, "dropout": 0.2}


def test_a_trial_without_history_or_message_is_failed_for_an_unknown_error(dataset, tmp_path):
    settings = search_settings(dataset, tmp_path)
    # Keras Tuner says COMPLETED, but no epoch was scored (e.g. interrupted before the first one ended).
    record = search_trial_record(keras_tuner_trial("COMPLETED"), None, settings, worker=None)
    assert record.status == "failed" and record.message == "unknown error"
    assert record.history == [] and record.seconds is None


# --- TrialContext -------------------------------------------------------------------------------------------


def test_trial_context_takes_the_training_and_validation_sides(dataset, tmp_path):
    context = trial_context(search_settings(dataset, tmp_path), dataset)
    train, validation = dataset.split("train"), dataset.split("validation")
    np.testing.assert_array_equal(context.train_rows, train["row"].to_numpy())
    np.testing.assert_array_equal(context.train_labels, train["label"].to_numpy())
    np.testing.assert_array_equal(context.validation_labels, validation["label"].to_numpy())
    assert context.validation_inputs is not None
    assert context.class_weights == dataset.class_weights()
    # A chief trains nothing: no inputs, no validation batches.
    assert trial_context(search_settings(dataset, tmp_path), dataset, inputs=None).validation_inputs is None


def _one_fixed_trial(dataset, tmp_path, monkeypatch, on_device: bool) -> dict:
    monkeypatch.setattr("tuner.engine.tuner.keeps_inputs_on_device", lambda nbytes: on_device)
    fixed = json.loads((REFERENCE_DIR / "cnn_depth_reference_cnn.json").read_text())["hyperparameters"]
    settings = search_settings(dataset, tmp_path / str(on_device), fixed_hyperparameters=fixed, max_epochs=2)
    context = trial_context(settings, dataset)
    assert context.on_device is on_device and isinstance(context.train_inputs, np.ndarray) is not on_device
    make_tuner(context, make_space(settings)).search(verbose=0)
    (record,) = settings.run.trial_records.glob("*.json")
    return json.loads(record.read_text())


@pytest.mark.slow
def test_a_trial_on_inputs_kept_on_the_device_trains_as_on_host_inputs(dataset, tmp_path, monkeypatch):
    host = _one_fixed_trial(dataset, tmp_path, monkeypatch, on_device=False)
    device = _one_fixed_trial(dataset, tmp_path, monkeypatch, on_device=True)
    assert host["status"] == device["status"] == "completed"
    for name in ("loss", "val_loss", "roc_auc", "threshold"):
        np.testing.assert_allclose([epoch[name] for epoch in device["history"]],
                                   [epoch[name] for epoch in host["history"]], rtol=1e-4)


# --- make_tuner ---------------------------------------------------------------------------------------------


def test_make_tuner_gives_hyperband_with_the_settings(dataset, tmp_path):
    settings = search_settings(dataset, tmp_path)
    context = trial_context(settings, dataset)

    tuner = make_tuner(context, make_space(settings))

    assert type(tuner) is XrayHyperband
    oracle = tuner.oracle
    assert (oracle.max_epochs, oracle.factor, oracle.hyperband_iterations) == (4, 2, 2)
    assert oracle.objective.name == OBJECTIVE == "val_score" and oracle.objective.direction == "max"
    assert oracle.seed == 7 and oracle.max_consecutive_failed_trials == 5
    assert tuner.project_dir == str(settings.run.keras_tuner)
    assert tuner.context is context
    assert not any(isinstance(hp, Fixed) for hp in oracle.hyperparameters.space)


@pytest.mark.slow
def test_make_tuner_gives_one_fixed_configuration_when_hyperparameters_are_fixed(dataset, tmp_path):
    fixed = json.loads((REFERENCE_DIR / "cnn_depth_reference_cnn.json").read_text())["hyperparameters"]
    settings = search_settings(dataset, tmp_path, fixed_hyperparameters=fixed, max_epochs=1)
    context = trial_context(settings, dataset)

    tuner = make_tuner(context, make_space(settings))

    assert type(tuner) is FixedConfiguration
    assert tuner.oracle.max_trials == 1
    space = tuner.oracle.hyperparameters.space
    assert space and all(isinstance(hp, Fixed) for hp in space)
    assert {hp.name: hp.value for hp in space} == fixed

    # Its one trial trains exactly that point and leaves its record in the run folder.
    tuner.search(verbose=0)
    records = sorted(settings.run.trial_records.glob("*.json"))
    assert len(records) == 1
    stored = json.loads(records[0].read_text())
    assert stored["status"] == "completed", stored.get("message")
    assert stored["hyperparameters"] == fixed and stored["epochs"] == 1
    assert json.loads(settings.run.trials_json.read_text())[0]["trial_id"] == stored["trial_id"]


def test_no_new_trial_starts_once_the_time_budget_is_spent(dataset, tmp_path):
    settings = search_settings(dataset, tmp_path)
    tuner = make_tuner(trial_context(settings, dataset, budget_spent=lambda: True), make_space(settings))
    with pytest.raises(TimeBudgetSpent):
        tuner.pre_create_trial()
