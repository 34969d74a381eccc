"""settings.json's schema: lists derived from the fields' metadata, and the files runs wrote before
`schema_version` (version 1, committed in tests/fixtures) read, named and resumed as before."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths
from tuner.core.settings import (
    DIGEST_KEYS,
    DIGEST_KEYS_IF_CHANGED,
    LEGACY_DEFAULTS,
    RESUME_KEYS,
    SCHEMA_VERSION,
    DataSettings,
    SearchSettings,
    migrate_settings,
    settings_digest,
    settings_from_run,
    stored_settings,
)
from tuner.engine.resume import check_same_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Each version-1 file with the digest its run was named by, computed by the code before the schema (7988fed).
VERSION_1 = {"settings-v1-2026-12.json": "66e53c86", "settings-v1-2026-11-before-recall-target.json": "492f7855"}


def run_with(tmp_path: Path, fixture: str) -> RunPaths:
    run = RunPaths(tmp_path / "results" / json.loads((FIXTURES / fixture).read_text())["run_name"])
    run.directory.mkdir(parents=True)
    shutil.copy(FIXTURES / fixture, run.settings_file)
    return run


def test_the_lists_are_the_ones_runs_were_named_and_resumed_by():
    # What the hand-kept lists held before they were derived: a changed set renames or refuses older runs.
    assert set(RESUME_KEYS) == {
        "space", "precision_floor", "recall_target", "prevalence", "max_epochs", "factor", "hyperband_iterations",
        "batch_size", "weights", "feature_cache", "finetune_epochs", "finetune_layers", "ensemble", "mixed_precision",
        "deterministic", "data_dir", "image_size", "val_fraction", "seed", "limit", "fixed_hyperparameters"}
    assert set(DIGEST_KEYS) == set(RESUME_KEYS) - {"finetune_layers", "ensemble"}
    assert DIGEST_KEYS_IF_CHANGED == {"finetune_layers": "top", "ensemble": True}
    assert LEGACY_DEFAULTS == {"recall_target": 1.0, "prevalence": None, "finetune_epochs": 0,
                               "finetune_layers": "top", "ensemble": True, "mixed_precision": False,
                               "deterministic": False}


def test_what_is_stored_is_every_field_but_this_call_s(tmp_path):
    settings = SearchSettings("cnn_depth", DataSettings(tmp_path, cache_dir=tmp_path), run_name="r", overwrite=True,
                              show_progress=False)
    stored = settings.to_dict()
    assert stored["schema_version"] == SCHEMA_VERSION
    assert not {"overwrite", "show_progress", "data"} & set(stored)
    assert {"data_dir", "cache_dir", "image_size", "results_dir", "time_budget"} <= set(stored)
    assert SearchSettings.from_dict(stored, results_dir=tmp_path) == replace(settings, overwrite=False,
                                                                             show_progress=True, results_dir=tmp_path)


@pytest.mark.parametrize("fixture", VERSION_1)
def test_a_version_1_file_migrates_and_keeps_its_run_name(tmp_path, fixture):
    run = run_with(tmp_path, fixture)
    original = json.loads(run.settings_file.read_text())
    assert "schema_version" not in original
    migrated = stored_settings(run)
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert {key: migrated[key] for key in original} == original  # nothing stored is changed
    settings = settings_from_run(run)
    assert settings_digest(settings) == VERSION_1[fixture]
    assert json.loads(run.settings_file.read_text()) == original  # reading never rewrites the file


def test_today_s_version_1_run_resumes_with_the_same_command_and_refuses_another(tmp_path):
    run = run_with(tmp_path, "settings-v1-2026-12.json")
    settings = settings_from_run(run)
    assert (settings.finetune_layers, settings.finetune_epochs, settings.recall_target) == ("all", 10, 0.98)
    check_same_settings(settings)  # not refused
    with pytest.raises(ToolkitError, match=r"seed \(1 → 2\)"):
        check_same_settings(replace(settings, data=replace(settings.data, seed=2)))


def test_a_run_from_before_the_recall_target_reads_back_with_the_rule_of_its_day(tmp_path):
    settings = settings_from_run(run_with(tmp_path, "settings-v1-2026-11-before-recall-target.json"))
    assert (settings.recall_target, settings.finetune_epochs, settings.finetune_layers, settings.ensemble) == (
        1.0, 0, "top", True)


def test_a_newer_file_is_refused_in_one_line():
    with pytest.raises(ToolkitError, match="version 3, newer than this toolkit reads"):
        migrate_settings({"schema_version": SCHEMA_VERSION + 1})


def test_settings_without_their_data_folder_are_named_damaged(tmp_path):
    run = RunPaths(tmp_path / "r")
    run.directory.mkdir()
    run.settings_file.write_text(json.dumps({"space": "cnn_depth"}))
    with pytest.raises(ToolkitError, match=r"settings.json has no data_dir: the run's settings are damaged"):
        settings_from_run(run)


def test_a_tensorboard_run_reads_back_on_any_backend_but_searches_only_on_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    settings = SearchSettings("cnn_depth", DataSettings(tmp_path), run_name="r", tensorboard=True)  # report reads it
    with pytest.raises(ToolkitError, match="--tensorboard needs the TensorFlow backend"):
        settings.check_environment()
