"""core/runs.py: run names, finding a run, the run lock, --overwrite's clearing, where a trial's weights are."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths, check_run_name, clear_run_folder, find_run, run_lock

REPO_ROOT = Path(__file__).resolve().parents[2]

# A child process that takes the run lock, says so, and keeps it until its stdin closes (or it is killed).
HOLD_RUN_LOCK = """
import sys
from pathlib import Path
from tuner.core.runs import RunPaths, run_lock
run = RunPaths(Path(sys.argv[1]))
with run_lock(run, run.lock):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def lock_holder(tmp_path):
    """Start a child holding the run lock of tmp_path/run; yields (run, child)."""
    run = RunPaths(tmp_path / "run")
    child = subprocess.Popen([sys.executable, "-c", HOLD_RUN_LOCK, str(run.directory)], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        yield run, child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)


def make_run(results: Path, name: str, trials: list[dict] | None = None, mtime: float | None = None) -> RunPaths:
    run = RunPaths(results / name)
    run.directory.mkdir(parents=True)
    run.settings_file.write_text(json.dumps({"space": "cnn_depth"}))
    if trials is not None:
        run.trials_json.write_text(json.dumps(trials))
        if mtime is not None:
            os.utime(run.trials_json, (mtime, mtime))
    return run


FINISHED = [{"trial_id": "0000", "status": "completed", "score": 0.5}]
FAILED = [{"trial_id": "0000", "status": "failed", "message": "boom"}]


# --- check_run_name -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["run-1", "cnn_depth-3f2a9c1b", "a.b", "X_9"])
def test_check_run_name_accepts_plain_names(name):
    assert check_run_name(name) == name


@pytest.mark.parametrize("name", [
    "a/b", "../x", "..", ".", "a b", " run", "", "a\\b", "é",
    "run\n",  # `$` would match before a trailing newline
])
def test_check_run_name_refuses_names_that_could_leave_the_results_folder(name):
    with pytest.raises(ToolkitError, match="is not allowed"):
        check_run_name(name)


# --- find_run -----------------------------------------------------------------------------------------------


def test_find_run_by_name(tmp_path):
    make_run(tmp_path, "alpha", FINISHED)
    wanted = make_run(tmp_path, "beta")  # a named run need not have a finished trial
    assert find_run(tmp_path, "beta") == wanted


def test_find_run_names_the_known_runs_when_the_named_one_is_missing(tmp_path):
    make_run(tmp_path, "alpha", FINISHED)
    make_run(tmp_path, "beta")
    (tmp_path / "not-a-run").mkdir()  # no settings.json: not a run
    with pytest.raises(ToolkitError) as refused:
        find_run(tmp_path, "gamma")
    message = str(refused.value)
    assert "'gamma'" in message and "runs: alpha, beta)" in message and "not-a-run" not in message


def test_find_run_refuses_a_bad_name_before_looking(tmp_path):
    with pytest.raises(ToolkitError, match="not allowed"):
        find_run(tmp_path, "../elsewhere")


@pytest.mark.parametrize("make_folder", [True, False])
def test_find_run_without_any_run(tmp_path, make_folder):
    results = tmp_path / "results"
    if make_folder:
        results.mkdir()
    with pytest.raises(ToolkitError, match="no runs in"):
        find_run(results, None)


def test_find_run_skips_runs_without_a_finished_trial(tmp_path):
    make_run(tmp_path, "failed-only", FAILED, mtime=3_000_000)
    make_run(tmp_path, "no-table")
    (make_run(tmp_path, "broken-table").trials_json).write_text("{not json")
    finished = make_run(tmp_path, "finished", FINISHED, mtime=1_000_000)
    assert find_run(tmp_path, None) == finished


def test_find_run_refuses_when_no_run_has_a_finished_trial(tmp_path):
    make_run(tmp_path, "failed-only", FAILED)
    make_run(tmp_path, "no-table")
    with pytest.raises(ToolkitError, match="no run in .* has a finished trial") as refused:
        find_run(tmp_path, None)
    assert "failed-only" in str(refused.value) and "no-table" in str(refused.value)


def test_find_run_picks_the_run_most_recently_worked_on(tmp_path):
    make_run(tmp_path, "a-old", FINISHED, mtime=1_000_000)
    newest = make_run(tmp_path, "b-newest", FINISHED + FAILED, mtime=3_000_000)
    make_run(tmp_path, "c-middle", FINISHED, mtime=2_000_000)
    assert find_run(tmp_path, None) == newest
    os.utime(tmp_path / "a-old" / "trials.json", (4_000_000, 4_000_000))
    assert find_run(tmp_path, None).name == "a-old"


# --- run_lock -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_lock_refuses_a_second_holder_naming_the_first(lock_holder):
    run, child = lock_holder
    with pytest.raises(ToolkitError) as refused:
        with run_lock(run, run.lock):
            pytest.fail("the lock was taken twice")
    message = str(refused.value)
    assert f"process {child.pid}" in message and "'run'" in message


@pytest.mark.slow
def test_run_lock_is_free_again_after_its_holder_ends(lock_holder):
    run, child = lock_holder
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    with run_lock(run, run.lock):
        assert run.lock.read_text() == str(os.getpid())


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_is_taken_over(lock_holder):
    run, child = lock_holder
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert run.lock.read_text() == str(child.pid)  # its file (and pid) is still there ...
    with run_lock(run, run.lock):  # ... but the kernel dropped its lock
        assert run.lock.read_text() == str(os.getpid())


def test_run_lock_conflicts_within_one_process(tmp_path):
    run = RunPaths(tmp_path / "run")
    with run_lock(run, run.lock):
        with pytest.raises(ToolkitError, match=f"process {os.getpid()}"):
            with run_lock(run, run.lock):
                pass
    with run_lock(run, run.lock):  # released on leaving the block
        pass


# --- clear_run_folder ---------------------------------------------------------------------------------------


def test_clear_run_folder_keeps_only_the_lock_files(tmp_path):
    run = make_run(tmp_path, "run", FINISHED)
    (run.keras_tuner / "trial_0000").mkdir(parents=True)
    (run.keras_tuner / "trial_0000" / "trial.json").write_text("{}")
    run.trial_records.mkdir()
    (run.trial_records / "0000.json").write_text("{}")
    (run.directory / ".hidden").write_text("")
    (run.directory / "locks.d").mkdir()  # a folder is not a lock file, whatever its name
    (run.directory / ".worker-worker0.lock").write_text("123")
    run.lock.write_text("456")

    clear_run_folder(run)

    assert sorted(path.name for path in run.directory.iterdir()) == [".search.lock", ".worker-worker0.lock"]
    assert run.lock.read_text() == "456"
    clear_run_folder(RunPaths(tmp_path / "missing"))  # no folder: nothing to do
    assert not (tmp_path / "missing").exists()


def test_clearing_a_locked_run_keeps_it_locked(tmp_path):
    # --overwrite clears the run under its lock: deleting the lock file would let a second search lock a
    # new file of the same name at once.
    run = make_run(tmp_path, "run", FINISHED)
    with run_lock(run, run.lock):
        clear_run_folder(run)
        with pytest.raises(ToolkitError, match="is being searched"):
            with run_lock(run, run.lock):
                pass


# --- RunPaths -----------------------------------------------------------------------------------------------


def test_model_weights_of_the_search_and_the_finetuning_stage(tmp_path):
    run = RunPaths(tmp_path / "run")
    assert run.model_weights("0003") == tmp_path / "run" / "keras_tuner" / "trial_0003" / "checkpoint.weights.h5"
    assert run.model_weights("0003", stage="search") == run.trial_checkpoint("0003")
    assert run.model_weights("0003-ft", stage="finetune") == tmp_path / "run" / "finetuned" / "0003-ft.weights.h5"
    assert run.model_weights("0003-ft", stage="finetune") == run.finetuned_weights("0003-ft")


def test_recorded_trials_counts_trial_records(tmp_path):
    run = RunPaths(tmp_path / "run")
    assert run.recorded_trials() == 0
    run.trial_records.mkdir(parents=True)
    for trial_id in ("0000", "0001"):
        run.trial_record(trial_id).write_text("{}")
    assert run.recorded_trials() == 2
