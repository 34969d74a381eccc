"""Batches read from host arrays and batches gathered from a copy on the device are the same, and train
the same model."""

import keras
import numpy as np
import pytest

from tuner.data.sequences import make_sequence, to_device


def _data(rows=50, seed=0):
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(80, 4, 4, 3)).astype(np.float16)  # stored as the feature cache stores them
    chosen = rng.permutation(80)[:rows]  # unsorted, as a patient-grouped split's rows are
    labels = (rng.random(rows) < 0.7).astype(int)
    return source, chosen, labels


def _sequences(**kwargs):
    source, rows, labels = _data()
    common = dict(batch_size=16, shuffle=True, seed=3, class_weights={0: 1.9, 1: 0.7}, **kwargs)
    return (make_sequence(source, rows, labels, **common),
            make_sequence(to_device(source, rows), rows, labels, **common))


def test_device_batches_equal_host_batches_in_every_epoch():
    host, device = _sequences()
    assert len(host) == len(device) == 4
    for _ in range(2):
        for index in range(len(host)):
            for expected, got in zip(host[index], device[index], strict=True):
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), expected)
        host.on_epoch_end()
        device.on_epoch_end()
    first_epoch = make_sequence(*_data(), batch_size=16, shuffle=True, seed=3)[0][1]
    assert not np.array_equal(host[0][1], first_epoch)  # the third epoch's order differs from the first's


def _trained_weights(sequence):
    keras.utils.set_random_seed(11)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.3), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(sequence, epochs=2, verbose=0)
    return model.get_weights()


@pytest.mark.slow
def test_device_and_host_batches_train_the_same_model():
    host, device = _sequences()
    for expected, got in zip(_trained_weights(host), _trained_weights(device), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_predictions_in_row_order():
    source, rows, _ = _data()
    device = make_sequence(to_device(source, rows), rows, batch_size=7)
    gathered = np.concatenate([keras.ops.convert_to_numpy(device[i][0]) for i in range(len(device))])
    np.testing.assert_array_equal(gathered, source[rows].astype(np.float32))
