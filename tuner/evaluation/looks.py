"""Which trial a look uses, and the count of looks at the test folder.

`choose_trial` picks the model that `test`, `predict` and `calibrate` use; `count_test_look` records every look at
the test folder in test/evaluations.json.
"""

from __future__ import annotations

import time

from tuner.core.atomic import read_json, write_json
from tuner.core.errors import ToolkitError, command
from tuner.core.runs import RunPaths
from tuner.core.settings import settings_from_run
from tuner.engine.records import TrialRecord, best_trial, read_trials_table


def choose_trial(run: RunPaths, trial_id: str | None) -> TrialRecord:
    """The trial that `test` and `predict` use: `trial_id`, else the run's chosen model (`records.best_trial`).

    Args:
        run: the run folder.
        trial_id: a finished trial's id, or None for the chosen model.

    Returns:
        The trial's record.

    Raises:
        ToolkitError: no trial finished, `trial_id` is not a finished trial, or (without `trial_id`) the
            chosen model did not reach the precision floor.
    """
    trials = read_trials_table(run)
    completed = [trial for trial in trials if trial.completed]
    if not completed:
        raise ToolkitError(f"run {run.name!r} has no finished trial yet: let its search finish "
                           f"({command(f'search --run {run.name} ...')} resumes it)")
    if trial_id is not None:
        for trial in completed:
            if trial.trial_id == trial_id:
                return trial
        known = ", ".join(trial.trial_id for trial in completed[:10])
        raise ToolkitError(f"run {run.name!r} has no finished trial {trial_id!r} (finished: {known})")
    settings = settings_from_run(run)
    best = best_trial(trials, settings.recall_target)
    if not best.reachable:
        point = best.operating_point
        raise ToolkitError(f"no trial of run {run.name!r} reached the precision floor "
                           f"{settings.precision_floor:.2f} "
                           f"(best: precision {point.precision:.3f}, recall {point.recall:.3f}): pick one with "
                           "--trial ID")
    return best


def count_test_look(run: RunPaths, trial_id: str, **what) -> int:
    """Record one look at the test folder in test/evaluations.json.

    Args:
        run: the run folder.
        trial_id: the trial whose figures the look gave.
        **what: what else to note (e.g. `site`, `site_study`, `calibrate`).

    Returns:
        How many looks the run has had, this one included.
    """
    evaluations_path = run.test_dir / "evaluations.json"
    evaluations = read_json(evaluations_path) if evaluations_path.is_file() else []
    evaluations.append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "trial_id": trial_id, **what})
    write_json(evaluations_path, evaluations)
    return len(evaluations)
