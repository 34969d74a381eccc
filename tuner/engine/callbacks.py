"""Keras callbacks of a trial and of the fine-tuning stage.

`ValidationMetrics` scores validation with the search objective every epoch (the others read what it
adds to the logs); the rest drive the live display, stop on Ctrl-C or a spent time budget, keep the best
epoch, and save and resume the fine-tuning stage's progress.
"""

from __future__ import annotations

import random
import time

import keras
import numpy as np

from tuner.core.progress import stderr_console
from tuner.engine.interrupt import raise_if_requested
from tuner.engine.objective import OperatingRule, validation_metrics
from tuner.engine.records import epoch_row


class _SharedAcrossCopies:
    # Keras Tuner deep-copies a trial's callbacks; these hold memory-mapped data and a display,
    # which must be shared, not copied.
    def __deepcopy__(self, memo):
        return self


class ValidationMetrics(_SharedAcrossCopies, keras.callbacks.Callback):
    """Scores the validation split each epoch with the search objective and records every epoch.

    Adds `val_score`, `val_recall`, `val_precision`, `val_threshold`, ... and `val_loss` to the
    epoch's logs, before Keras Tuner's checkpoint and the LR/early-stopping callbacks read them.
    `history` holds one `epoch_row` per epoch, `probabilities` the validation probabilities of each.

    Args:
        validation_inputs: the validation batches (`data.sequences.make_sequence`, without labels).
        validation_labels: validation's labels, 1 = PNEUMONIA, in the batches' order.
        rule: how the threshold is chosen (`OperatingRule.of(settings)`).
    """

    def __init__(self, validation_inputs, validation_labels: np.ndarray, rule: OperatingRule) -> None:
        super().__init__()
        self.validation_inputs = validation_inputs
        self.validation_labels = validation_labels
        self.rule = rule
        self.history: list[dict] = []
        self.probabilities: list[np.ndarray] = []
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        """Note when the epoch began (each history row has its seconds)."""
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        """Score validation, add `val_*` to `logs`, and append the epoch's row and probabilities.

        Raises:
            FloatingPointError: the model's output is NaN or infinite (the training diverged).
        """
        probabilities = np.asarray(self.model.predict(self.validation_inputs, verbose=0), dtype=np.float64).ravel()
        if not np.all(np.isfinite(probabilities)):
            raise FloatingPointError(f"the model's output became NaN/inf at epoch {epoch + 1} "
                                     "(diverged: try a lower learning rate)")
        metrics = validation_metrics(self.validation_labels, probabilities, self.rule)
        self.probabilities.append(probabilities)
        logs = logs if logs is not None else {}
        for name, value in metrics.items():
            if name not in ("n_positives", "n_negatives"):
                logs[f"val_{name}"] = float(value)
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.history.append(epoch_row(epoch + 1, metrics, time.monotonic() - self._epoch_started,
                                      float(logs.get("loss", np.nan)), learning_rate))


class DisplayCallback(_SharedAcrossCopies, keras.callbacks.Callback):
    """Drives the search's live display (`core.live.SearchDisplay`): batches, epochs and their metrics.

    Args:
        display: the search's display.
        batches_per_epoch: the training batches of one epoch.
        validation: the trial's `ValidationMetrics`, whose last row each epoch shows.
    """

    def __init__(self, display, batches_per_epoch: int, validation: ValidationMetrics) -> None:
        super().__init__()
        self.display = display
        self.batches_per_epoch = batches_per_epoch
        self.validation = validation

    def on_epoch_begin(self, epoch, logs=None):
        """Start the epoch's progress bar."""
        self.display.epoch_started(epoch, self.batches_per_epoch)

    def on_train_batch_end(self, batch, logs=None):
        """Advance the epoch's progress bar."""
        self.display.batch_done()

    def on_epoch_end(self, epoch, logs=None):
        """Show the epoch's validation metrics (its validation loss as the loss)."""
        last = self.validation.history[-1] if self.validation.history else {}
        self.display.epoch_done(epoch, {**last, "loss": last.get("val_loss")})


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises a Ctrl-C that an interpreter callback swallowed, at the next batch (see `interrupt.py`)."""

    def on_train_batch_end(self, batch, logs=None):
        """Raise a swallowed Ctrl-C (KeyboardInterrupt)."""
        raise_if_requested()

    def on_epoch_end(self, epoch, logs=None):
        """Raise a swallowed Ctrl-C (KeyboardInterrupt)."""
        raise_if_requested()


class KeepBestEpoch(keras.callbacks.Callback):
    """Training ends on the epoch with the best validation score (weights kept in memory).

    Put it after `ValidationMetrics`, which adds `val_score` to the logs. `best_score` and `best_weights` can
    be set before `fit` to go on from a saved stage.
    """

    def __init__(self) -> None:
        super().__init__()
        self.best_score, self.best_weights = -np.inf, None

    def on_epoch_end(self, epoch, logs=None):
        """Keep the epoch's weights when its `val_score` is the best so far (the first best on ties)."""
        score = (logs or {}).get("val_score", -np.inf)
        if score > self.best_score:
            self.best_score, self.best_weights = score, self.model.get_weights()

    def on_train_end(self, logs=None):
        """Put the best epoch's weights back in the model."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochReport(keras.callbacks.Callback):
    """The fine-tuning stage's progress: a bar advanced per batch and one line per epoch.

    Args:
        advance: the progress bar's `advance(n)` (`core.progress.progress_bar`).
        validation: the stage's `ValidationMetrics`, whose last row each epoch's line shows.
        enabled: print the lines.
    """

    def __init__(self, advance, validation: ValidationMetrics, enabled: bool) -> None:
        super().__init__()
        self.advance, self.validation, self.enabled = advance, validation, enabled

    def on_train_batch_end(self, batch, logs=None):
        """Advance the bar by one batch."""
        self.advance(1)

    def on_epoch_end(self, epoch, logs=None):
        """Print the epoch's validation figures on stderr."""
        if self.enabled and self.validation.history:
            last = self.validation.history[-1]
            stderr_console.print(f"fine-tuning epoch {last['epoch']}: validation recall {last['recall']:.3f}, "
                                 f"specificity {last['specificity']:.3f}, precision {last['precision']:.3f}, "
                                 f"threshold {last['threshold']:.3g}, ROC-AUC {last['roc_auc']:.3f}")


class SaveEachEpoch(keras.callbacks.Callback):
    """Keeps the fine-tuning stage's progress at the end of every epoch (`finetune_progress.save_epoch`).

    Put it after `KeepBestEpoch`, whose best weights it saves, and before `StopOnInterrupt`, so that Ctrl-C
    keeps the epoch.

    Args:
        directory: the trial's progress folder (`<run>/finetuning/<trial>`).
        validation: the stage's `ValidationMetrics` (history and probabilities).
        keep_best: the stage's `KeepBestEpoch` (best score and weights).
        seconds_so_far: returns the stage's seconds, earlier processes included.
    """

    def __init__(self, directory, validation: ValidationMetrics, keep_best: KeepBestEpoch, seconds_so_far) -> None:
        super().__init__()
        self.directory, self.validation, self.keep_best = directory, validation, keep_best
        self.seconds_so_far = seconds_so_far

    def on_epoch_end(self, epoch, logs=None):
        """Save the finished epoch's folder; nothing when TerminateOnNaN cut the epoch short."""
        from tuner.engine.finetune_progress import save_epoch

        if self.model.stop_training:  # TerminateOnNaN ended the epoch part-way: not a finished epoch
            return
        save_epoch(self.directory, self.model, epochs=epoch + 1, history=self.validation.history,
                   probabilities=self.validation.probabilities, best_score=self.keep_best.best_score,
                   best_weights=self.keep_best.best_weights, seconds=self.seconds_so_far())


class StopWhenBudgetSpent(keras.callbacks.Callback):
    """Ends training after the epoch in which `budget_spent()` became true; `stopped` says whether it did.

    The last epoch of the `fit` is not asked: it ends training anyway.

    Args:
        budget_spent: returns True once the time budget is spent.
    """

    def __init__(self, budget_spent) -> None:
        super().__init__()
        self.budget_spent, self.stopped = budget_spent, False

    def on_epoch_end(self, epoch, logs=None):
        """Stop training (and set `stopped`) when the budget is spent and epochs remain."""
        if epoch + 1 < self.params.get("epochs", 0) and self.budget_spent():
            self.model.stop_training = self.stopped = True


class SetPythonRandomState(keras.callbacks.Callback):
    """Sets Python's random state when the first epoch of this `fit` begins.

    That is after the draws Keras makes while setting up (the JAX and torch trainers read one batch, and so
    shuffle once), and before the draw that orders the epoch's batches (Keras' PyDataset adapter shuffles them
    with Python's `random`).

    Args:
        state: a `random.getstate()` value (a resumed stage's `SavedEpoch.python_random_state`), or None to
            change nothing.
    """

    def __init__(self, state: tuple) -> None:
        super().__init__()
        self.state = state

    def on_epoch_begin(self, epoch, logs=None):
        """Set the state once, at the first epoch."""
        if self.state is not None:
            random.setstate(self.state)
            self.state = None
