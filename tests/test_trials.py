"""Which model a run hands over, and the ranked table as a terminal shows it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

import cli
from tuner.core.runs import RunPaths
from tuner.core.settings import settings_from_run, stored_settings
from tuner.engine.objective import OperatingRule
from tuner.engine.records import TrialRecord, best_trial
from tuner.reporting.tables import print_report


def chosen(rows, recall_target):
    best = best_trial([TrialRecord.from_dict(row) for row in rows], recall_target)
    return None if best is None else best.trial_id


def trial(trial_id, rank, recall, specificity=0.9, reachable=True, stage="search", parent=None, status="completed"):
    return {"trial_id": trial_id, "rank": rank, "status": status, "recall": recall, "specificity": specificity,
            "reachable": reachable, "stage": stage, "parent_trial": parent, "precision": 0.95, "threshold": 0.5,
            "roc_auc": 0.99, "pr_auc": 0.99, "accuracy": 0.95, "score": 1 + recall, "epochs": 3, "initial_epoch": 0,
            "best_epoch": 3, "seconds": 12.0, "hyperparameters": {"units": 32}}


def test_the_fine_tuned_model_is_chosen_when_it_keeps_the_contract():
    trials = [trial("0012", 1, 1.0, 0.985), trial("0012-ft", 2, 0.98, 0.96, stage="finetune", parent="0012"),
              trial("0007", 3, 0.98, 0.98)]
    assert chosen(trials, 0.98) == "0012-ft"  # recall counted up to 0.98


def test_the_parent_stays_when_fine_tuning_loses_recall_or_the_floor():
    lost_recall = [trial("0012", 1, 0.98), trial("0012-ft", 2, 0.97, 0.999, stage="finetune", parent="0012")]
    assert chosen(lost_recall, 0.98) == "0012"
    lost_floor = [trial("0012", 1, 0.98), trial("0012-ft", 2, 0.99, reachable=False, stage="finetune", parent="0012")]
    assert chosen(lost_floor, 0.98) == "0012"
    failed = [trial("0012", 1, 0.98), trial("0012-ft", None, 0.99, stage="finetune", parent="0012", status="failed")]
    assert chosen(failed, 0.98) == "0012"


def test_the_best_ranked_trial_otherwise():
    trials = [trial("0003", 2, 0.9), trial("0005", 1, 0.95), trial("0001", None, 0.0, status="failed")]
    assert chosen(trials, 0.98) == "0005"
    assert chosen([trial("0001", None, 0.0, status="failed")], 0.98) is None


def test_the_ranked_table_fits_80_columns(tmp_path):
    run = RunPaths(tmp_path / "run")
    run.directory.mkdir()
    run.settings.write_text(json.dumps({"space": "mobilenet_head", "precision_floor": 0.9, "recall_target": 0.98,
                                        "image_size": 224, "seed": 0}))
    worst = [trial("0012-ft", 1, 0.98, stage="finetune", parent="0012"), trial("0012", 2, 1.0),
             {**trial("0029", 3, 0.5, reachable=False), "threshold": 6.4e-08, "seconds": 1234.0, "epochs": 10},
             {**trial("0030", None, 0.0, status="failed"), "message": "ResourceExhaustedError: out of memory"}]
    run.trials_json.write_text(json.dumps(worst))
    console = Console(width=80, record=True)
    print_report(run, None, console)
    text = console.export_text()
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table)
    assert "…" not in "\n".join(table)
    for header in ("recall", "spec.", "prec.", "thr.", "AUC", "epochs", "time", "status"):
        assert header in table[1]
    assert "trial 0030 failed: ResourceExhaustedError: out of memory" in text


def test_native_library_lines_stay_off_stderr(tmp_path):
    """A refusal after TensorFlow has loaded is still one line, without TF_CPP_MIN_LOG_LEVEL."""
    (tmp_path / "NOT_HDF5.h5").write_text("not hdf5")
    env = {key: value for key, value in __import__("os").environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    completed = subprocess.run([sys.executable, "cli.py", "search", "--space", "mobilenet_head", "--weights",
                                str(tmp_path / "NOT_HDF5.h5")], cwd=Path(cli.__file__).parent, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [f"error: weights file {tmp_path / 'NOT_HDF5.h5'} is not an HDF5 file "
                                             "(expected Keras .h5 weights)"]


def test_a_run_written_before_the_recall_target_reads_back_with_the_old_rule(tmp_path):
    run = RunPaths(tmp_path / "old")
    run.directory.mkdir()
    run.settings.write_text(json.dumps({"space": "cnn_depth", "run_name": "old", "precision_floor": 0.9,
                                        "data_dir": str(tmp_path),
                                        "image_size": 32, "seed": 0}))
    stored = stored_settings(run)
    assert (stored["recall_target"], stored["prevalence"], stored["finetune_epochs"]) == (1.0, None, 0)
    settings = settings_from_run(run)
    assert OperatingRule.of(settings).recall_target == 1.0 and not settings.finetunes
