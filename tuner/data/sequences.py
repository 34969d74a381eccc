"""Batches from memory-mapped arrays as a keras.utils.PyDataset: NumPy only, any backend."""

from __future__ import annotations

import math

import numpy as np


def make_sequence(source: np.ndarray, rows: np.ndarray, labels: np.ndarray | None = None, *,
                  batch_size: int, shuffle: bool = False, seed: int = 0,
                  class_weights: dict[int, float] | None = None):
    """A PyDataset over `source[rows]`, cast to float32 per batch (uint8 images or float16 features).

    With `shuffle`, the order changes every epoch, reproducibly for a seed. With class weights,
    each batch carries per-sample weights.
    """
    import keras

    class ArraySequence(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.order = np.arange(len(rows))
            self.epoch = 0
            self._reshuffle()

        def _reshuffle(self) -> None:
            if shuffle:
                self.order = np.random.default_rng([seed, self.epoch]).permutation(len(rows))

        def __len__(self) -> int:
            return math.ceil(len(rows) / batch_size)

        def __getitem__(self, index: int):
            positions = np.sort(self.order[index * batch_size:(index + 1) * batch_size])
            # Sorted rows read the memory map front to back; the order inside a batch does not matter.
            batch = np.asarray(source[rows[positions]], dtype=np.float32)
            if labels is None:
                return (batch,)
            batch_labels = labels[positions].astype(np.float32)
            if class_weights is None:
                return batch, batch_labels
            weights = np.where(batch_labels > 0.5, class_weights[1], class_weights[0]).astype(np.float32)
            return batch, batch_labels, weights

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._reshuffle()

    return ArraySequence()
