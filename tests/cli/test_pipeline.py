"""search → report → test → predict on a small generated data set, through the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import cli
from tuner.core.runs import RunPaths
from tuner.demo import make_synthetic_dataset
from tuner.engine.backends import on_accelerator
from tuner.evaluation.statistics import METRIC_NAMES, REFERENCE_RESULTS

pytestmark = pytest.mark.slow  # every test uses a searched run (or searches, or starts a process)


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 25, "test": 8})


@pytest.fixture(scope="module")
def finished_run(synthetic_data, tmp_path_factory) -> tuple[Path, Path]:
    results, cache = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("cache")
    code = cli.main(["search", "--space", "cnn_depth", "--data", str(synthetic_data), "--image-size", "32",
                     "--max-epochs", "2", "--batch-size", "16", "--run", "tiny", "--results-dir", str(results),
                     "--cache-dir", str(cache), "--quiet", "--precision-floor", "0.5"])
    assert code == 0
    return results, cache


def _json_output(capsys, argv) -> object:
    capsys.readouterr()
    assert cli.main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_search_writes_every_trial_with_its_metrics_and_history(finished_run):
    results, _ = finished_run
    run = RunPaths(results / "tiny")
    trials = json.loads(run.trials_json.read_text())
    assert len(trials) >= 2
    for trial in trials:
        assert trial["status"] == "completed"
        record = json.loads(run.trial_record(trial["trial_id"]).read_text())
        assert len(record["history"]) == record["epochs"] >= 1  # every epoch kept, not only the best
        assert {"recall", "precision", "threshold", "roc_auc", "pr_auc", "accuracy", "seconds"} <= set(trial)
        assert run.trial_checkpoint(trial["trial_id"]).is_file()
    assert json.loads(run.settings_file.read_text())["precision_floor"] == 0.5
    manifest = json.loads(run.manifest.read_text())
    assert manifest["backend"] == keras.backend.backend() and manifest["finished"]
    assert manifest["inputs_on_device"] is (keras.backend.backend() == "jax" and on_accelerator())


def test_report_json_is_ranked_by_score(finished_run, capsys):
    results, _ = finished_run
    trials = _json_output(capsys, ["report", "--results-dir", str(results), "--format", "json"])
    required = {"rank", "trial_id", "status", "score", "recall", "precision", "threshold", "roc_auc", "pr_auc",
                "epochs", "hyperparameters"}
    assert all(required <= set(trial) for trial in trials)
    scores = [trial["score"] for trial in trials]
    assert scores == sorted(scores, reverse=True)
    assert [trial["rank"] for trial in trials] == list(range(1, len(trials) + 1))


def test_report_exports_to_a_file(finished_run, tmp_path):
    results, _ = finished_run
    for fmt in ("csv", "markdown", "json"):
        output = tmp_path / f"trials.{fmt}"
        assert cli.main(["report", "--results-dir", str(results), "--format", fmt, "--output", str(output)]) == 0
        assert "recall" in output.read_text()


def test_report_does_not_import_keras(finished_run):
    results, _ = finished_run
    code = ("import sys, cli; cli.main(['report', '--results-dir', sys.argv[1]]); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'report imported keras'")
    completed = subprocess.run([sys.executable, "-c", code, str(results)], cwd=Path(cli.__file__).parent,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr


def test_test_then_predict(finished_run, synthetic_data, capsys):
    results, _ = finished_run
    result = _json_output(capsys, ["test", "--results-dir", str(results), "--format", "json"])
    assert set(result["metrics"]) == {"recall", "specificity", "precision", "accuracy", "f1", "roc_auc", "pr_auc"}
    for interval in result["metrics"].values():
        assert interval["low"] - 1e-9 <= interval["value"] <= interval["high"] + 1e-9
    cm = result["confusion_matrix"]
    assert cm["tn"] + cm["fp"] + cm["fn"] + cm["tp"] == result["n_images"]
    assert result["synthetic_data"] is False
    run = RunPaths(results / "tiny")
    predictions = (run.test_dir / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "file,patient,label,probability,prediction"
    assert len(predictions) == result["n_images"] + 1
    again = _json_output(capsys, ["test", "--results-dir", str(results), "--format", "json"])
    assert again["test_evaluations"] == result["test_evaluations"] + 1  # every look at the test set counts

    images = sorted((synthetic_data / "test" / "PNEUMONIA").glob("*.jpeg"))[:2]
    output = _json_output(capsys, ["predict", *map(str, images), "--results-dir", str(results), "--format", "json"])
    rows = output["predictions"]
    assert [row["file"] for row in rows] == list(map(str, images)) and output["skipped"] == []
    chosen = json.loads(run.trials_json.read_text())[0]
    for row in rows:
        assert 0.0 <= row["probability"] <= 1.0 and row["threshold"] == chosen["threshold"]
        assert row["label"] == ("PNEUMONIA" if row["probability"] >= row["threshold"] else "NORMAL")
        assert row["trial"] == chosen["trial_id"]
    # predict agrees with the test run's probabilities for the same files
    by_file = {row.split(",")[0]: float(row.split(",")[3]) for row in predictions[1:]}
    for row, image in zip(rows, images):
        assert row["probability"] == pytest.approx(by_file[f"test/PNEUMONIA/{image.name}"], abs=1e-5)


def test_predict_on_a_folder_lists_what_it_skips(finished_run, synthetic_data, tmp_path, capsys):
    import shutil

    results, _ = finished_run
    folder = tmp_path / "incoming"
    shutil.copytree(synthetic_data / "test" / "NORMAL", folder / "normal")
    (folder / "notes.jpeg").write_text("not an image")
    (folder / "README.txt").write_text("not an image either, and not named like one")
    # Named by their path inside the folder given (never by anything read from a file).
    expected = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*.jpeg")
                      if path.name != "notes.jpeg")
    capsys.readouterr()
    assert cli.main(["predict", str(folder), "--results-dir", str(results), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0] == "file,probability,threshold,label,trial"
    assert sorted(line.split(",")[0] for line in lines[1:]) == expected
    assert err.strip() == "skipped notes.jpeg: not a readable image (UnidentifiedImageError)"
    assert cli.main(["predict", str(folder), "--results-dir", str(results)]) == 0
    table = capsys.readouterr().out
    assert all(header in table for header in ("file", "probability", "threshold", "label", "trial"))


def test_the_test_card_shows_the_reference_figures_from_one_place(finished_run, capsys, monkeypatch):
    """The reference column of `test`'s card and the reference in test/metrics.json are REFERENCE_RESULTS:
    changed there, both change."""
    results, _ = finished_run
    monkeypatch.setitem(REFERENCE_RESULTS, "accuracy", 0.87)
    monkeypatch.setitem(REFERENCE_RESULTS, "recall", 0.99)
    capsys.readouterr()
    assert cli.main(["test", "--results-dir", str(results)]) == 0
    card = capsys.readouterr().out
    assert json.loads((RunPaths(results / "tiny").test_dir / "metrics.json").read_text())["reference"] == \
        REFERENCE_RESULTS
    header = next(line for line in card.splitlines() if "always PNEUMONIA" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")][-1] == "reference"
    rows = {cells[0]: cells for cells in ([cell.strip() for cell in line.strip("│").split("│")]
                                          for line in card.splitlines() if line.startswith("│"))}
    for name in METRIC_NAMES:
        expected = f"{REFERENCE_RESULTS[name]:.2f}" if name in REFERENCE_RESULTS else "-"
        assert rows[name][-1] == expected, (name, rows[name])


def test_mobilenet_head_search_then_fine_tuning(synthetic_data, tmp_path, capsys):
    results = tmp_path / "results"
    code = cli.main(["search", "--space", "mobilenet_head", "--weights", "none", "--data", str(synthetic_data),
                     "--image-size", "32", "--max-epochs", "1", "--limit", "12", "--run", "mnh",
                     "--results-dir", str(results), "--cache-dir", str(tmp_path / "cache"), "--quiet",
                     "--precision-floor", "0.5", "--finetune-epochs", "1", "--ensemble"])
    assert code == 0
    trials = _json_output(capsys, ["report", "--results-dir", str(results), "--format", "json"])
    searched = [trial for trial in trials if trial["stage"] == "search"]
    finetuned = [trial for trial in trials if trial["stage"] == "finetune"]
    ensembles = [trial for trial in trials if trial["stage"] == "ensemble"]
    assert searched and all(trial["status"] == "completed" and trial["cached_features"] for trial in searched)
    for trial in [*searched, *finetuned, *ensembles]:  # every trial was scored: none failed or was skipped
        assert isinstance(trial["score"], float) and math.isfinite(trial["score"]), trial
        assert all(0.0 <= trial[metric] <= 1.0 for metric in ("recall", "precision", "threshold", "pr_auc")), trial
    assert sorted(trial["rank"] for trial in trials) == list(range(1, len(trials) + 1))
    # One fine-tuning record, of the best searched trial, on images, with its weights and operating point.
    assert len(finetuned) == 1
    parent = min(searched, key=lambda trial: trial["rank"])
    assert finetuned[0]["trial_id"] == parent["trial_id"] + "-ft" and finetuned[0]["status"] == "completed"
    assert not finetuned[0]["cached_features"] and finetuned[0]["epochs"] == 1
    assert RunPaths(results / "mnh").finetuned_weights(finetuned[0]["trial_id"]).is_file()
    result = _json_output(capsys, ["test", "--results-dir", str(results), "--format", "json",
                                   "--trial", finetuned[0]["trial_id"]])
    assert result["threshold"] == finetuned[0]["threshold"]  # the recorded operating point, exactly
    # The ensemble of the parent and its fine-tuned version (its arithmetic: tests/engine/test_ensemble.py;
    # this synthetic run's models give nearly the same probability to every image).
    assert len(ensembles) == 1 and ensembles[0]["trial_id"] == parent["trial_id"] + "-ens"
    assert ensembles[0]["members"] == [parent["trial_id"], finetuned[0]["trial_id"]]
    assert ensembles[0]["epochs"] == 0 and ensembles[0]["status"] == "completed"


def test_test_refuses_an_operating_point_its_model_does_not_give(finished_run, tmp_path, capsys):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(finished_run[0], results)
    run = RunPaths(results / "tiny")
    table = json.loads(run.trials_json.read_text())
    best = table[0]
    best["threshold"] = best["threshold"] / 2 + 0.01  # not what its model gives on validation
    run.trials_json.write_text(json.dumps(table))
    before = {path: path.read_bytes() for path in run.test_dir.glob("*")} if run.test_dir.is_dir() else {}
    capsys.readouterr()
    assert cli.main(["test", "--results-dir", str(results), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: trial ") and "recorded threshold" in err and len(err.strip().splitlines()) == 1
    after = {path: path.read_bytes() for path in run.test_dir.glob("*")} if run.test_dir.is_dir() else {}
    assert after == before  # nothing written, no look counted


def test_train_runs_one_fixed_reference_configuration(synthetic_data, tmp_path, capsys):
    reference = Path(cli.__file__).parent / "search_spaces" / "reference" / "cnn_depth_reference_cnn.json"
    results = tmp_path / "results"
    assert cli.main(["train", "--space", "cnn_depth", "--hp", str(reference), "--data", str(synthetic_data),
                     "--image-size", "32", "--max-epochs", "2", "--run", "ref", "--results-dir", str(results),
                     "--cache-dir", str(tmp_path / "cache"), "--quiet", "--precision-floor", "0.5"]) == 0
    trials = _json_output(capsys, ["report", "--results-dir", str(results), "--format", "json"])
    assert len(trials) == 1
    assert trials[0]["hyperparameters"] == json.loads(reference.read_text())["hyperparameters"]
    assert 1 <= trials[0]["epochs"] <= 2
    result = _json_output(capsys, ["test", "--results-dir", str(results), "--format", "json", "--trial",
                                   trials[0]["trial_id"]])
    assert result["trial_id"] == trials[0]["trial_id"]


def test_plots_are_written_as_valid_pngs_without_a_display(finished_run, capsys):
    import os

    from PIL import Image

    results, _ = finished_run
    assert cli.main(["test", "--results-dir", str(results), "--format", "json"]) == 0
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "MPLBACKEND")}
    completed = subprocess.run([sys.executable, "cli.py", "report", "--plots", "--results-dir", str(results)],
                               cwd=Path(cli.__file__).parent, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    expected = {"trials.png": (1080, 768), "learning_curves.png": (1440, 576), "test_curves.png": (1320, 576),
                "test_confusion_matrix.png": (624, 552), "test_probabilities.png": (960, 552)}
    plots = RunPaths(results / "tiny").directory / "plots"
    for name, size in expected.items():
        assert f"plot: {plots / name}" in completed.stderr
        with Image.open(plots / name) as image:
            image.verify()
        with Image.open(plots / name) as image:
            assert image.format == "PNG" and image.size == size
    with Image.open(plots / "hyperparameters.png") as image:
        assert image.format == "PNG" and image.size[0] >= 600


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorBoard logs need TensorFlow")
def test_tensorboard_logs_per_trial(synthetic_data, tmp_path):
    results = tmp_path / "results"
    assert cli.main(["search", "--space", "cnn_depth", "--data", str(synthetic_data), "--image-size", "32",
                     "--max-epochs", "1", "--run", "tb", "--results-dir", str(results), "--cache-dir",
                     str(tmp_path / "cache"), "--quiet", "--tensorboard"]) == 0
    trials = json.loads((results / "tb" / "trials.json").read_text())
    logs = results / "tb" / "tensorboard"
    for trial in trials:  # Keras Tuner's per-trial folders, with the HParams view's events
        assert list((logs / trial["trial_id"]).rglob("events.out.tfevents.*"))
