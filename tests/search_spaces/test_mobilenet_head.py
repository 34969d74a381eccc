"""The mobilenet_head space: the frozen backbone, the head, the joined model, and the fine-tuning stage's
model (it starts from exactly the searched model and trains only the top).

CPU only and small: images of 32-64 px and random-initialised MobileNetV2.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import fixed_hp

from search_spaces.augmentation import RandomResizedCrop
from search_spaces.mobilenet_head import FINETUNE_RECIPES, MobileNetHead
from search_spaces.reference import REFERENCE_DIR, load_reference
from search_spaces.registry import SPACES
from tuner.core.settings import DataSettings, SearchSettings
from tuner.engine.hypermodels import make_space, trial_hyperparameters


@pytest.mark.slow  # builds or runs a real MobileNetV2, or resamples at length
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


@pytest.mark.parametrize("layers, trainable_weights, crop_area", [
    ("top", (1_000_000, 2_000_000), (0.25, 1.0)),  # blocks 13-16 and Conv_1, without their BatchNorms
    ("all", (2_189_000, 2_190_000), (0.08, 1.0)),  # MobileNetV2 has 2,257,984 weights, its BatchNorms 68,224
])
def test_the_recipe_says_which_layers_train_and_batch_norm_stays_frozen(layers, trainable_weights, crop_area):
    space = MobileNetHead(32, weights=None, finetune_layers=layers)
    model = space.finetune_model(trial_hyperparameters(space, {}))
    mobilenet = model.get_layer("mobilenet_v2")
    first_layer, _ = FINETUNE_RECIPES[layers]
    first = [layer.name for layer in mobilenet.layers].index(first_layer)
    for index, layer in enumerate(mobilenet.layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == (index >= first and not is_batch_norm), layer.name
    trainable = sum(int(np.prod(weight.shape)) for weight in mobilenet.trainable_weights)
    assert trainable_weights[0] < trainable < trainable_weights[1]
    crop = next(layer for layer in model.get_layer("augmentation").layers if isinstance(layer, RandomResizedCrop))
    assert crop.area == crop_area


def test_a_runs_finetune_layers_reach_the_space(tmp_path):
    data = DataSettings(tmp_path, image_size=32, cache_dir=tmp_path / "cache")
    assert make_space(SearchSettings("mobilenet_head", data, run_name="r", weights=None,
                                     finetune_epochs=10)).finetune_layers == "all"  # the default
    settings = SearchSettings("mobilenet_head", data, run_name="r", weights=None, finetune_epochs=4,
                              finetune_layers="top")
    assert make_space(settings).finetune_layers == "top"


def test_the_recipes_are_the_flags_choices():
    assert set(FINETUNE_RECIPES) == set(SPACES["mobilenet_head"].finetune_recipes)
    with pytest.raises(ValueError, match="finetune_layers must be one of top, all"):
        MobileNetHead(32, weights=None, finetune_layers="most")


def test_augmentation_acts_in_training_only():
    space = MobileNetHead(32, weights=None)
    augmentation = space.finetune_model(trial_hyperparameters(space, {})).get_layer("augmentation")
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augmentation(images, training=False)), images)
    changed = keras.ops.convert_to_numpy(augmentation(images, training=True))
    assert changed.shape == images.shape and not np.allclose(changed, images)


# --- mobilenet_head ---------------------------------------------------------------------


def test_rescaling_equals_mobilenet_v2_preprocess_input():
    pixels = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    pixels[0, 0, 0] = [0.0, 127.5, 255.0]  # the ends and the middle
    rescaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(pixels)
    expected = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rescaled), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(rescaled[0, 0, 0], [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("image_size", [33, 64])
def test_feature_shape_is_the_backbone_output_shape(image_size):
    space = MobileNetHead(image_size, weights=None)
    backbone = space.backbone()
    assert backbone.output.shape[1:] == space.feature_shape
    assert not backbone.trainable_weights
    assert isinstance(backbone.layers[1], keras.layers.Rescaling)
    assert space.backbone() is backbone  # built once


def test_end_to_end_build_trains_only_the_head():
    space = MobileNetHead(32, weights=None, use_feature_cache=False)
    hp = fixed_hp(MobileNetHead, load_reference(
        REFERENCE_DIR / "mobilenet_head_transfer_1.json"
    )["hyperparameters"].values)
    model = space.build(hp)
    assert model.input.shape == (None, 32, 32, 3) and model.output.shape == (None, 1)
    head_only = MobileNetHead(32, weights=None).build(hp)
    assert len(model.trainable_weights) == len(head_only.trainable_weights) == 6


@pytest.mark.slow
def test_full_model_joins_backbone_and_head_and_loads_in_safe_mode(tmp_path):
    space = MobileNetHead(32, weights=None)
    reference = load_reference(REFERENCE_DIR / "mobilenet_head_transfer_5.json")
    head = space.build(reference["hyperparameters"])
    images = np.random.default_rng(2).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    features = space.backbone().predict(images, verbose=0)
    head.fit(features, np.array([0.0, 1.0, 1.0]), epochs=1, verbose=0)  # weights off their init

    model = space.full_model(head)
    expected = head.predict(features, verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-5)
    assert model.layers[-1] is head  # shared, not copied

    path = tmp_path / "full.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, atol=1e-5)


def test_without_weights_every_process_builds_the_same_random_backbone():
    """`--weights none`: features cached in a search and the model `test` rebuilds see one backbone."""
    keras.utils.set_random_seed(1)
    first = MobileNetHead(32, None).backbone().get_weights()
    keras.utils.set_random_seed(2)  # another process, another state of the random generators
    second = MobileNetHead(32, None).backbone().get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [weight for weight in first if weight.ndim >= 2]
    assert kernels and all(0 < weight.std() < 1 for weight in kernels)  # random, at Glorot's scale
