"""The ranked trial table as a terminal shows it."""

from __future__ import annotations

import json

from helpers import trial_row as trial
from rich.console import Console

from tuner.core.runs import RunPaths
from tuner.reporting.tables import print_report


def test_the_ranked_table_fits_80_columns(tmp_path):
    run = RunPaths(tmp_path / "run")
    run.directory.mkdir()
    run.settings_file.write_text(json.dumps({"space": "mobilenet_head", "precision_floor": 0.9, "recall_target": 0.98,
                                        "data_dir": "data", "image_size": 224, "seed": 0}))
    worst = [trial("0012-ft", 1, 0.98, stage="finetune", parent="0012"), trial("0012", 2, 1.0),
             {**trial("0029", 3, 0.5, reachable=False), "threshold": 6.4e-08, "seconds": 1234.0, "epochs": 10},
             {**trial("0030", None, 0.0, status="failed"), "message": "ResourceExhaustedError: out of memory"}]
    run.trials_json.write_text(json.dumps(worst))
    run.manifest.write_text(json.dumps({"backend": "jax", "device": "NVIDIA H100", "inputs_on_device": True,
                                        "versions": {}, "started": "then", "command": "search"}))
    console = Console(width=80, record=True)
    print_report(run, None, console)
    text = console.export_text()
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table)
    assert "…" not in "\n".join(table)
    for header in ("recall", "spec.", "prec.", "thr.", "AUC", "epochs", "time", "status"):
        assert header in table[1]
    assert "backend jax on NVIDIA H100 (inputs on the device)" in " ".join(text.split())
    assert "trial 0030 failed: ResourceExhaustedError: out of memory" in text


def test_an_ensemble_is_named_with_its_members_in_the_report_and_exports(tmp_path):
    from tuner.reporting.tables import format_report

    run = RunPaths(tmp_path / "run")
    run.directory.mkdir()
    run.settings_file.write_text(json.dumps({"space": "mobilenet_head", "precision_floor": 0.9, "recall_target": 0.98,
                                        "data_dir": "data", "image_size": 224, "seed": 0}))
    trials = [trial("0012", 1, 0.98), trial("0012-ft", 2, 0.98, stage="finetune", parent="0012"),
              {**trial("0012-ens", 3, 0.98, stage="ensemble", parent="0012"), "members": ["0012", "0012-ft"],
               "epochs": 0, "best_epoch": 0}]
    run.trials_json.write_text(json.dumps(trials))
    console = Console(width=160, record=True)
    print_report(run, None, console)
    text = " ".join(console.export_text().split())
    assert "Chosen model 0012-ens (the average of trials 0012 and 0012-ft)" in text and "nothing trained" in text
    assert "0012,0012-ft" not in format_report(run, "csv", None)
    assert ",0012 0012-ft," in format_report(run, "csv", None)
    assert json.loads(format_report(run, "json", None))[2]["members"] == ["0012", "0012-ft"]


def test_a_fine_tuned_chosen_model_says_which_layers_trained(tmp_path):
    def report(**settings) -> str:
        run = RunPaths(tmp_path / str(len(settings)))
        run.directory.mkdir()
        run.settings_file.write_text(json.dumps({"space": "mobilenet_head", "precision_floor": 0.9,
                                                 "recall_target": 0.98, "data_dir": "data", "image_size": 224,
                                                 "seed": 0, **settings}))
        run.trials_json.write_text(json.dumps([trial("0012-ft", 1, 0.98, stage="finetune", parent="0012"),
                                               trial("0012", 2, 0.98)]))
        console = Console(width=160, record=True)
        print_report(run, None, console)
        return " ".join(console.export_text().split())

    assert "Chosen model 0012-ft (fine-tuned from trial 0012, the top blocks)" in report()  # written before the flag
    assert "Chosen model 0012-ft (fine-tuned from trial 0012, every layer)" in report(finetune_layers="all")
