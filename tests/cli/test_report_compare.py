"""`report --compare A B`: two runs' settings and chosen trials side by side, from run folders written by hand;
its refusals are one line, exit 2, and change nothing."""

from __future__ import annotations

import pytest
from helpers import run_cli, snapshot, write_run

import cli


def trial(trial_id, rank, recall, hyperparameters, **values) -> dict:
    return {"trial_id": trial_id, "rank": rank, "status": "completed", "stage": "search", "score": 1 + recall,
            "recall": recall, "specificity": 0.8, "precision": 0.91, "prevalence": 0.7, "threshold": 0.5,
            "reachable": True, "roc_auc": 0.97, "pr_auc": 0.98, "accuracy": 0.9, "epochs": 4, "initial_epoch": 0,
            "best_epoch": 4, "seconds": 30.0, "hyperparameters": hyperparameters, **values}


@pytest.fixture
def results(tmp_path):
    """Run `a` (seed 0, floor 0.9) chose its best search trial; run `b` (seed 1, floor 0.85, mobilenet_head) chose
    the fine-tuned version of its best, ranked second; run `empty` has no trial yet."""
    results = tmp_path / "results"
    write_run(results, "a", [trial("0003", 1, 0.96, {"blocks": 4, "learning_rate": 0.001}, threshold=0.4215),
                             trial("0001", 2, 0.9, {"blocks": 2, "learning_rate": 0.01})],
              manifest={"backend": "jax", "device": "NVIDIA H100", "data_fingerprint": "f00d"})
    write_run(results, "b", [trial("0007", 1, 0.95, {"units": 64}, threshold=0.3),
                             trial("0007-ft", 2, 0.97, {"units": 64}, stage="finetune", parent_trial="0007",
                                   threshold=0.25, seconds=120.0)],
              manifest={"backend": "tensorflow", "device": "CPU", "data_fingerprint": "f00d"},
              space="mobilenet_head", seed=1, precision_floor=0.85)
    write_run(results, "empty", [])
    return results


def table(out: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """The printed table: its title, its column headers, and each row's cells by the row's name."""
    lines = out.splitlines()
    title = lines[0].strip()
    [header] = [line for line in lines if line.startswith("┃")]
    rows = {}
    for line in lines:
        if line.startswith("│"):
            name, *cells = (cell.strip() for cell in line.strip("│").split("│"))
            assert name not in rows, name
            rows[name] = cells
    return title, [cell.strip() for cell in header.strip("┃").split("┃")][1:], rows


def test_two_runs_side_by_side_settings_manifest_and_chosen_trials(results, capsys):
    code, out, err = run_cli(capsys, "report", "--compare", "a", "b", "--results-dir", results)
    assert code == 0 and err == ""
    title, columns, rows = table(out)
    assert title == "a vs b" and columns == ["a", "b"]
    assert rows["space"] == ["cnn_depth", "mobilenet_head"]
    assert rows["seed"] == ["0", "1"] and rows["precision_floor"] == ["0.9", "0.85"]
    assert rows["recall_target"] == ["0.98", "0.98"] and rows["image_size"] == ["32", "32"]
    assert rows["finetune_epochs"] == ["0", "0"]  # a setting neither run stored: the legacy default, in both
    assert rows["backend"] == ["jax", "tensorflow"] and rows["device"] == ["NVIDIA H100", "CPU"]
    assert rows["data_fingerprint"] == ["f00d", "f00d"] and rows["weights_sha256"] == ["None", "None"]
    # The model each run hands over (as `test` would take it), not merely the first-ranked trial.
    assert rows["chosen trial_id"] == ["0003", "0007-ft"]
    assert rows["chosen recall"] == ["0.96", "0.97"] and rows["chosen threshold"] == ["0.4215", "0.25"]
    assert rows["chosen score"] == ["1.96", "1.97"] and rows["chosen seconds"] == ["30", "120"]
    # Every hyperparameter of either chosen trial, "·" where the other run's has none.
    assert rows["chosen blocks"] == ["4", "·"] and rows["chosen units"] == ["·", "64"]
    assert rows["chosen learning_rate"] == ["0.001", "·"]


def test_a_run_without_a_finished_trial_shows_dashes(results, capsys):
    code, out, _ = run_cli(capsys, "report", "--compare", "empty", "a", "--results-dir", results)
    assert code == 0
    title, columns, rows = table(out)
    assert title == "empty vs a" and columns == ["empty", "a"]
    assert rows["chosen trial_id"] == ["-", "0003"] and rows["chosen recall"] == ["-", "0.96"]
    assert rows["chosen blocks"] == ["-", "4"]
    assert rows["backend"] == ["None", "jax"]  # no manifest


@pytest.mark.parametrize("compare, message", [
    (["a", "nosuch"], "no run 'nosuch' in $RESULTS (runs: a, b, empty): check --run and --results-dir"),
    (["nosuch", "b"], "no run 'nosuch' in $RESULTS (runs: a, b, empty): check --run and --results-dir"),
    (["a", "../b"], "run name '../b' is not allowed: use letters, digits, '-', '_' and '.' only"),
    (["a"], "argument --compare: expected 2 arguments (see `$PROGRAM report --help`)"),
], ids=["second missing", "first missing", "bad name", "one run"])
def test_a_bad_compare_is_one_line_exit_2_and_changes_nothing(results, capsys, compare, message):
    before = snapshot(results)
    code, out, err = run_cli(capsys, "report", "--results-dir", results, "--compare", *compare)
    assert code == 2 and out == ""
    expected = message.replace("$RESULTS", str(results)).replace("$PROGRAM", cli.program_name())
    assert err == f"error: {expected}\n"
    assert snapshot(results) == before
