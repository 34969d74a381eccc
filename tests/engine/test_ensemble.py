"""The ensemble stage: its model averages its members' probabilities, and its record holds the operating
point the run's rule chooses on that average."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from tuner.core.errors import ToolkitError
from tuner.core.settings import DataSettings, SearchSettings
from tuner.data.dataset import load_dataset
from tuner.demo import make_synthetic_dataset
from tuner.engine import ensemble, hypermodels
from tuner.engine.objective import OperatingRule, operating_point
from tuner.engine.records import TrialRecord, read_trials_table
from tuner.evaluation.scoring import predict_probabilities

SIZE = 32


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_dataset(root / "data", patients_per_class={"train": 10, "test": 3})
    return load_dataset(DataSettings(data_dir=root / "data", image_size=SIZE, cache_dir=root / "cache"))


def _small_model(seed: int) -> keras.Model:
    """A model on images whose probabilities vary from image to image (and from seed to seed)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                             keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(1, activation="sigmoid", bias_initializer="zeros")],
                            name="same_name")  # both members: the ensemble must rename them


def test_the_average_of_two_models_is_the_mean_of_their_probabilities(dataset):
    members = [_small_model(1), _small_model(2)]
    rows = dataset.split("validation")["row"].to_numpy()
    each = [predict_probabilities(model, dataset.images, rows) for model in members]
    assert np.abs(each[0] - each[1]).max() > 1e-3 and np.ptp(each[0]) > 1e-4  # two different, varying models
    averaged = predict_probabilities(hypermodels.average_of(members), dataset.images, rows)
    np.testing.assert_allclose(averaged, (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-7)


def test_the_ensemble_record_holds_the_rules_operating_point_on_the_average(dataset, tmp_path, monkeypatch):
    settings = SearchSettings(space="mobilenet_head", data=replace(dataset.settings, seed=7), weights=None,
                              results_dir=tmp_path / "results", run_name="run", precision_floor=0.5,
                              finetune_epochs=1, show_progress=False)
    run = settings.run
    run.trial_records.mkdir(parents=True)
    members = {"0003": _small_model(1), "0003-ft": _small_model(2)}
    monkeypatch.setattr(hypermodels, "ensemble_model",
                        lambda run_, settings_, names: hypermodels.average_of([members[name] for name in names]))
    finetuned = TrialRecord(trial_id="0003-ft", status="completed", hyperparameters={"units": 32}, stage="finetune",
                            parent_trial="0003")

    record = ensemble.ensemble_finetuned(settings, dataset, run, finetuned)

    validation = dataset.split("validation")
    mean = np.mean([predict_probabilities(model, dataset.images, validation["row"].to_numpy())
                    for model in members.values()], axis=0)
    expected = operating_point(validation["label"].to_numpy(), mean, OperatingRule.of(settings))
    assert (record.trial_id, record.stage, record.parent_trial) == ("0003-ens", "ensemble", "0003")
    assert record.members == ["0003", "0003-ft"] and record.epochs == 0
    assert record.operating_point.threshold == pytest.approx(expected.threshold, rel=1e-5)
    assert record.operating_point.recall == expected.recall
    assert [trial.trial_id for trial in read_trials_table(run)] == ["0003-ens"]
    # Once recorded, a resumed search reads it back instead of scoring again.
    monkeypatch.setattr(hypermodels, "ensemble_model", lambda *args: pytest.fail("scored twice"))
    assert ensemble.ensemble_finetuned(settings, dataset, run, finetuned) == record


def test_no_ensemble_without_a_completed_fine_tuning(dataset, tmp_path):
    failed = TrialRecord(trial_id="0003-ft", status="failed", hyperparameters={}, stage="finetune",
                         parent_trial="0003")
    assert ensemble.ensemble_finetuned(None, dataset, None, failed) is None
    assert ensemble.ensemble_finetuned(None, dataset, None, None) is None


def test_a_damaged_ensemble_record_is_refused_in_one_line(tmp_path):
    settings = SearchSettings(space="mobilenet_head", data=DataSettings(data_dir=tmp_path), weights=None,
                              results_dir=tmp_path / "results", run_name="run", show_progress=False)
    with pytest.raises(ToolkitError, match="lists 0 member trial"):
        hypermodels.ensemble_model(settings.run, settings, None)
