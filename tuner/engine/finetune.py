"""The fine-tuning stage after a `mobilenet_head` search.

The search trains heads on a frozen backbone's cached features: fast, but the features never adapt to
chest X-rays, and cached features cannot be augmented. This stage takes the best trial's head, puts it
on a MobileNetV2 whose top blocks, or all its layers (`--finetune-layers`), train too
(`MobileNetHead.finetune_model`), and trains both on augmented images at a low learning rate for a few
epochs, scoring every epoch on validation with the search's own objective. The result is one more trial
record, `<parent>-ft`, ranked with the others; it is the run's chosen model when it keeps the user's
contract on validation and the ensemble stage after it (`ensemble.py`) does not (`records.best_trial`).
Entry point: `finetune_best`.
"""

from __future__ import annotations

import shutil
import time

from tuner.core.atomic import atomic_path, read_json
from tuner.core.errors import ToolkitError
from tuner.core.progress import progress_bar
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings
from tuner.data.dataset import Dataset
from tuner.engine.objective import OperatingRule
from tuner.engine.records import (
    TrialRecord,
    completed_record,
    failed_record,
    read_trials_table,
    write_record,
    write_trials_table,
    write_validation_scores,
)

FINETUNE_BATCH = 32  # the whole backbone runs forward on every image: smaller batches, same speed
FINETUNE_SUFFIX = "-ft"


def parent_for_finetuning(run: RunPaths) -> TrialRecord | None:
    """The trial to fine-tune: the best-ranked completed search trial, when it reached the precision floor.

    Args:
        run: the run folder (its trials table).

    Returns:
        That trial's record, or None.
    """
    ranked = sorted((trial for trial in read_trials_table(run) if trial.completed and trial.stage == "search"),
                    key=lambda trial: trial.rank)
    return ranked[0] if ranked and ranked[0].reachable else None


def finetune_best(settings: SearchSettings, dataset: Dataset, run: RunPaths,
                  budget_spent=lambda: False) -> TrialRecord | None:
    """Fine-tune the best trial, once per run.

    Goes on from the last finished epoch of an interrupted stage (`finetune_progress`), with the records an
    uninterrupted stage gives. A completed stage writes the model's weights, validation's scores and the
    `<parent>-ft` record (last), rewrites the trials table and removes its progress folder.

    Args:
        settings: the run's settings (epochs, operating rule, progress display).
        dataset: the run's data; training and validation images.
        run: the run folder.
        budget_spent: called after each epoch but the last; True ends the stage there (its progress kept).

    Returns:
        The `<parent>-ft` record (completed, or failed when training diverged), read back when an earlier
        process wrote it; None when no search trial reached the precision floor.

    Raises:
        TimeBudgetSpent: `budget_spent()` ended the stage between epochs (its progress kept, no record written).
        ToolkitError: the saved progress cannot be read, or the parent's weights are missing.
    """
    parent = parent_for_finetuning(run)
    if parent is None:
        return None
    trial_id = parent.trial_id + FINETUNE_SUFFIX
    progress_dir = run.finetuning / trial_id
    if run.trial_record(trial_id).is_file():  # done before this resume
        _remove_progress(run, progress_dir)  # a kill came between the record and this
        return TrialRecord.from_dict(read_json(run.trial_record(trial_id)))

    import keras

    from tuner.data.sequences import make_sequence
    from tuner.engine.callbacks import (
        EpochReport,
        KeepBestEpoch,
        SaveEachEpoch,
        SetPythonRandomState,
        StopOnInterrupt,
        StopWhenBudgetSpent,
        ValidationMetrics,
    )
    from tuner.engine.finetune_progress import latest_epoch, read_epoch, restore_model
    from tuner.engine.hypermodels import load_trial_model, make_space, trial_hyperparameters
    from tuner.engine.tuner import IMAGE_PREDICTION_BATCH, TimeBudgetSpent, sources_for_training, trial_seed

    seed = trial_seed(settings.data.seed, trial_id)
    keras.utils.set_random_seed(seed)
    space = make_space(settings)
    model = space.finetune_model(trial_hyperparameters(space, parent.hyperparameters))
    space.copy_head_weights(load_trial_model(run, settings, parent, on_images=False), model)

    train, validation = dataset.split("train"), dataset.split("validation")
    train_rows, validation_rows = train["row"].to_numpy(), validation["row"].to_numpy()
    train_images, validation_images = sources_for_training(dataset.images, train_rows, validation_rows)
    train_batches = make_sequence(train_images, train_rows, train["label"].to_numpy(),
                                  batch_size=FINETUNE_BATCH, shuffle=True, seed=seed,
                                  class_weights=dataset.class_weights())
    validation_batches = make_sequence(validation_images, validation_rows, batch_size=IMAGE_PREDICTION_BATCH)
    metrics = ValidationMetrics(validation_batches, validation["label"].to_numpy(), OperatingRule.of(settings))
    keep_best = KeepBestEpoch()
    finished, seconds_before, python_random_state = 0, 0.0, None
    saved_folder = latest_epoch(progress_dir)
    if saved_folder is not None:
        try:
            saved = read_epoch(saved_folder)
            restore_model(model, saved)
        except Exception as error:  # a damaged copy (a power cut, a synced folder): the user decides
            raise ToolkitError(f"the fine-tuning progress in {saved_folder} cannot be read ({error}); delete "
                               f"{progress_dir} to fine-tune trial {parent.trial_id} from its first epoch") from None
        metrics.history, metrics.probabilities = list(saved.history), list(saved.probabilities)
        keep_best.best_score, keep_best.best_weights = saved.best_score, saved.best_weights
        finished, seconds_before, python_random_state = saved.epochs, saved.seconds, saved.python_random_state
        train_batches.start_after(finished)
    started = time.monotonic()
    budget = StopWhenBudgetSpent(budget_spent)
    remaining = settings.finetune_epochs - finished
    with progress_bar(f"fine-tuning trial {parent.trial_id}", total=remaining * len(train_batches),
                      unit="batches", enabled=settings.show_progress) as advance:
        try:
            if remaining > 0:
                model.fit(train_batches, initial_epoch=finished, epochs=settings.finetune_epochs, verbose=0,
                          callbacks=[SetPythonRandomState(python_random_state), metrics,
                                     keras.callbacks.TerminateOnNaN(), keep_best,
                                     SaveEachEpoch(progress_dir, metrics, keep_best,
                                                   lambda: seconds_before + time.monotonic() - started),
                                     StopOnInterrupt(), budget, EpochReport(advance, metrics, settings.show_progress)])
            elif keep_best.best_weights is not None:  # every epoch was done before a kill; the best is kept
                model.set_weights(keep_best.best_weights)
            failure = None
        except FloatingPointError as error:  # diverged: recorded, and the parent stays the chosen model
            failure = str(error)
    if budget.stopped:
        raise TimeBudgetSpent(f"fine-tuning of {parent.trial_id} stopped after epoch {len(metrics.history)} of "
                              f"{settings.finetune_epochs}")
    record = finetune_record(parent, trial_id, metrics.history, settings,
                             seconds_before + time.monotonic() - started, failure)
    if record.completed:
        with atomic_path(run.finetuned_weights(trial_id)) as temporary:
            model.save_weights(temporary)
        write_validation_scores(run, trial_id, validation, metrics.probabilities[record.best_epoch - 1])
    write_record(run, record)  # last: a record means its weights are on disk
    write_trials_table(run)
    _remove_progress(run, progress_dir)
    return record


def _remove_progress(run: RunPaths, progress_dir) -> None:
    shutil.rmtree(progress_dir, ignore_errors=True)
    if run.finetuning.is_dir() and not any(run.finetuning.iterdir()):
        run.finetuning.rmdir()


def finetune_record(parent: TrialRecord, trial_id: str, history: list[dict], settings: SearchSettings,
                    seconds: float, failure: str | None = None) -> TrialRecord:
    """A trial record of the fine-tuning stage, in the search's schema, from its per-epoch history.

    Args:
        parent: the fine-tuned search trial.
        trial_id: the record's id (`<parent>-ft`).
        history: one `records.epoch_row` per finished epoch.
        settings: the run's settings.
        seconds: the stage's seconds, earlier processes included.
        failure: why training failed (divergence), or None.

    Returns:
        A completed record at the best epoch, or a failed one when `failure` is given or no epoch finished.
    """
    details = dict(trial_id=trial_id, stage="finetune", parent_trial=parent.trial_id,
                   target_epochs=settings.finetune_epochs, cached_features=False, seconds=round(seconds, 2),
                   hyperparameters=parent.hyperparameters,
                   worker=None)  # the search's own process, after the search
    if failure or not history:
        return failed_record(failure or "fine-tuning diverged before its first epoch ended", history, **details)
    return completed_record(history, **details)
