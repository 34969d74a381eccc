"""Batches from memory-mapped arrays, or from arrays already on the accelerator, as a keras.utils.PyDataset."""

from __future__ import annotations

import math

import numpy as np


def to_device(source: np.ndarray, rows: np.ndarray):
    """`source[rows]` copied once into a tensor of the Keras backend, in its stored dtype (uint8 images,
    float16 features): on an accelerator it stays in the accelerator's memory for the whole search."""
    import keras

    return keras.ops.convert_to_tensor(np.asarray(source[rows]))


def make_sequence(source, rows: np.ndarray, labels: np.ndarray | None = None, *,
                  batch_size: int, shuffle: bool = False, seed: int = 0,
                  class_weights: dict[int, float] | None = None):
    """A PyDataset over `source[rows]`, cast to float32 per batch (uint8 images or float16 features).

    `source` is a NumPy array (or memory map), read per batch on the host, or the tensor
    `to_device(source, rows)`: then each batch is gathered and cast on the device, with no copy through
    the host. With `shuffle`, the order changes every epoch, reproducibly for a seed.
    With class weights, each batch carries per-sample weights. Both kinds of source give the same batches.

    Args:
        source: the array of images or features (rows indexed by image-cache row), or `to_device(source, rows)`.
        rows: the rows to batch, in order.
        labels: one label per row, or None for prediction batches.
        batch_size: rows per batch.
        shuffle: draw a new order every epoch.
        seed: seeds the order.
        class_weights: {0: weight, 1: weight}, or None for no sample weights.

    Returns:
        A `keras.utils.PyDataset` of (inputs,), (inputs, labels) or (inputs, labels, weights); its
        `start_after(n)` resumes the order after n epochs.

    Raises:
        ValueError: a device source that does not hold one row per position of `rows`.
    """
    import keras

    on_device = not isinstance(source, np.ndarray)  # then its i-th row is source[rows[i]]
    if on_device and source.shape[0] != len(rows):
        raise ValueError(f"a device source must be to_device(source, rows): {source.shape[0]} rows for "
                         f"{len(rows)} positions")

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

        def _inputs(self, positions: np.ndarray):
            if on_device:
                return keras.ops.cast(keras.ops.take(source, positions, axis=0), "float32")
            return np.asarray(source[rows[positions]], dtype=np.float32)

        def __getitem__(self, index: int):
            # Sorted positions read the memory map front to back (rows ascend within each side of a split);
            # the order inside a batch does not matter.
            positions = np.sort(self.order[index * batch_size:(index + 1) * batch_size])
            batch = self._inputs(positions)
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

        def start_after(self, finished_epochs: int) -> None:
            """Give the batches that `fit(initial_epoch=finished_epochs)` gives after that many epochs of a fit
            from epoch 0 (Keras calls `on_epoch_end` once before the first epoch, then after each)."""
            self.epoch = finished_epochs
            self._reshuffle()

    return ArraySequence()
