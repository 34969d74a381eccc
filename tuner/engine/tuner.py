"""Our Keras Tuner tuners: Hyperband, and one fixed point of a space (`train`), with this toolkit's
per-trial seeding, data, callbacks and trial records on top.

`make_tuner` builds one over a `TrialContext`; `search.run_search` calls its `search`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import keras
import keras_tuner
import numpy as np

from tuner.core.live import SearchDisplay
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings
from tuner.data.dataset import Dataset
from tuner.data.sequences import make_sequence, to_device
from tuner.engine.backends import keeps_inputs_on_device
from tuner.engine.callbacks import DisplayCallback, StopOnInterrupt, ValidationMetrics
from tuner.engine.distributed import log_event
from tuner.engine.objective import OperatingRule
from tuner.engine.records import TrialRecord, completed_record, failed_record, write_record, write_trials_table

OBJECTIVE = "val_score"
# Predictions only, so the batch changes no result, only speed and memory: large on cached features;
# small on images, where every image takes the whole network's activations: a larger batch there costs
# memory and gains no speed (docs/benchmarks.md, "Earlier defaults").
VALIDATION_BATCH = 256
IMAGE_PREDICTION_BATCH = 32


class TimeBudgetSpent(Exception):
    """--time-budget ran out: no new trial starts; the run resumes with the same command."""


def trial_seed(seed: int, trial_id: str) -> int:
    """A trial's own seed, from the run's seed and the trial's id only.

    A trial's training then does not depend on what ran before, so a resumed search trains each trial
    exactly as an uninterrupted one would.

    Args:
        seed: the run's seed (`--seed`).
        trial_id: the trial's id (also `<parent>-ft` for the fine-tuning stage).

    Returns:
        A seed in [0, 2**31).
    """
    return zlib.crc32(f"{seed}:{trial_id}".encode()) % (2**31)


@dataclass
class TrialContext:
    """What every trial of a search shares: the settings, the run, the data it trains on (images or the
    backbone's cached features; None in a chief, which trains nothing) and the live display.

    On an accelerator that holds them (`keeps_inputs_on_device`), the training and validation inputs
    are copied there once, for every trial, and batches are gathered on the device.

    Attributes:
        settings: the search's settings.
        run: the run folder.
        dataset: the run's data (its split and class weights).
        inputs: the array the trials train on, indexed by image-cache row (images, or cached features);
            None in a chief.
        display: the live display.
        budget_spent: returns True once the time budget is spent (no new trial starts then).
        train_rows: the training images' rows in `inputs`.
        train_labels: their labels.
        validation_labels: the validation images' labels.
        train_inputs: what training batches read from: `inputs`, or its training rows on the device; None
            in a chief.
        validation_inputs: the validation batches (`make_sequence`); None in a chief.
        on_device: the inputs were copied into the accelerator's memory.
        class_weights: balanced class weights of the training side.
    """

    settings: SearchSettings
    run: RunPaths
    dataset: Dataset
    inputs: np.ndarray | None
    display: SearchDisplay
    budget_spent: Callable[[], bool] = lambda: False

    def __post_init__(self) -> None:
        train, validation = self.dataset.split("train"), self.dataset.split("validation")
        self.train_rows, self.train_labels = train["row"].to_numpy(), train["label"].to_numpy()
        validation_rows, self.validation_labels = validation["row"].to_numpy(), validation["label"].to_numpy()
        self.train_inputs = self.validation_inputs = None
        if self.inputs is not None:
            self.train_inputs, validation_source = sources_for_training(self.inputs, self.train_rows, validation_rows)
            batch = VALIDATION_BATCH if self.settings.uses_feature_cache else IMAGE_PREDICTION_BATCH
            self.validation_inputs = make_sequence(validation_source, validation_rows, batch_size=batch)
        self.on_device = not isinstance(self.train_inputs, np.ndarray | None)
        self.class_weights = self.dataset.class_weights()


def sources_for_training(inputs: np.ndarray, train_rows: np.ndarray, validation_rows: np.ndarray) -> tuple:
    """What the training and validation batches are read from.

    Args:
        inputs: the host array (or memory map) of images or features, indexed by image-cache row.
        train_rows: the training side's rows.
        validation_rows: the validation side's rows.

    Returns:
        (training source, validation source): `inputs` for both, or, on an accelerator that holds them
        (`keeps_inputs_on_device`), a copy of each side's rows in its memory (`to_device`).
    """
    if keeps_inputs_on_device(inputs[0].nbytes * (len(train_rows) + len(validation_rows))):
        return to_device(inputs, train_rows), to_device(inputs, validation_rows)
    return inputs, inputs


class RecordedTrials:
    """Our per-trial seeding, data, callbacks and records, on top of a Keras Tuner tuner (a mixin).

    Args:
        context: what every trial shares.
        **kwargs: the Keras Tuner tuner's own arguments.
    """

    def __init__(self, context: TrialContext, **kwargs) -> None:
        self.context = context
        self._current: dict | None = None
        self._idle = False
        super().__init__(**kwargs)

    def _populate_initial_space(self):
        # Our spaces declare every hyperparameter, conditional ones included, in `declare`; Keras
        # Tuner's default would also build a model per conditional scope just to discover them.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def pre_create_trial(self):
        """Refuse a new trial once the budget is spent; wait a second between answers of IDLE.

        Raises:
            TimeBudgetSpent: the time budget is spent.
        """
        if self.context.budget_spent():
            raise TimeBudgetSpent
        # Hyperband answers IDLE while a round waits for other workers' trials: ask again in a
        # second rather than in a busy loop that takes a core from the workers.
        if self._idle:
            time.sleep(1)
        self._idle = True

    def on_trial_begin(self, trial):
        """Log the trial's start (workers/<id>.jsonl)."""
        self._idle = False
        log_event(self.context.run, self.tuner_id, "start", trial.trial_id)
        super().on_trial_begin(trial)

    def run_trial(self, trial, *args, **kwargs):
        """Train the trial with its own seed, batches and callbacks (`ValidationMetrics` first)."""
        context, settings = self.context, self.context.settings
        seed = trial_seed(settings.data.seed, trial.trial_id)
        keras.utils.set_random_seed(seed)
        hp_values = trial.hyperparameters.values
        train_batches = make_sequence(context.train_inputs, context.train_rows, context.train_labels,
                                      batch_size=settings.batch_size, shuffle=True, seed=seed,
                                      class_weights=context.class_weights)
        metrics = ValidationMetrics(context.validation_inputs, context.validation_labels, OperatingRule.of(settings))
        self._current = {"metrics": metrics, "started": time.monotonic()}
        context.display.trial_started(trial.trial_id, hp_values.get("tuner/bracket"), hp_values.get("tuner/round"),
                                      hp_values.get("tuner/initial_epoch", 0),
                                      hp_values.get("tuner/epochs", settings.max_epochs))
        kwargs["callbacks"] = [
            metrics,  # first: the callbacks after it read the metrics it adds to the logs
            keras.callbacks.TerminateOnNaN(),
            StopOnInterrupt(),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=3, min_lr=1e-6),
            keras.callbacks.EarlyStopping(monitor=OBJECTIVE, mode="max", patience=5),
            DisplayCallback(context.display, len(train_batches), metrics),
        ]
        if settings.tensorboard:
            # Keras Tuner gives each trial its own log folder and adds its HParams callback.
            kwargs["callbacks"].append(keras.callbacks.TensorBoard(log_dir=str(context.run.directory / "tensorboard")))
        kwargs["verbose"] = 0
        kwargs.setdefault("epochs", settings.max_epochs)  # Hyperband sets its own per trial
        return super().run_trial(trial, train_batches, *args, **kwargs)

    def on_trial_end(self, trial):
        """Write the trial's record and the trials table, update the display, and free the trial's memory."""
        record = search_trial_record(trial, self._current, self.context.settings, worker=self.tuner_id)
        write_record(self.context.run, record)
        log_event(self.context.run, self.tuner_id, "end", trial.trial_id, status=record.status)
        super().on_trial_end(trial)
        write_trials_table(self.context.run)
        self.context.display.trial_done(record.to_dict(history=False))
        self._current = None
        _release_memory()


class XrayHyperband(RecordedTrials, keras_tuner.Hyperband):
    """Keras Tuner's Hyperband with our trials."""


class FixedConfiguration(RecordedTrials, keras_tuner.RandomSearch):
    """One trial of one point of a space (every value Fixed): `train` of a reference model."""


def make_tuner(context: TrialContext, hypermodel) -> RecordedTrials:
    """Our Hyperband (or, for `train`, one fixed point) over `hypermodel`.

    Keras Tuner takes seed 0 (the default --seed) as "none" and draws its oracle's seed from Python's
    `random`: reproducible only because `search.py` seeds every generator (keras.utils.set_random_seed)
    just before. Passing another seed would change every run's trials, so it stays as it is.

    Args:
        context: what every trial shares; its settings give Hyperband's arguments and, for `train`,
            the fixed hyperparameters.
        hypermodel: the run's space (`hypermodels.make_space`).

    Returns:
        An `XrayHyperband`, or a `FixedConfiguration` of one trial, in the run's keras_tuner/ folder
        (resumed from it when it exists).
    """
    settings, run = context.settings, context.run
    common = dict(hypermodel=hypermodel, objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
                  seed=settings.data.seed, directory=str(run.directory), project_name=run.keras_tuner.name,
                  overwrite=False, max_consecutive_failed_trials=settings.max_failed_trials)
    if settings.fixed_hyperparameters is None:
        return XrayHyperband(context, max_epochs=settings.max_epochs, factor=settings.factor,
                             hyperband_iterations=settings.hyperband_iterations, **common)
    fixed = keras_tuner.HyperParameters()
    for name, value in settings.fixed_hyperparameters.items():
        fixed.Fixed(name, value)
    return FixedConfiguration(context, max_trials=1, hyperparameters=fixed, tune_new_entries=False, **common)


def search_trial_record(trial, current: dict | None, settings: SearchSettings, worker: str | None) -> TrialRecord:
    """A Keras Tuner trial's record, from the history our ValidationMetrics kept.

    Args:
        trial: the Keras Tuner trial.
        current: the running trial's state in `RecordedTrials` (its metrics callback and start time), or None.
        settings: the search's settings.
        worker: Keras Tuner's id of the process that ran it.

    Returns:
        A completed record when the trial completed with at least one epoch, else a failed one.
    """
    hp_values = trial.hyperparameters.values
    history = current["metrics"].history if current else []
    details = dict(
        trial_id=trial.trial_id, stage="search", worker=worker,
        bracket=hp_values.get("tuner/bracket"), round=hp_values.get("tuner/round"),
        parent_trial=hp_values.get("tuner/trial_id"), initial_epoch=hp_values.get("tuner/initial_epoch", 0),
        target_epochs=hp_values.get("tuner/epochs"), cached_features=settings.uses_feature_cache,
        seconds=round(time.monotonic() - current["started"], 2) if current else None,
        hyperparameters={k: v for k, v in hp_values.items() if not k.startswith("tuner/")},
    )
    if trial.status == "COMPLETED" and history:
        return completed_record(history, **details)
    return failed_record(_failure_reason(trial.message), history, **details)


def _failure_reason(message: str | None) -> str:
    """The last line of a failed trial's traceback: the exception and its message."""
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


def _release_memory() -> None:
    """Give a finished trial's memory back to the system. Its model, gradients and optimizer state
    (hundreds of MB for a Flatten head) are freed, but glibc keeps freed heap pages, so the resident
    size would ratchet up from trial to trial."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass
