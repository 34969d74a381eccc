"""Every change this toolkit makes to Keras Tuner's private internals, applied in one place.

Keras Tuner (tested: 1.4.7–1.4.8, bounded in pyproject.toml) saves its oracle and trials with plain
writes and a trial's best epoch with the optimizer state at every improving epoch. `apply()` routes
the former through our atomic writer and replaces the latter with `BestEpochInMemory`. Our tuner
subclass (engine/tuner.py) also overrides `_populate_initial_space`. tests/engine/
test_keras_tuner_patches.py fails if a Keras Tuner release moves any of them.
"""

from __future__ import annotations

import json
from pathlib import Path

from keras_tuner.src import utils as keras_tuner_utils
from keras_tuner.src.engine import tuner_utils

from tuner.core.atomic import atomic_path, write_text


class BestEpochInMemory(tuner_utils.SaveBestEpoch):
    """Keras Tuner's best-epoch checkpoint, kept in memory and written once, when training ends.

    Keras Tuner writes the weights (with the optimizer's two moments) at every improving epoch, which
    costs a large head much of its trial's time. Here the best epoch's weights are copied in memory and
    written once, atomically, to the same file. Evidence: docs/benchmarks.md ("Head training on the CPU").
    """

    best_weights: list | None = None

    def _save_model(self):  # Keras Tuner calls it at every improving epoch
        self.best_weights = self.model.get_weights()  # NumPy copies

    def on_train_end(self, logs=None):
        """Put the best epoch's weights back in the model and write them once, atomically."""
        if self.best_weights is None:  # no epoch scored (e.g. a NaN loss at once)
            return
        self.model.set_weights(self.best_weights)  # the trial ends on its best epoch
        self.best_weights = None
        with atomic_path(Path(self.filepath)) as temporary:
            self.model.save_weights(temporary)


def atomic_save_json(path, obj) -> str:
    """Keras Tuner's `utils.save_json`, written atomically: a kill mid-write keeps the old file.

    Args:
        path: the JSON file to write.
        obj: what to write (JSON-serialisable).

    Returns:
        The JSON text, as Keras Tuner's own returns it.
    """
    text = json.dumps(obj)
    write_text(Path(path), text)
    return text


def apply() -> None:
    """Install the patches (idempotent); call before a tuner is made."""
    tuner_utils.SaveBestEpoch = BestEpochInMemory
    keras_tuner_utils.save_json = atomic_save_json

