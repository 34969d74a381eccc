"""A search survives SIGKILL, failing trials and bad input without losing or corrupting results."""

from __future__ import annotations

import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli
from search_spaces.cnn_depth import CnnDepth
from tuner.core.runs import RunPaths
from tuner.demo import make_synthetic_dataset
from tuner.engine import search as search_module

REPO = Path(cli.__file__).resolve().parent


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 16, "test": 5})


def search_args(data: Path, results: Path, cache: Path, run: str = "r", *extra: str) -> list[str]:
    return ["search", "--space", "cnn_depth", "--data", str(data), "--image-size", "32", "--max-epochs", "3",
            "--batch-size", "16", "--run", run, "--results-dir", str(results), "--cache-dir", str(cache),
            "--quiet", "--precision-floor", "0.5", *extra]


def start_search(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "cli.py", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def finished_trials(run: RunPaths) -> list[tuple[str, str, dict]]:
    table = json.loads(run.trials_json.read_text())
    return sorted((t["trial_id"], t["status"], t["hyperparameters"]) for t in table)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"search ended before the kill point: {process.stderr.read()}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> RunPaths:
    results = tmp_path_factory.mktemp("results")
    completed = subprocess.run([sys.executable, "cli.py", *search_args(data, results, results / "cache")],
                               cwd=REPO, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return RunPaths(results / "r")


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_trials(data, tmp_path, uninterrupted):
    results, cache = tmp_path / "results", tmp_path / "cache"
    run = RunPaths(results / "r")
    args = search_args(data, results, cache)

    def records() -> int:
        return len(list(run.trial_records.glob("*.json"))) if run.trial_records.is_dir() else 0

    kill_points = [
        lambda: run.settings_file.is_file(),  # before any trial ends (data loading, first trial)
        lambda: records() >= 2,  # between trials
        lambda: records() >= 4,  # later, in another bracket
    ]
    for kill_point in kill_points:
        process = start_search(args)
        wait_for(kill_point, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in run.directory.rglob("*.json"):  # nothing half-written
            json.loads(path.read_text())
    final = subprocess.run([sys.executable, "cli.py", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    assert finished_trials(run) == finished_trials(uninterrupted)
    assert not list(run.directory.rglob("*.tmp*")), "temporary files left behind"


@pytest.mark.slow
def test_tcmalloc_where_installed_and_the_same_trials_without_it(data, tmp_path, uninterrupted):
    """`search` runs on tcmalloc where it is installed (tuner/core/allocator.py), and the allocator changes no
    record: the C library's malloc (XRAY_TUNER_ALLOCATOR=system) gives the same trials."""
    installed = sys.platform == "linux" and ctypes.util.find_library("tcmalloc_minimal") is not None
    assert json.loads(uninterrupted.manifest.read_text())["memory_allocator"] == ("tcmalloc" if installed else "system")
    if not installed:
        pytest.skip("tcmalloc is not installed here (Debian: apt-get install libtcmalloc-minimal4)")
    results = tmp_path / "results"
    system = subprocess.run([sys.executable, "cli.py", *search_args(data, results, tmp_path / "cache")], cwd=REPO,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "XRAY_TUNER_ALLOCATOR": "system"})
    assert system.returncode == 0, system.stderr
    run = RunPaths(results / "r")
    assert json.loads(run.manifest.read_text())["memory_allocator"] == "system"
    assert trial_records(run) == trial_records(uninterrupted)


def trial_records(run: RunPaths) -> dict:
    """Every trial's record, timings aside."""
    records = {}
    for path in sorted(run.trial_records.glob("*.json")):
        record = json.loads(path.read_text())
        del record["seconds"]
        for epoch in record["history"]:
            del epoch["seconds"]
        records[path.name] = record
    return records


@pytest.mark.slow
def test_resume_removes_what_a_kill_mid_write_left(data, tmp_path):
    args = search_args(data, tmp_path / "results", tmp_path / "cache", "r", "--max-epochs", "1")
    assert cli.main(args) == 0
    run = RunPaths(tmp_path / "results" / "r")
    leftover = run.trial_records / ".0000.json.abcd1234.tmp.json"
    leftover.write_text('{"trial_id": ')  # as a kill between write and rename leaves it
    table = run.trials_json.read_text()
    assert cli.main(args) == 0
    assert not leftover.exists()
    assert run.trials_json.read_text() == table


@pytest.mark.slow
def test_second_search_on_the_same_run_is_refused(data, tmp_path, capsys):
    args = search_args(data, tmp_path / "results", tmp_path / "cache")
    process = start_search(args)
    lock = RunPaths(tmp_path / "results" / "r").lock
    try:
        wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(process.pid), process)
        assert cli.main(args) == 2
        assert f"being searched by process {process.pid}" in capsys.readouterr().err
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # The dead process's lock is taken over: the same command now runs to the end.
    assert cli.main(args) == 0


@pytest.mark.slow
def test_resuming_with_other_settings_is_refused_unless_overwrite(data, tmp_path, capsys):
    results, cache = tmp_path / "results", tmp_path / "cache"
    assert cli.main(search_args(data, results, cache, "r", "--max-epochs", "1")) == 0
    run = RunPaths(results / "r")
    before = {path: path.read_bytes() for path in run.directory.rglob("*") if path.is_file()}
    capsys.readouterr()
    assert cli.main(search_args(data, results, cache, "r", "--max-epochs", "2", "--precision-floor", "0.6")) == 2
    err = capsys.readouterr().err
    assert "max_epochs (1 → 2)" in err and "precision_floor (0.5 → 0.6)" in err and "--overwrite" in err
    assert {path: path.read_bytes() for path in run.directory.rglob("*") if path.is_file()} == before
    assert cli.main(search_args(data, results, cache, "r", "--max-epochs", "2", "--precision-floor", "0.6",
                                "--overwrite")) == 0
    assert json.loads(run.settings_file.read_text())["max_epochs"] == 2


class FailingCnn(CnnDepth):
    """Fails in model building for 2-block CNNs and gives NaN outputs for 3-block ones."""

    fail_always = False

    def build(self, hp):
        import keras

        model = super().build(hp)
        if self.fail_always or hp.get("blocks") == 2:
            raise RuntimeError("simulated out of memory")
        if hp.get("blocks") == 3:
            broken = keras.Sequential([keras.layers.Rescaling(float("nan")), model])
            broken.compile(optimizer="adam", loss="binary_crossentropy")
            return broken
        return model


@pytest.mark.slow
def test_failing_trials_are_recorded_and_the_search_goes_on(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(search_module, "make_space", lambda settings: FailingCnn(settings.data.image_size))
    results = tmp_path / "results"
    assert cli.main(search_args(data, results, tmp_path / "cache", "r", "--max-failed-trials", "50")) == 0
    trials = json.loads(RunPaths(results / "r").trials_json.read_text())
    failed = [t for t in trials if t["status"] == "failed"]
    completed = [t for t in trials if t["status"] == "completed"]
    assert completed and failed
    for trial in failed:
        blocks = trial["hyperparameters"]["blocks"]
        assert blocks in (2, 3)
        expected = "simulated out of memory" if blocks == 2 else "NaN"
        assert expected in trial["message"]
    capsys.readouterr()
    assert cli.main(["report", "--results-dir", str(results)]) == 0
    assert "simulated out of memory" in capsys.readouterr().out


def test_a_search_that_keeps_failing_stops_and_keeps_its_results(data, tmp_path, monkeypatch, capsys):
    FailingCnn.fail_always = True
    try:
        monkeypatch.setattr(search_module, "make_space", lambda settings: FailingCnn(settings.data.image_size))
        results = tmp_path / "results"
        assert cli.main(search_args(data, results, tmp_path / "cache", "r", "--max-failed-trials", "2")) == 2
    finally:
        FailingCnn.fail_always = False
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("New run r in ") and len(err) == 2  # the run started, then stopped
    assert err[1].startswith("error: stopped after 2 failed trials in a row")
    trials = json.loads(RunPaths(results / "r").trials_json.read_text())
    assert len(trials) == 2 and all(t["status"] == "failed" for t in trials)
    assert cli.main(["test", "--results-dir", str(results)]) == 2  # the latest run is one with a finished trial
    assert "has a finished trial yet (runs: r)" in capsys.readouterr().err
    assert cli.main(["test", "--results-dir", str(results), "--run", "r"]) == 2
    assert "has no finished trial yet" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> Path:
    """A finished tiny search, for the bad-input cases that need a run."""
    results = tmp_path_factory.mktemp("finished")
    cache = tmp_path_factory.mktemp("finished-cache")  # outside the results: a cache may change, results not
    assert cli.main(search_args(data, results, cache, "r", "--max-epochs", "1")) == 0
    return results


def snapshot(folder: Path) -> dict:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# Each case's whole stderr: $TMP is the test's folder, $RESULTS the finished run's results folder,
# $PROGRAM the program as typed.
@pytest.mark.parametrize("case, expected", [
    (["search", "--space", "resnet"],
     "unknown space 'resnet': choose one of cnn_depth, mobilenet_head (see `$PROGRAM spaces`)"),
    (["search", "--space", "cnn_depth", "--precision-floor", "1.0"],
     "--precision-floor 1.0 is outside (0, 1): use e.g. 0.90"),
    (["search", "--space", "cnn_depth", "--precision-floor", "0"],
     "--precision-floor 0.0 is outside (0, 1): use e.g. 0.90"),
    (["search", "--space", "cnn_depth", "--max-epochs", "0"], "--max-epochs 0 must be at least 1"),
    (["search", "--space", "cnn_depth", "--factor", "1"],
     "--factor 1 must be at least 2 (Hyperband keeps 1/factor of the trials)"),
    (["search", "--space", "cnn_depth", "--image-size", "31"],
     "--image-size 31 is too small: use 32 or more (default 224)"),
    (["search", "--space", "cnn_depth", "--run", "../escape"],
     "run name '../escape' is not allowed: use letters, digits, '-', '_' and '.' only"),
    (["search", "--space", "mobilenet_head", "--weights", "MISSING.h5"],
     "weights file $TMP/MISSING.h5 not found: pass the path of a MobileNetV2 .h5 weights file, --weights imagenet "
     "or --weights none"),
    (["search", "--space", "mobilenet_head", "--weights", "NOT_HDF5.h5"],
     "weights file $TMP/NOT_HDF5.h5 is not an HDF5 file (expected Keras .h5 weights)"),
    (["report", "--run", "nosuchrun"], "no run 'nosuchrun' in $RESULTS (runs: r): check --run and --results-dir"),
    (["test", "--run", "nosuchrun"], "no run 'nosuchrun' in $RESULTS (runs: r): check --run and --results-dir"),
    (["predict", "NOT_AN_IMAGE.jpeg"],
     "none of the 1 file(s) is a readable image (.jpeg, .jpg, .png or DICOM expected; the first: not a readable "
     "image (UnidentifiedImageError))"),
    (["search", "--space", "cnn_depth", "--recall-target", "1.5"],
     "--recall-target 1.5 is outside (0, 1]: use e.g. 0.98"),
    (["search", "--space", "cnn_depth", "--prevalence", "0"],
     "--prevalence 0.0 is outside (0, 1): the share of PNEUMONIA where the model will be used, e.g. 0.5"),
    (["search", "--space", "mobilenet_head", "--finetune-epochs", "-1"],
     "--finetune-epochs -1 must be 0 (no fine-tuning) or more"),
    (["search", "--space", "mobilenet_head", "--finetune-layers", "most"],
     "argument --finetune-layers: invalid choice: 'most' (choose from 'top', 'all') (see `$PROGRAM search --help`)"),
    (["search", "--space", "cnn_depth", "--finetune-layers", "all"],
     "--finetune-layers all needs the fine-tuning stage: use it with --space mobilenet_head and --finetune-epochs 1 "
     "or more"),
    (["search", "--space", "mobilenet_head", "--finetune-layers", "all", "--finetune-epochs", "0"],
     "--finetune-layers all needs the fine-tuning stage: use it with --space mobilenet_head and --finetune-epochs 1 "
     "or more"),
    (["search", "--space", "cnn_depth", "--precison-floor", "0.9"],
     "unrecognized arguments: --precison-floor 0.9; did you mean --precision-floor? (see `$PROGRAM search --help`)"),
    (["report", "--form", "csv"],
     "unrecognized arguments: --form csv; did you mean --format? (see `$PROGRAM report --help`)"),
    (["search", "--space", "cnn_depth", "--time-budget", "45"],
     "argument --time-budget: '45' is not a duration: use e.g. 45m, 2h, 1h30m or 90s (see `$PROGRAM search --help`)"),
    (["predict", "MISSING.jpeg"], "$TMP/x.jpeg not found: pass image files or folders of images"),
    (["test", "--data", "EMPTY_DIR"],
     "$TMP/EMPTY_DIR has no train/ folder: expected $TMP/EMPTY_DIR/train/{NORMAL,PNEUMONIA} and "
     "$TMP/EMPTY_DIR/test/{NORMAL,PNEUMONIA} (the Kaggle labeled-chest-xray-images layout)"),
    (["test", "--data", "OTHER_DATA"],
     "the data in $TMP/OTHER_DATA (or its split) is not what run 'r' was searched on (changed: train, validation, "
     "test): pass --data DIR to the original data"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, expected, finished, data, tmp_path, capsys):
    (tmp_path / "NOT_HDF5.h5").write_text("not hdf5")
    (tmp_path / "NOT_AN_IMAGE.jpeg").write_text("not an image")
    (tmp_path / "EMPTY_DIR").mkdir()
    if "OTHER_DATA" in case:
        make_synthetic_dataset(tmp_path / "OTHER_DATA", seed=1, patients_per_class={"train": 16, "test": 5})
    replacements = {"MISSING.h5": str(tmp_path / "MISSING.h5"), "NOT_HDF5.h5": str(tmp_path / "NOT_HDF5.h5"),
                    "NOT_AN_IMAGE.jpeg": str(tmp_path / "NOT_AN_IMAGE.jpeg"), "MISSING.jpeg": str(tmp_path / "x.jpeg"),
                    "EMPTY_DIR": str(tmp_path / "EMPTY_DIR"), "OTHER_DATA": str(tmp_path / "OTHER_DATA")}
    argv = [replacements.get(arg, arg) for arg in case] + ["--results-dir", str(finished)]
    if argv[0] == "search":
        argv += ["--data", str(data), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    before = snapshot(finished)
    capsys.readouterr()
    assert cli.main(argv) == 2
    message = (expected.replace("$TMP", str(tmp_path)).replace("$RESULTS", str(finished))
               .replace("$PROGRAM", cli.program_name()))
    assert capsys.readouterr().err == f"error: {message}\n"
    assert snapshot(finished) == before


def test_a_refused_search_leaves_no_run_folder(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # no cached ImageNet weights
    monkeypatch.setattr("search_spaces.weights.IMAGENET_URL", "http://127.0.0.1:9/")  # offline
    results = tmp_path / "results"
    for argv in (["search", "--space", "mobilenet_head", "--weights", "imagenet", "--data", str(data)],
                 ["search", "--space", "cnn_depth", "--data", str(data / "test")]):
        capsys.readouterr()
        assert cli.main([*argv, "--image-size", "32", "--results-dir", str(results), "--cache-dir",
                         str(tmp_path / "cache"), "--quiet"]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        assert not results.is_dir() or not any(results.iterdir())


@pytest.mark.slow
def test_the_same_command_resumes_its_run_and_a_finished_one_is_not_repeated(data, tmp_path, uninterrupted, capsys):
    results, cache = tmp_path / "results", tmp_path / "cache"
    args = [arg for arg in search_args(data, results, cache) if arg not in ("--run", "r")]
    process = start_search(args)
    wait_for(lambda: len(list(results.glob("*/trials/*.json"))) >= 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "run the same command again to resume" in err, err[-800:]
    [run_folder] = list(results.iterdir())
    again = subprocess.run([sys.executable, "cli.py", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0].startswith(f"Resuming run {run_folder.name} (")
    assert [path.name for path in results.iterdir()] == [run_folder.name]  # no second run
    assert finished_trials(RunPaths(run_folder)) == finished_trials(uninterrupted)
    before = snapshot(run_folder)
    once_more = subprocess.run([sys.executable, "cli.py", *args], cwd=REPO, capture_output=True, text=True,
                               timeout=600)
    assert once_more.returncode == 0 and "already finished with these settings" in once_more.stderr
    lock = run_folder / ".search.lock"  # holds the pid of the last process that opened the run
    assert {path: data for path, data in snapshot(run_folder).items() if path != lock} == \
        {path: data for path, data in before.items() if path != lock}


@pytest.mark.slow
def test_a_time_budget_stops_between_trials_and_the_same_command_goes_on(data, tmp_path, uninterrupted):
    results, cache = tmp_path / "results", tmp_path / "cache"
    args = [arg for arg in search_args(data, results, cache) if arg not in ("--run", "r")]
    budgeted = subprocess.run([sys.executable, "cli.py", *args, "--time-budget", "1s"], cwd=REPO,
                              capture_output=True, text=True, timeout=600)
    assert budgeted.returncode == 0, budgeted.stderr
    [run_folder] = list(results.iterdir())
    done = len(list((run_folder / "trials").glob("*.json"))) if (run_folder / "trials").is_dir() else 0
    assert f"Time budget of 1 s spent: {done} trial(s) of run {run_folder.name} finished" in budgeted.stderr
    assert done < len(finished_trials(uninterrupted))
    assert not json.loads((run_folder / "manifest.json").read_text()).get("finished")
    rest = subprocess.run([sys.executable, "cli.py", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rest.returncode == 0 and rest.stderr.splitlines()[0].startswith(f"Resuming run {run_folder.name} ")
    assert finished_trials(RunPaths(run_folder)) == finished_trials(uninterrupted)


def test_no_runs_and_unwritable_results(data, tmp_path, capsys):
    assert cli.main(["report", "--results-dir", str(tmp_path / "nothing")]) == 2
    assert "no runs in" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert cli.main(search_args(data, tmp_path / "a_file" / "results", tmp_path / "cache")) == 2
    assert "cannot be written" in capsys.readouterr().err


@pytest.mark.slow
def test_test_names_a_moved_data_folder(data, finished, tmp_path, capsys):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    run = RunPaths(finished / "r")
    settings = json.loads(run.settings_file.read_text())
    original = settings["data_dir"]
    settings["data_dir"] = str(tmp_path / "gone")
    run.settings_file.write_text(json.dumps(settings))
    try:
        assert cli.main(["test", "--results-dir", str(finished)]) == 2
        assert f"the run's data folder {tmp_path / 'gone'} is gone: pass --data" in capsys.readouterr().err
        assert cli.main(["test", "--results-dir", str(finished), "--data", str(moved), "--format", "json"]) == 0
    finally:
        settings["data_dir"] = original
        run.settings_file.write_text(json.dumps(settings))


def test_no_trial_reaching_the_floor_is_said_plainly_and_test_needs_a_trial(tmp_path, capsys):
    run = RunPaths(tmp_path / "low")
    run.directory.mkdir()
    run.settings_file.write_text(json.dumps({"space": "cnn_depth", "precision_floor": 0.95, "data_dir": "data",
                                        "image_size": 32, "seed": 0}))
    trials = [{"rank": rank, "trial_id": trial_id, "status": "completed", "score": score, "reachable": False,
               "recall": recall, "precision": precision, "threshold": 0.5, "roc_auc": 0.8, "pr_auc": 0.8,
               "accuracy": 0.7, "epochs": 1, "best_epoch": 1, "seconds": 1.0, "initial_epoch": 0,
               "hyperparameters": {"blocks": 2}}
              for rank, (trial_id, score, recall, precision) in
              enumerate([("0001", 1.3e-5, 0.6, 0.85), ("0000", 1.2e-5, 0.9, 0.8)], start=1)]
    run.trials_json.write_text(json.dumps(trials))
    assert cli.main(["report", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "No trial reached the precision floor 0.95" in out
    assert "Best precision reached 0.850; best recall reached 0.900" in out
    assert cli.main(["test", "--results-dir", str(tmp_path)]) == 2
    assert "no trial of run 'low' reached the precision floor 0.95" in capsys.readouterr().err
