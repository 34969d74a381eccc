"""Resume and the run folder: a run is continued only with the settings it was started with."""

from __future__ import annotations

import time

from tuner.core.atomic import read_json, remove_leftovers, write_json
from tuner.core.errors import ToolkitError
from tuner.core.progress import stderr_console
from tuner.core.runs import clear_run_folder
from tuner.core.settings import DIGEST_KEYS_IF_CHANGED, RESUME_KEYS, SearchSettings, stored_settings
from tuner.engine.finetune import FINETUNE_SUFFIX
from tuner.engine.finetune_progress import in_progress


def prepare_run_folder(settings: SearchSettings) -> bool:
    """Make the run folder ready; False when the run already finished (nothing left to do). Says which."""
    run = settings.run
    if run.settings.is_file() and not settings.overwrite:
        check_same_settings(settings)
        # A kill mid-write leaves the old file whole and a temporary beside it; the oracle (and so
        # any worker) starts only after this, so nothing is writing yet.
        remove_leftovers(run.directory)
        finished_trials = run.recorded_trials()
        manifest = read_json(run.manifest) if run.manifest.is_file() else {}
        if manifest.get("finished"):
            stderr_console.print(f"Run {run.name} already finished with these settings ({finished_trials} trials, "
                                 f"{manifest['finished']}): nothing to do. --overwrite searches again; "
                                 "--run NAME starts another run.", soft_wrap=True)
            return False
        stderr_console.print(_resuming_line(settings, finished_trials), soft_wrap=True)
        return True
    if settings.overwrite:
        clear_run_folder(run)
    stderr_console.print(f"New run {run.name} in {settings.results_dir}.", soft_wrap=True)
    write_json(run.settings, settings.to_dict())
    return True


def _resuming_line(settings: SearchSettings, finished_trials: int) -> str:
    run = settings.run
    where = f"run {run.name} ({finished_trials} trial(s) finished) in {settings.results_dir}"
    finetuning = in_progress(run)
    if finetuning is None:
        return f"Resuming {where}."
    trial, epochs = finetuning
    parent = trial.removesuffix(FINETUNE_SUFFIX)
    if epochs >= settings.finetune_epochs:
        return f"Finishing fine-tuning of {parent} (its {epochs} epochs done) in {where}."
    return f"Resuming fine-tuning of {parent} at epoch {epochs + 1} of {settings.finetune_epochs} in {where}."


def check_same_settings(settings: SearchSettings) -> None:
    run, wanted = settings.run, settings.to_dict()
    stored = stored_settings(run)
    # How a run fine-tunes matters only where it fine-tunes (runs that do not stored the defaults of their day).
    compared = [key for key in RESUME_KEYS if settings.finetunes or key not in DIGEST_KEYS_IF_CHANGED]
    differing = [f"{key} ({stored.get(key)!r} → {wanted.get(key)!r})"
                 for key in compared if stored.get(key) != wanted.get(key)]
    if differing:
        raise ToolkitError(f"run {run.name!r} exists with other settings: {', '.join(differing)}; "
                         "use the same settings to resume, another --run, or --overwrite to start over")


def wait_for_chief_settings(settings: SearchSettings, timeout_seconds: float = 600) -> None:
    """A worker starts with the chief or soon after: it waits for the run's settings, then checks them."""
    deadline = time.monotonic() + timeout_seconds
    while not settings.run.settings.is_file():
        if time.monotonic() > deadline:
            raise ToolkitError(f"no chief has started run {settings.run.name!r} in {settings.results_dir} "
                             f"within {timeout_seconds:.0f} s: start `search --role chief` first")
        time.sleep(1)
    check_same_settings(settings)
