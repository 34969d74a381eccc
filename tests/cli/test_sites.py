"""calibrate → report → test --site → predict --site, and calibrate's refusals, through the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli, snapshot

import cli
from tuner.core.runs import RunPaths
from tuner.core.settings import settings_from_run
from tuner.data.dataset import load_dataset
from tuner.demo import make_synthetic_dataset
from tuner.engine.objective import OperatingRule, operating_point

pytestmark = pytest.mark.slow  # every test uses a searched, fine-tuned run


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, results folder) of a finished tiny mobilenet_head run named "tiny", fine-tuned (defaults)."""
    data = make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 25, "test": 30})
    results, cache = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("cache")
    assert cli.main(["search", "--space", "mobilenet_head", "--weights", "none", "--data", str(data), "--image-size",
                     "32", "--max-epochs", "1", "--finetune-epochs", "1", "--run", "tiny", "--results-dir",
                     str(results), "--cache-dir", str(cache), "--quiet", "--precision-floor", "0.5"]) == 0
    return data, results


def test_the_default_fine_tunes_and_keeps_validation_scores_without_an_ensemble(searched):
    run = RunPaths(searched[1] / "tiny")
    trials = json.loads(run.trials_json.read_text())
    assert [trial["stage"] for trial in trials].count("finetune") == 1
    assert "ensemble" not in {trial["stage"] for trial in trials}  # only with --ensemble
    finetuned = next(trial for trial in trials if trial["stage"] == "finetune")
    assert json.loads(run.settings_file.read_text())["finetune_layers"] == "all"
    # The fine-tuning stage kept its best epoch's validation scores: they give its recorded threshold again.
    scores = pd.read_csv(run.validation_scores(finetuned["trial_id"]))
    rule = OperatingRule.of(settings_from_run(run))
    assert operating_point(scores["label"], scores["probability"], rule).threshold == finetuned["threshold"]


@pytest.fixture
def results(searched, tmp_path) -> Path:
    """A copy of the finished run's results folder, for a test to write into."""
    return Path(shutil.copytree(searched[1], tmp_path / "results"))


def _copy_images(relpaths, data: Path, folder: Path) -> Path:
    for relpath in relpaths:
        class_name = Path(relpath).parent.name
        (folder / class_name).mkdir(parents=True, exist_ok=True)
        shutil.copy(data / relpath, folder / class_name / Path(relpath).name)
    return folder


def _json(capsys, *args) -> dict:
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    return json.loads(out)


def test_labelled_calibration_on_validation_itself_gives_the_recorded_threshold(searched, results, tmp_path, capsys):
    data, _ = searched
    run = RunPaths(results / "tiny")
    dataset = load_dataset(settings_from_run(run).data)
    site = _copy_images(dataset.split("validation")["relpath"], data, tmp_path / "validation-as-site")
    point = _json(capsys, "calibrate", "--results-dir", results, "--labelled", site, "--name", "val",
                  "--format", "json")
    chosen = next(trial for trial in json.loads(run.trials_json.read_text()) if trial["trial_id"] == point["trial_id"])
    assert point["method"] == "labelled"
    assert np.isclose(point["threshold"], chosen["threshold"], rtol=1e-3, atol=1e-6)
    assert point["prevalence"] == pytest.approx(chosen["prevalence"])
    assert point["n_images"] == len(dataset.split("validation"))


def test_a_site_point_survives_report_test_and_predict_on_another_machines_copy(searched, results, tmp_path, capsys):
    data, _ = searched
    site = _copy_images([path.relative_to(data).as_posix() for path in sorted((data / "test").rglob("*.jpeg"))[::3]],
                        data, tmp_path / "site")
    point = _json(capsys, "calibrate", "--results-dir", results, "--labelled", site, "--name", "clinic",
                  "--format", "json")
    unlabelled = _json(capsys, "calibrate", "--results-dir", results, "--images", site, "--prevalence", "0.4",
                       "--name", "clinic-unlabelled", "--format", "json")
    assert unlabelled["method"] == "unlabelled" and unlabelled["prevalence"] == 0.4
    # The site's images are the run's own test images: reading their labels was a look, and counted.
    assert point["test_images"] == point["n_images"] and point["test_evaluations"] == 1
    # Another machine: the results folder and the data copied elsewhere; the run's recorded data folder
    # does not exist there.
    moved_results = Path(shutil.copytree(results, tmp_path / "elsewhere" / "results"))
    moved_data = Path(shutil.copytree(data, tmp_path / "elsewhere" / "chest_xray"))
    shutil.rmtree(results)
    settings_file = moved_results / "tiny" / "settings.json"
    settings_file.write_text(json.dumps({**json.loads(settings_file.read_text()),
                                         "data_dir": str(tmp_path / "the-other-machine" / "chest_xray")}))
    points = _json(capsys, "report", "--results-dir", moved_results, "--operating-points", "--format", "json")
    assert [row["name"] for row in points] == ["validation", "clinic", "clinic-unlabelled"]
    assert points[1]["threshold"] == point["threshold"] and points[1]["method"] == "labelled"
    code, out, _ = run_cli(capsys, "report", "--results-dir", moved_results)
    assert code == 0 and "Operating points" in out and "clinic-unlabelled" in out
    tested = _json(capsys, "test", "--results-dir", moved_results, "--site", "clinic", "--data", moved_data,
                   "--format", "json")
    assert tested["threshold"] == point["threshold"] and tested["operating_point"] == "clinic"
    # The test images that calibrated the site (and their patients' other images) are not scored.
    assert tested["left_out_calibration_images"] >= point["n_images"]
    assert tested["n_images"] == len(list((data / "test").rglob("*.jpeg"))) - tested["left_out_calibration_images"]
    assert (moved_results / "tiny" / "test" / "sites" / "clinic" / "metrics.json").is_file()
    predicted = _json(capsys, "predict", site, "--results-dir", moved_results, "--site", "clinic", "--format", "json")
    assert predicted["operating_point"] == "clinic"
    assert {row["threshold"] for row in predicted["predictions"]} == {point["threshold"]}


def test_predict_checks_a_folder_of_50_images_for_a_shift(searched, results, capsys):
    data, _ = searched
    predicted = _json(capsys, "predict", data / "test", "--results-dir", results, "--format", "json")
    check = predicted["shift_check"]
    assert check["n_images"] == len(predicted["predictions"]) >= 50
    assert {"observed", "expected", "p_value", "shifted"} <= set(check["share"])
    assert {"distance", "fitted_prevalence", "p_value", "shifted"} <= set(check["mixture"])
    # The prevalence, of 0.01 and 0.99, under which the operating point predicts a share called furthest from the
    # one observed: stated, it makes the share test warn, in one line, exit 0.
    trial = next(trial for trial in json.loads((results / "tiny" / "trials.json").read_text())
                 if trial["trial_id"] == predicted["predictions"][0]["trial"])
    expected = {p: trial["recall"] * p + (1 - trial["specificity"]) * (1 - p) for p in (0.01, 0.99)}
    prevalence = max(expected, key=lambda p: abs(expected[p] - check["share"]["observed"]))
    code, out, err = run_cli(capsys, "predict", data / "test", "--results-dir", results, "--prevalence", prevalence,
                             "--format", "json")
    stated = json.loads(out)["shift_check"]
    assert code == 0 and err.count("warning: ") == int(stated["shifted"])  # one line exactly when shifted
    if abs(expected[prevalence] - check["share"]["observed"]) > 0.3:
        assert stated["share"]["shifted"] and "called pneumonia where the operating point calls" in err


def _empty_site(tmp_path: Path) -> Path:
    for name in ("NORMAL", "PNEUMONIA"):
        (tmp_path / "empty" / name).mkdir(parents=True)
    return tmp_path / "empty"


def _one_class(searched, tmp_path: Path) -> Path:
    data, _ = searched
    return _copy_images([path.relative_to(data).as_posix() for path in (data / "test" / "NORMAL").glob("*.jpeg")],
                        data, tmp_path / "normal-only")


@pytest.mark.parametrize("case, message", [
    (lambda s, t: ["--labelled", _empty_site(t), "--name", "x"], "has no NORMAL images"),
    (lambda s, t: ["--labelled", _one_class(s, t), "--name", "x"], "has no PNEUMONIA images"),
    (lambda s, t: ["--labelled", t / "missing", "--name", "x"], "not found"),
    (lambda s, t: ["--images", s[0] / "test", "--name", "x"], "calibrate --images needs --prevalence P"),
    (lambda s, t: ["--images", s[0] / "test", "--name", "x", "--prevalence", "1.5"], "--prevalence 1.5 is outside"),
    (lambda s, t: ["--images", s[0] / "test", "--name", "x", "--prevalence", "0.5", "--run", "nope"], "no run 'nope'"),
    (lambda s, t: ["--images", s[0] / "test", "--name", "../x", "--prevalence", "0.5"], "site name '../x' is not"),
], ids=["empty", "one class", "missing folder", "no prevalence", "bad prevalence", "unknown run", "bad name"])
def test_calibrate_refuses_bad_input_in_one_line_and_writes_nothing(searched, results, tmp_path, capsys, case,
                                                                    message):
    before = snapshot(results)
    code, out, err = run_cli(capsys, "calibrate", "--results-dir", results, *case(searched, tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert snapshot(results) == before


def test_an_unknown_site_name_is_refused_by_test_and_predict(searched, results, capsys):
    data, _ = searched
    before = snapshot(results)
    for command in (["test", "--site", "nowhere"], ["predict", str(data / "test"), "--site", "nowhere"]):
        code, _, err = run_cli(capsys, *command, "--results-dir", results)
        assert code == 2 and err.count("\n") == 1 and "has no site 'nowhere' (sites: none)" in err, err
    assert snapshot(results) == before
    site = _json(capsys, "calibrate", "--results-dir", results, "--images", data / "test", "--prevalence", "0.5",
                 "--name", "a", "--format", "json")
    assert site["name"] == "a"
    code, _, err = run_cli(capsys, "calibrate", "--results-dir", results, "--images", data / "test",
                           "--prevalence", "0.6", "--name", "a")
    assert code == 2 and "already has a site 'a'" in err
    assert json.loads((results / "tiny" / "sites" / "a.json").read_text())["prevalence"] == 0.5
