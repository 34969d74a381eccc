"""A search spread over a chief and two worker processes on loopback (Keras Tuner's distributed mode)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import cli
from tuner.core.runs import RunPaths
from tuner.demo import make_synthetic_dataset

pytestmark = pytest.mark.slow  # every test runs searches in worker processes

REPO = Path(cli.__file__).resolve().parent


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 14, "test": 4})


def search_argv(data: Path, results: Path) -> list[str]:
    return ["search", "--space", "cnn_depth", "--data", str(data), "--image-size", "32", "--max-epochs", "3",
            "--batch-size", "16", "--run", "dist", "--results-dir", str(results), "--cache-dir",
            str(results / "cache"), "--quiet", "--precision-floor", "0.5", "--workers", "2"]


def events(run: RunPaths) -> list[dict]:
    lines = []
    for log in sorted((run.directory / "workers").glob("*.jsonl")):
        lines += [dict(json.loads(line), worker=log.stem) for line in log.read_text().splitlines()]
    return lines


def test_two_workers_run_every_trial_once_and_report_and_test_work(data, tmp_path, capsys):
    results = tmp_path / "results"
    completed = subprocess.run([sys.executable, "cli.py", *search_argv(data, results)], cwd=REPO,
                               capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr
    run = RunPaths(results / "dist")
    trials = json.loads(run.trials_json.read_text())
    assert len(trials) >= 6 and all(trial["status"] == "completed" for trial in trials)
    starts = Counter(event["trial_id"] for event in events(run) if event["event"] == "start")
    assert set(starts) == {trial["trial_id"] for trial in trials}
    assert set(starts.values()) == {1}, f"trials run more than once: {starts}"
    assert {trial["worker"] for trial in trials} == {"worker0", "worker1"}  # the work was shared
    capsys.readouterr()
    assert cli.main(["report", "--results-dir", str(results), "--format", "json"]) == 0
    assert {trial["worker"] for trial in json.loads(capsys.readouterr().out)} == {"worker0", "worker1"}
    assert cli.main(["report", "--results-dir", str(results)]) == 0
    assert "worker" in capsys.readouterr().out
    assert cli.main(["test", "--results-dir", str(results), "--format", "json"]) == 0


def test_a_killed_worker_does_not_stop_the_search(data, tmp_path):
    results = tmp_path / "results"
    process = subprocess.Popen([sys.executable, "cli.py", *search_argv(data, results)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = RunPaths(results / "dist")
    lock = run.directory / ".worker-worker1.lock"
    deadline = time.monotonic() + 300
    # Kill worker1 in the middle of a trial: after it started one and before that one ended.
    while True:
        assert process.poll() is None and time.monotonic() < deadline, "no trial started on worker1"
        worker1 = [event for event in events(run) if event["worker"] == "worker1"] if run.directory.is_dir() else []
        if worker1 and worker1[-1]["event"] == "start" and lock.is_file() and lock.read_text().strip():
            break
        time.sleep(0.05)
    victim = int(lock.read_text().strip())
    killed_trial = worker1[-1]["trial_id"]
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    trials = json.loads(run.trials_json.read_text())
    assert all(trial["status"] == "completed" for trial in trials)
    assert killed_trial in {trial["trial_id"] for trial in trials}  # trained again, to the end
    starts = Counter(event["trial_id"] for event in events(run) if event["event"] == "start")
    assert starts[killed_trial] == 2
