"""Settings: where the data folder is (--data, the environment, the default), and a run's stored
settings read back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import json_summary, make_chest_xray, run_cli

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths
from tuner.core.settings import (
    DATA_ENV,
    DIGEST_KEYS,
    DataSettings,
    SearchSettings,
    settings_digest,
    settings_from_run,
    stored_settings,
)
from tuner.engine.objective import OperatingRule
from tuner.engine.resume import check_same_settings


def summary_of(capsys, *args) -> dict:
    return json_summary(capsys, *args, "--image-size", "32")


# --- where the data folder is ---------------------------------------------------------------


def test_data_flag_wins_over_environment(tmp_path, monkeypatch, capsys):
    from_flag = make_chest_xray(tmp_path / "flag", n_normal=4, n_pneumonia=4).root
    from_env = make_chest_xray(tmp_path / "env", n_normal=4, n_pneumonia=4).root
    monkeypatch.setenv(DATA_ENV, str(from_env))
    summary = summary_of(capsys, "--data", from_flag, "--cache-dir", tmp_path / "cache")
    assert Path(summary["data_dir"]) == from_flag.resolve()


def test_environment_variable_used_without_flag(tmp_path, monkeypatch, capsys):
    from_env = make_chest_xray(tmp_path / "env", n_normal=4, n_pneumonia=4).root
    monkeypatch.setenv(DATA_ENV, str(from_env))
    monkeypatch.chdir(tmp_path)
    summary = summary_of(capsys, "--cache-dir", tmp_path / "cache")
    assert Path(summary["data_dir"]) == from_env.resolve()


def test_default_is_data_chest_xray_under_the_working_directory(tmp_path, monkeypatch, capsys):
    default = make_chest_xray(tmp_path / "project" / "data" / "chest_xray", n_normal=4, n_pneumonia=4).root
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path / "project")
    summary = summary_of(capsys, "--cache-dir", tmp_path / "cache")
    assert Path(summary["data_dir"]) == default.resolve()


HOW_TO_GET_THE_DATA = ('download the Kaggle data set "labeled-chest-xray-images" (kaggle datasets download '
                       "tolgadincer/labeled-chest-xray-images) and pass --data DIR, set XRAY_TUNER_DATA, or unpack it "
                       "into ./data/chest_xray")


@pytest.mark.parametrize("how", ["nothing anywhere", "environment points nowhere"])
def test_no_data_folder_anywhere_says_how_to_get_it(tmp_path, monkeypatch, capsys, how):
    monkeypatch.chdir(tmp_path)  # no ./data/chest_xray here
    if how == "nothing anywhere":
        monkeypatch.delenv(DATA_ENV, raising=False)
        where = "data/chest_xray (the default)"
    else:
        monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
        where = f"{tmp_path / 'nowhere'} ({DATA_ENV})"
    cache = tmp_path / "cache"
    code, out, err = run_cli(capsys, "data", "--cache-dir", cache)
    assert code == 2
    assert out == ""
    assert err == f"error: data folder {where} not found: {HOW_TO_GET_THE_DATA}\n"
    assert not cache.exists()


def test_a_run_written_before_the_recall_target_reads_back_with_the_old_rule(tmp_path):
    run = RunPaths(tmp_path / "old")
    run.directory.mkdir()
    run.settings_file.write_text(json.dumps({"space": "cnn_depth", "run_name": "old", "precision_floor": 0.9,
                                        "data_dir": str(tmp_path),
                                        "image_size": 32, "seed": 0}))
    stored = stored_settings(run)
    assert (stored["recall_target"], stored["prevalence"], stored["finetune_epochs"]) == (1.0, None, 0)
    settings = settings_from_run(run)
    assert OperatingRule.of(settings).recall_target == 1.0 and not settings.finetunes


# --- --finetune-layers, added after runs were named and written without it -----------------------------------


def test_finetune_settings_name_a_run_only_where_they_differ_from_the_runs_before_them(tmp_path):
    data = DataSettings(tmp_path, cache_dir=tmp_path / "cache")
    before = SearchSettings("mobilenet_head", data, run_name="r", finetune_epochs=4, finetune_layers="top",
                            ensemble=True)
    before_the_settings = dict(before.to_dict())
    for added in ("finetune_layers", "ensemble"):
        before_the_settings.pop(added)
    digest_then = hashlib.sha256(json.dumps({key: before_the_settings.get(key) for key in DIGEST_KEYS},
                                            sort_keys=True, default=str).encode()).hexdigest()[:8]
    assert settings_digest(before) == digest_then  # the same command still finds the runs named before
    assert settings_digest(replace(before, finetune_layers="all")) != digest_then
    assert settings_digest(replace(before, ensemble=False)) != digest_then
    # The defaults today: every layer, no ensemble; a space without fine-tuning is named as before.
    today = SearchSettings("mobilenet_head", data, run_name="r", finetune_epochs=10)
    assert (today.finetune_layers, today.ensemble) == ("all", False)
    cnn = SearchSettings("cnn_depth", data, run_name="r")
    cnn_then = {key: cnn.to_dict().get(key) for key in DIGEST_KEYS}
    assert settings_digest(cnn) == hashlib.sha256(json.dumps(cnn_then, sort_keys=True, default=str)
                                                  .encode()).hexdigest()[:8]


def test_resuming_with_other_finetune_layers_is_refused(tmp_path):
    run = RunPaths(tmp_path / "r")
    run.directory.mkdir()
    # no finetune_layers: written before it existed
    run.settings_file.write_text(json.dumps({"space": "mobilenet_head", "run_name": "r", "precision_floor": 0.9,
                                        "finetune_epochs": 4, "data_dir": str(tmp_path), "image_size": 32, "seed": 0}))
    settings = settings_from_run(run)
    assert (settings.finetune_layers, settings.ensemble) == ("top", True)
    with pytest.raises(ToolkitError, match=r"finetune_layers \('top' → 'all'\)"):
        check_same_settings(replace(settings, finetune_layers="all"))


def test_a_run_without_fine_tuning_written_before_the_new_defaults_resumes(tmp_path):
    run = RunPaths(tmp_path / "r")
    run.directory.mkdir()
    # A cnn_depth run stored the fine-tuning settings of its day, which it never used.
    old = SearchSettings("cnn_depth", DataSettings(tmp_path, cache_dir=tmp_path / "cache"), results_dir=tmp_path,
                         run_name="r", finetune_layers="top")
    stored = old.to_dict()
    del stored["ensemble"]
    run.settings_file.write_text(json.dumps(stored))
    check_same_settings(replace(old, finetune_layers="all"))  # today's defaults: not refused
    with pytest.raises(ToolkitError, match=r"max_epochs \(10 → 3\)"):
        check_same_settings(replace(old, max_epochs=3))
