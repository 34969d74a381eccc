"""The ensemble stage (`search --ensemble`): the fine-tuned model and its frozen parent, averaged.

Fine-tuning adapts the backbone to chest X-rays; the parent keeps ImageNet's features. Both models exist
at the end of a search, so the stage trains nothing: `ensemble_finetuned` scores their average on
validation with the search's own objective and records it as `<parent>-ens`, one more trial, the run's
chosen model when it keeps the user's contract (`records.best_trial`). Its model is rebuilt from its
members' weights (`hypermodels.load_trial_model`), so it costs two backbones per image in `test` and `predict`.

Evidence: docs/results.md ("Three more candidates, on validation only").
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from tuner.core.atomic import read_json
from tuner.core.progress import stderr_console
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings
from tuner.data.dataset import Dataset
from tuner.engine.objective import OperatingRule, validation_metrics
from tuner.engine.records import TrialRecord, completed_record, epoch_row, write_record, write_trials_table

ENSEMBLE_SUFFIX = "-ens"


def ensemble_finetuned(settings: SearchSettings, dataset: Dataset, run: RunPaths,
                       finetuned: TrialRecord | None) -> TrialRecord | None:
    """Score and record the average of a completed fine-tuning trial and its parent, once per run.

    Args:
        settings: the run's settings (its operating rule; whether to show progress).
        dataset: the run's data; its validation side is scored.
        run: the run folder; the record goes to trials/<parent>-ens.json and the trials table is rewritten.
        finetuned: the fine-tuning stage's record (`finetune.finetune_best`), or None.

    Returns:
        The `<parent>-ens` record (read back when an earlier process wrote it), or None when `finetuned`
        is None or failed.

    Raises:
        ToolkitError: a member's record or weights are missing (`hypermodels.ensemble_model`).
    """
    if finetuned is None or not finetuned.completed:
        return None
    trial_id = finetuned.parent_trial + ENSEMBLE_SUFFIX
    if run.trial_record(trial_id).is_file():  # done before this resume
        return TrialRecord.from_dict(read_json(run.trial_record(trial_id)))

    from tuner.data.sequences import make_sequence
    from tuner.engine.hypermodels import ensemble_model
    from tuner.engine.tuner import IMAGE_PREDICTION_BATCH

    started = time.monotonic()
    members = [finetuned.parent_trial, finetuned.trial_id]
    if settings.show_progress:
        stderr_console.print(f"Scoring the average of trials {members[0]} and {members[1]} on validation …")
    validation = dataset.split("validation")
    model = ensemble_model(run, settings, members)
    batches = make_sequence(dataset.images, validation["row"].to_numpy(), batch_size=IMAGE_PREDICTION_BATCH)
    probabilities = np.asarray(model.predict(batches, verbose=0), dtype=np.float64).ravel()
    metrics = validation_metrics(validation["label"].to_numpy(), probabilities, OperatingRule.of(settings))
    scored = epoch_row(0, metrics, time.monotonic() - started)  # epoch 0: nothing trained
    record = completed_record([scored], trial_id=trial_id, stage="ensemble", parent_trial=finetuned.parent_trial,
                              members=members, hyperparameters=finetuned.hyperparameters, target_epochs=0,
                              seconds=round(time.monotonic() - started, 2), worker=None)
    record = replace(record, epochs=0)  # nothing trained: its one row is the members' average, scored
    write_record(run, record)
    write_trials_table(run)
    return record
