"""Resume and the run folder: a run is continued only with the settings it was started with.

`prepare_run_folder` makes a run new, resumed or finished (the chief or the one process);
`wait_for_chief_settings` is a worker's side of the same check.
"""

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
    """Make the run folder ready: a new run, a resumed one, or one that already finished.

    Prints one line saying which. A new run (or `--overwrite`) gets an empty folder and settings.json; an
    existing one must have been started with the same settings, and the temporary files that a killed write
    left are removed. Call it while holding the run's lock (`runs.run_lock`).

    Args:
        settings: the search's settings; `settings.run` is the folder.

    Returns:
        False when the run already finished with these settings (nothing left to do), else True.

    Raises:
        ToolkitError: the run exists with other settings (`check_same_settings`).
    """
    run = settings.run
    if run.settings_file.is_file() and not settings.overwrite:
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
    write_json(run.settings_file, settings.to_dict())
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
    """Refuse to resume a run whose stored settings differ from `settings` in one of RESUME_KEYS.

    The keys of DIGEST_KEYS_IF_CHANGED (how a run fine-tunes) count only when the search fine-tunes.

    Raises:
        ToolkitError: naming every setting that differs (stored → wanted).
    """
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
    """Wait for the chief to write the run's settings, then check that they are this worker's.

    A worker starts with the chief or soon after, so it polls for settings.json once a second.

    Args:
        settings: the worker's settings.
        timeout_seconds: how long to wait for the chief.

    Raises:
        ToolkitError: no chief started the run in time, or it was started with other settings.
    """
    deadline = time.monotonic() + timeout_seconds
    while not settings.run.settings_file.is_file():
        if time.monotonic() > deadline:
            raise ToolkitError(f"no chief has started run {settings.run.name!r} in {settings.results_dir} "
                             f"within {timeout_seconds:.0f} s: start `search --role chief` first")
        time.sleep(1)
    check_same_settings(settings)
