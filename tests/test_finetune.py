"""The fine-tuning stage's model: it starts from exactly the searched model and trains only the top."""

from __future__ import annotations

import keras
import numpy as np

from search_spaces.mobilenet_head import FINETUNE_FROM, MobileNetHead
from tuner.engine.hypermodels import trial_hyperparameters


def test_fine_tuning_starts_from_the_searched_model():
    keras.utils.set_random_seed(3)
    space = MobileNetHead(32, weights=None)
    hp = trial_hyperparameters(space, {"hidden_layers": 2, "units_1": 32, "units_2": 32})
    head = space.build_head(hp)
    # Move the head off its initial weights, so that copying them shows.
    head.set_weights([weight + np.float32(0.05) for weight in head.get_weights()])
    searched = space.full_model(head)
    model = space.finetune_model(hp)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype(np.float32)
    before_copy = model.predict(images, verbose=0)
    space.copy_head_weights(head, model)
    expected = searched.predict(images, verbose=0)
    # Equal up to the float16 rounding of the cached features that the searched model keeps.
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=2e-3)
    assert not np.allclose(before_copy, expected, atol=2e-3)


def test_only_the_top_blocks_train_and_batch_norm_stays_frozen():
    space = MobileNetHead(32, weights=None)
    model = space.finetune_model(trial_hyperparameters(space, {}))
    mobilenet = model.get_layer("mobilenet_v2")
    names = [layer.name for layer in mobilenet.layers]
    first = names.index(FINETUNE_FROM)
    for index, layer in enumerate(mobilenet.layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == (index >= first and not is_batch_norm), layer.name
    trainable = sum(int(np.prod(weight.shape)) for weight in mobilenet.trainable_weights)
    assert 1_000_000 < trainable < 2_000_000  # blocks 13-16 and Conv_1, without their BatchNorms


def test_augmentation_acts_in_training_only():
    space = MobileNetHead(32, weights=None)
    augmentation = space.finetune_model(trial_hyperparameters(space, {})).get_layer("augmentation")
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augmentation(images, training=False)), images)
    changed = keras.ops.convert_to_numpy(augmentation(images, training=True))
    assert changed.shape == images.shape and not np.allclose(changed, images)
