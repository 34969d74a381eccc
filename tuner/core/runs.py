"""The run folder: where a search writes, and where report, test and predict read.

results/<run>/
  settings.json      every setting of the search (defaults included)
  manifest.json      versions, device, data fingerprint, times
  keras_tuner/       the Keras Tuner project (oracle state, trial checkpoints)
  trials/<id>.json   one record per trial: hyperparameters, metrics, every epoch's history
  finetuned/<id>.weights.h5  the fine-tuning stage's model (its record is trials/<id>.json, id "<parent>-ft")
  finetuning/<id>/   the fine-tuning stage's progress while it runs (tuner/engine/finetune_progress.py)
  trials.json, trials.csv   the table of all trials (what `report` reads)
  scores/<id>-validation.csv  a trial's validation probabilities (file, patient, label, probability)
  sites/<name>.json  operating points calibrated for a site (`calibrate`)
  test/              the final test-set run: metrics.json, predictions.csv, the exported model
  workers/           a distributed search's per-process logs
  tensorboard/       TensorBoard logs (`--tensorboard`)
  plots/             the report's figures

`RunPaths` names these paths; `find_run` finds a run, `run_lock` keeps a run to one search process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tuner.core.atomic import read_json
from tuner.core.errors import ToolkitError, command
from tuner.core.locks import LockHeld, file_lock

RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_run_name(name: str) -> str:
    """Check a run name: letters, digits, '-', '_' and '.' only, so that no run name can leave the results folder.

    Returns:
        `name`.

    Raises:
        ToolkitError: any other character, or "." or "..".
    """
    if not RUN_NAME.fullmatch(name) or name in (".", ".."):
        raise ToolkitError(f"run name {name!r} is not allowed: use letters, digits, '-', '_' and '.' only")
    return name


@dataclass(frozen=True)
class RunPaths:
    """The paths of one run's folder (see the module docstring for the layout); nothing is created here.

    Attributes:
        directory: the run's folder, `<results-dir>/<run name>`.
    """

    directory: Path

    @property
    def name(self) -> str:
        """The run's name: its folder's name."""
        return self.directory.name

    @property
    def settings_file(self) -> Path:
        """settings.json: every setting of the search; a run exists once it is written."""
        return self.directory / "settings.json"

    @property
    def manifest(self) -> Path:
        """manifest.json: what produced the run (`engine/manifest.py`)."""
        return self.directory / "manifest.json"

    @property
    def keras_tuner(self) -> Path:
        """The Keras Tuner project folder (oracle state, trial checkpoints)."""
        return self.directory / "keras_tuner"

    @property
    def trial_records(self) -> Path:
        """The folder of the per-trial records, trials/."""
        return self.directory / "trials"

    def trial_record(self, trial_id: str) -> Path:
        """A trial's record, trials/<id>.json."""
        return self.trial_records / f"{trial_id}.json"

    def trial_checkpoint(self, trial_id: str) -> Path:
        """A search trial's best-epoch weights, as Keras Tuner stores them."""
        # Keras Tuner's own layout: <project>/trial_<id>/checkpoint.weights.h5
        return self.keras_tuner / f"trial_{trial_id}" / "checkpoint.weights.h5"

    def recorded_trials(self) -> int:
        """How many trials have a record (finished or failed)."""
        return len(list(self.trial_records.glob("*.json"))) if self.trial_records.is_dir() else 0

    def finetuned_weights(self, trial_id: str) -> Path:
        """The fine-tuning stage's model weights, finetuned/<id>.weights.h5."""
        return self.directory / "finetuned" / f"{trial_id}.weights.h5"

    @property
    def finetuning(self) -> Path:
        """The fine-tuning stage's progress while it runs, finetuning/ (`engine/finetune_progress.py`)."""
        return self.directory / "finetuning"

    def model_weights(self, trial_id: str, stage: str = "search") -> Path:
        """Where a trial's model weights are: Keras Tuner's checkpoint, or the fine-tuning stage's file."""
        return self.finetuned_weights(trial_id) if stage == "finetune" else self.trial_checkpoint(trial_id)

    def validation_scores(self, trial_id: str) -> Path:
        """A trial's validation probabilities, scores/<id>-validation.csv (file, patient, label, probability)."""
        return self.directory / "scores" / f"{trial_id}-validation.csv"

    @property
    def sites(self) -> Path:
        """The folder of the site points, sites/."""
        return self.directory / "sites"

    def site(self, name: str) -> Path:
        """A site point, sites/<name>.json (`calibrate`)."""
        return self.sites / f"{name}.json"

    @property
    def trials_json(self) -> Path:
        """The ranked trials table, trials.json (what `report` reads)."""
        return self.directory / "trials.json"

    @property
    def trials_csv(self) -> Path:
        """The ranked trials table as CSV, one `hp:<name>` column per hyperparameter."""
        return self.directory / "trials.csv"

    @property
    def test_dir(self) -> Path:
        """The test-set run's folder, test/ (metrics, predictions, model, the looks counted)."""
        return self.directory / "test"

    @property
    def lock(self) -> Path:
        """The search's lock file (`run_lock`); a worker of a distributed search takes its own."""
        return self.directory / ".search.lock"


def find_run(results_dir: Path, name: str | None) -> RunPaths:
    """The named run, or the one most recently worked on among those with a finished trial.

    Args:
        results_dir: the results folder.
        name: the run's name, or None.

    Returns:
        The run's paths.

    Raises:
        ToolkitError: a bad or unknown name; no run, or (without a name) no run with a finished trial.
    """
    if name is not None:
        check_run_name(name)
        run = RunPaths(results_dir / name)
        if not run.settings_file.is_file():
            known = ", ".join(sorted(r.name for r in list_runs(results_dir))[-5:]) or "none"
            raise ToolkitError(f"no run {name!r} in {results_dir} (runs: {known}): check --run and --results-dir")
        return run
    runs = list_runs(results_dir)
    if not runs:
        raise ToolkitError(f"no runs in {results_dir}: start one with {command('search --space NAME')} "
                         f"(or {command('demo')}), or pass --results-dir")
    with_results = [run for run in runs if _has_finished_trial(run)]
    if not with_results:
        names = ", ".join(sorted(run.name for run in runs)[-5:])
        raise ToolkitError(f"no run in {results_dir} has a finished trial yet (runs: {names}): let a search finish, "
                         "or name a run with --run")
    # The run most recently worked on: its trials table is rewritten after every trial.
    return max(with_results, key=lambda run: run.trials_json.stat().st_mtime)


def _has_finished_trial(run: RunPaths) -> bool:
    try:
        return any(trial.get("status") == "completed" for trial in read_json(run.trials_json))
    except (OSError, ValueError):
        return False


def list_runs(results_dir: Path) -> list[RunPaths]:
    """Every run in `results_dir` (a folder with settings.json), in no particular order."""
    if not results_dir.is_dir():
        return []
    return [RunPaths(path.parent) for path in results_dir.glob("*/settings.json")]


def check_results_writable(results_dir: Path) -> None:
    """Create `results_dir` if needed and check that a file can be written there.

    Raises:
        ToolkitError: the folder cannot be created or written.
    """
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = results_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ToolkitError(f"results folder {results_dir} cannot be written ({error.strerror}): "
                         "pass --results-dir to a writable folder") from None


@contextmanager
def run_lock(run: RunPaths, path: Path) -> Iterator[None]:
    """Hold the run's lock for the block: one search process per run (or per worker id).

    A second process is refused, not queued; the lock goes with its holder, even when that is killed.

    Args:
        run: the run, for the message.
        path: the lock file (`run.lock`, or a worker's own).

    Raises:
        ToolkitError: another live process holds the lock.
    """
    lock = file_lock(path, wait=False)
    try:
        lock.__enter__()
    except LockHeld as held:
        holder = "another process" if held.holder == "unknown" else f"process {held.holder}"
        raise ToolkitError(f"run {run.name!r} is being searched by {holder}: wait for it, "
                           "or use another --run") from None
    with contextlib.ExitStack() as release:  # only the taking of the lock is reported as "being searched"
        release.push(lock)
        yield


def clear_run_folder(run: RunPaths) -> None:
    """--overwrite: everything of the run goes, but the locks held on it."""
    if not run.directory.is_dir():
        return
    for entry in run.directory.iterdir():
        if not entry.name.endswith(".lock"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
