"""The Keras Tuner internals this toolkit patches or overrides are still where, and used how, we assume.

tuner/engine/keras_tuner_patches.py replaces `keras_tuner.src.engine.tuner_utils.SaveBestEpoch` (with
BestEpochInMemory) and `keras_tuner.src.utils.save_json` (with an atomic writer); engine/tuner.py's
RecordedTrials overrides `BaseTuner._populate_initial_space`. A patch of a name Keras Tuner no longer looks
up at call time, or an override of a method it no longer calls, would silently do nothing: these tests run a
real (tiny) Keras Tuner search and check that each one is actually used.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.src import utils as keras_tuner_utils
from keras_tuner.src.engine import base_tuner, tuner_utils

from search_spaces.cnn_depth import CnnDepth
from search_spaces.hyperparameters import Recorder, declare_cnn_depth
from tuner.core.runs import RunPaths
from tuner.engine import keras_tuner_patches
from tuner.engine.keras_tuner_patches import BestEpochInMemory, atomic_save_json
from tuner.engine.tuner import RecordedTrials, XrayHyperband

# get_best_models() reloads a checkpoint into a model with a fresh optimizer: expected, and not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")

ORIGINAL_SAVE_BEST_EPOCH = next(cls for cls in BestEpochInMemory.__mro__[1:] if cls.__name__ == "SaveBestEpoch")


@pytest.fixture
def patched(monkeypatch):
    """`apply()`, undone after the test (monkeypatch restores the two module attributes it sets)."""
    monkeypatch.setattr(tuner_utils, "SaveBestEpoch", tuner_utils.SaveBestEpoch)
    monkeypatch.setattr(keras_tuner_utils, "save_json", keras_tuner_utils.save_json)
    keras_tuner_patches.apply()
    keras_tuner_patches.apply()  # idempotent


def build_tiny_model(hp):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 1, 3), activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def tiny_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 2, size=(32, 1)).astype("float32")


def test_apply_replaces_the_module_attributes_keras_tuner_reads(patched):
    assert tuner_utils.SaveBestEpoch is BestEpochInMemory
    assert keras_tuner_utils.save_json is atomic_save_json
    # BestEpochInMemory extends Keras Tuner's own callback (its objective handling, on_epoch_end), defined
    # where the patch replaces it.
    assert ORIGINAL_SAVE_BEST_EPOCH.__module__ == tuner_utils.__name__
    assert "on_epoch_end" in vars(ORIGINAL_SAVE_BEST_EPOCH) and "_save_model" in vars(ORIGINAL_SAVE_BEST_EPOCH)


@pytest.mark.slow
def test_a_real_search_checkpoints_with_best_epoch_in_memory_and_saves_json_atomically(patched, tmp_path,
                                                                                       monkeypatch):
    callbacks_seen, in_memory_saves, atomic_targets, json_written = [], [], [], []

    original_on_train_end, original_save_model = BestEpochInMemory.on_train_end, BestEpochInMemory._save_model
    original_atomic_path, original_write_text = keras_tuner_patches.atomic_path, keras_tuner_patches.write_text

    def spy_on_train_end(self, logs=None):
        callbacks_seen.append((type(self), Path(self.filepath), self.best_weights is not None))
        return original_on_train_end(self, logs)

    def spy_save_model(self):
        in_memory_saves.append(Path(self.filepath))
        return original_save_model(self)

    def spy_atomic_path(path):
        atomic_targets.append(Path(path))
        return original_atomic_path(path)

    def spy_write_text(path, text):
        json_written.append(Path(path))
        return original_write_text(path, text)

    monkeypatch.setattr(BestEpochInMemory, "on_train_end", spy_on_train_end)
    monkeypatch.setattr(BestEpochInMemory, "_save_model", spy_save_model)
    # atomic_save_json and BestEpochInMemory look these names up in keras_tuner_patches at call time.
    monkeypatch.setattr(keras_tuner_patches, "atomic_path", spy_atomic_path)
    monkeypatch.setattr(keras_tuner_patches, "write_text", spy_write_text)

    run = RunPaths(tmp_path / "run")
    tuner = keras_tuner.RandomSearch(build_tiny_model, objective="loss", max_trials=1, seed=0,
                                     directory=str(run.directory), project_name=run.keras_tuner.name)
    x, y = tiny_data()
    tuner.search(x, y, epochs=1, batch_size=16, verbose=0)

    trials = list(tuner.oracle.trials.values())
    assert [trial.status for trial in trials] == ["COMPLETED"]
    trial_id = trials[0].trial_id
    checkpoint = run.trial_checkpoint(trial_id)

    # (a) Keras Tuner made its best-epoch callback from tuner_utils.SaveBestEpoch at call time (our class),
    # called its _save_model on the improving epoch, and the weights reached the disk once, atomically, at
    # the path RunPaths (and so `test`, `predict`, the fine-tuning stage) reads.
    assert callbacks_seen == [(BestEpochInMemory, checkpoint, True)]
    assert in_memory_saves == [checkpoint]
    assert atomic_targets.count(checkpoint) == 1
    assert Path(tuner._get_checkpoint_fname(trial_id)) == checkpoint
    assert checkpoint.is_file()
    reloaded = build_tiny_model(trials[0].hyperparameters)
    reloaded.load_weights(checkpoint)
    best = tuner.get_best_models(1)[0]
    for saved, loaded in zip(best.get_weights(), reloaded.get_weights()):
        np.testing.assert_array_equal(saved, loaded)

    # (b) The oracle's and the trial's JSON went through the atomic writer (Keras Tuner calls
    # `utils.save_json` through the module, so the patched function is the one it calls).
    oracle_json = run.keras_tuner / "oracle.json"
    trial_json = run.keras_tuner / f"trial_{trial_id}" / "trial.json"
    assert oracle_json in json_written and trial_json in json_written
    assert json.loads(oracle_json.read_text())["ongoing_trials"] == {}
    assert json.loads(trial_json.read_text())["status"] == "COMPLETED"
    assert not list(run.directory.rglob(".*.tmp*"))  # no temporary left behind


def test_best_epoch_in_memory_writes_the_best_epoch_once_at_train_end(tmp_path):
    model = build_tiny_model(keras_tuner.HyperParameters())
    path = tmp_path / "trial_0" / "checkpoint.weights.h5"
    callback = BestEpochInMemory(objective=keras_tuner.Objective("val_score", "max"), filepath=str(path))
    callback.set_model(model)
    callback.on_train_end()  # no epoch scored yet: nothing written
    assert not path.exists()

    best = model.get_weights()
    callback.on_epoch_end(0, {"val_score": 0.7})
    assert not path.exists()  # kept in memory, not written per epoch
    model.set_weights([w + 1.0 for w in best])
    callback.on_epoch_end(1, {"val_score": 0.5})  # worse: not kept
    callback.on_train_end()

    for ended, expected in zip(model.get_weights(), best):  # the model ends on its best epoch
        np.testing.assert_array_equal(ended, expected)
    reloaded = build_tiny_model(keras_tuner.HyperParameters())
    reloaded.load_weights(path)
    for loaded, expected in zip(reloaded.get_weights(), best):
        np.testing.assert_array_equal(loaded, expected)
    assert callback.best_weights is None  # memory given back


def test_atomic_save_json_returns_the_json_like_keras_tuner(tmp_path):
    path = tmp_path / "a" / "state.json"
    assert atomic_save_json(str(path), {"x": [1, 2]}) == json.dumps({"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}


def test_base_tuner_still_calls_populate_initial_space_in_init(tmp_path):
    assert "_populate_initial_space" in vars(base_tuner.BaseTuner)
    calls = []

    class Spy(keras_tuner.RandomSearch):
        def _populate_initial_space(self):
            calls.append(self.hypermodel)
            super()._populate_initial_space()

    Spy(build_tiny_model, objective="loss", max_trials=1, directory=str(tmp_path), project_name="spy")
    assert len(calls) == 1


def test_recorded_trials_override_declares_the_space_without_building_a_model(tmp_path, monkeypatch):
    # Our override replaces Keras Tuner's own one in the MRO of both our tuners.
    assert XrayHyperband._populate_initial_space is RecordedTrials._populate_initial_space
    assert XrayHyperband.__mro__.index(RecordedTrials) < XrayHyperband.__mro__.index(base_tuner.BaseTuner)
    builds = []
    monkeypatch.setattr(CnnDepth, "build", lambda self, hp: builds.append(hp) or build_tiny_model(hp))

    tuner = XrayHyperband(None, hypermodel=CnnDepth(32), objective=keras_tuner.Objective("val_score", "max"),
                          max_epochs=2, factor=2, directory=str(tmp_path), project_name="keras_tuner")

    # Keras Tuner's default would build the model (once per conditional scope) to discover the space.
    assert builds == []
    recorder = Recorder()
    declare_cnn_depth(recorder)
    declared = {entry.name for entry in recorder.space}
    space = {hp.name for hp in tuner.oracle.get_space().space}
    assert declared and declared <= space
