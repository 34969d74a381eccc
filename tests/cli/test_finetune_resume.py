"""The fine-tuning stage loses at most one epoch to a kill or a spent --time-budget: the same command goes on from
its last finished epoch and ends with the records of an untouched run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli
from tuner.core.runs import RunPaths
from tuner.demo import make_synthetic_dataset
from tuner.engine import search as search_module
from tuner.engine.finetune_progress import in_progress, latest_epoch

pytestmark = pytest.mark.slow  # every test runs and kills searches in processes

REPO = Path(cli.__file__).resolve().parent
EPOCHS = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 25, "test": 8})


def search_args(data: Path, results: Path) -> list[str]:
    return ["search", "--space", "mobilenet_head", "--weights", "none", "--data", str(data), "--image-size", "32",
            "--max-epochs", "1", "--limit", "40", "--run", "r", "--results-dir", str(results),
            "--cache-dir", str(results.parent / "cache"), "--precision-floor", "0.5",
            "--finetune-epochs", str(EPOCHS)]


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    completed = subprocess.run([sys.executable, "cli.py", *args], cwd=REPO, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr
    return completed


def finetuned(run: RunPaths) -> tuple[dict, str]:
    """The fine-tuning stage's record without its timings, and its validation scores."""
    [path] = run.trial_records.glob("*-ft.json")
    record = json.loads(path.read_text())
    del record["seconds"]
    for epoch in record["history"]:
        del epoch["seconds"]
    return record, run.validation_scores(record["trial_id"]).read_text()


@pytest.fixture(scope="module")
def untouched(data, tmp_path_factory) -> RunPaths:
    results = tmp_path_factory.mktemp("untouched") / "results"
    run_cli(search_args(data, results) + ["--quiet"])
    return RunPaths(results / "r")


def trained_epochs(stderr: str) -> list[int]:
    return [int(epoch) for epoch in re.findall(r"fine-tuning epoch (\d+):", stderr)]


def test_a_spent_time_budget_then_a_kill_lose_no_finished_epoch(data, tmp_path, untouched, monkeypatch):
    """--time-budget spent once the first epoch is kept (the search's clock jumps then) stops the stage there; the
    same command goes on at epoch 2 and is SIGKILLed once its second epoch is kept; the same command again trains only
    the remaining epochs and ends with the untouched run's record and validation scores."""
    results = tmp_path / "results"
    run = RunPaths(results / "r")

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return time.monotonic() + (10 * 3600 if list(run.finetuning.glob("*/epoch-0001")) else 0)

    monkeypatch.setattr(search_module, "time", Clock)
    assert cli.main(search_args(data, results) + ["--quiet", "--time-budget", "1h"]) == 0
    trial, finished = in_progress(run)
    assert finished == 1 and not run.trial_record(trial).exists()
    assert not json.loads(run.manifest.read_text()).get("finished")
    monkeypatch.undo()
    parent = trial.removesuffix("-ft")

    process = subprocess.Popen([sys.executable, "cli.py", *search_args(data, results), "--quiet"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not [folder for folder in run.finetuning.glob("*/epoch-*") if int(folder.name[-4:]) >= 2]:
        assert process.poll() is None, f"the search ended before its second fine-tuning epoch: {process.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.stderr.read().splitlines()[0].startswith(f"Resuming fine-tuning of {parent} at epoch 2 of {EPOCHS} ")
    trial, finished = in_progress(run)
    assert 2 <= finished < EPOCHS, "the kill came too late to leave epochs to train"
    assert not run.trial_record(trial).exists()

    rerun = run_cli(search_args(data, results))
    assert rerun.stderr.splitlines()[0].startswith(
        f"Resuming fine-tuning of {parent} at epoch {finished + 1} of {EPOCHS} in run r ")
    assert trained_epochs(rerun.stderr) == list(range(finished + 1, EPOCHS + 1))  # only the remaining ones
    assert finetuned(run) == finetuned(untouched)
    assert not run.finetuning.exists(), "the stage's progress outlived its record"
    assert not list(run.directory.rglob("*.tmp*")), "temporary files left behind"


def test_a_kill_while_an_epoch_is_written_leaves_the_epoch_before(tmp_path):
    progress = tmp_path / "finetuning" / "0003-ft"
    (progress / "epoch-0001").mkdir(parents=True)
    (progress / ".epoch-0002.tmp").mkdir()  # written in part, never renamed
    (progress / ".epoch-0002.tmp" / "model.weights.h5").write_bytes(b"half")
    assert latest_epoch(progress) == progress / "epoch-0001"
    assert not (progress / ".epoch-0002.tmp").exists()
    assert in_progress(RunPaths(tmp_path)) == ("0003-ft", 1)
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / "0003-ft.json").write_text("{}")  # the record came before the kill: nothing to resume
    assert in_progress(RunPaths(tmp_path)) is None
