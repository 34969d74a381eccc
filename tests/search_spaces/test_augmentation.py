"""The fine-tuning stage's random resized crop: a window of the image stretched to full size, in training only."""

from __future__ import annotations

import keras
import numpy as np

from search_spaces.augmentation import RandomResizedCrop, finetuning_augmentation


def gradient_images(count: int, side: int = 48) -> np.ndarray:
    """Images whose pixel value says where it came from: 4 * column in channel 0, 4 * row in channel 1."""
    rows, columns = np.mgrid[0:side, 0:side].astype(np.float32)
    image = np.stack([4 * columns, 4 * rows, np.full_like(rows, 100.0)], axis=-1)
    return np.repeat(image[None], count, axis=0)


def test_the_identity_in_prediction():
    images = gradient_images(3)
    crop = RandomResizedCrop(seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(crop(images, training=False)), images)


def test_each_image_becomes_one_window_of_it_stretched_to_full_size():
    images = gradient_images(64)
    side = images.shape[1]
    cropped = keras.ops.convert_to_numpy(RandomResizedCrop(area=(0.25, 0.25), aspect=(1.0, 1.0), seed=2)(
        images, training=True))
    assert cropped.shape == images.shape
    inner = cropped[:, 1:-1, 1:-1]  # the outermost pixels may blend with the fill
    # A quarter of the area at aspect 1: half the width and half the height, so the source column and row grow
    # by 0.5 pixel per output pixel, linearly (bilinear sampling of a linear ramp is exact).
    np.testing.assert_allclose(np.diff(inner[..., 0], axis=2) / 4, 0.5, atol=1e-3)
    np.testing.assert_allclose(np.diff(inner[..., 1], axis=1) / 4, 0.5, atol=1e-3)
    # Every window lies inside the image (nothing read from the fill), and they lie in different places.
    left, top = inner[:, 0, 0, 0] / 4, inner[:, 0, 0, 1] / 4
    assert left.min() >= 0 and (left + 0.5 * (side - 3)).max() <= side - 1
    assert top.min() >= 0 and (top + 0.5 * (side - 3)).max() <= side - 1
    np.testing.assert_array_equal(inner[..., 2], 100.0)
    assert np.ptp(left) > side / 4 and np.ptp(top) > side / 4


def test_windows_vary_in_area_and_aspect_within_the_bounds():
    images = gradient_images(200)
    cropped = keras.ops.convert_to_numpy(RandomResizedCrop(seed=3)(images, training=True))
    inner = cropped[:, 1:-1, 1:-1]
    width_share = np.median(np.diff(inner[..., 0], axis=2) / 4, axis=(1, 2))  # source pixels per output pixel
    height_share = np.median(np.diff(inner[..., 1], axis=1) / 4, axis=(1, 2))
    area, aspect = width_share * height_share, width_share / height_share
    assert 0.25 - 1e-3 <= area.min() and area.max() <= 1 + 1e-3
    assert 3 / 4 - 1e-3 <= aspect.min() and aspect.max() <= 4 / 3 + 1e-3
    assert area.min() < 0.35 and area.max() > 0.9  # the range is used, not one size


def test_it_crops_in_a_model_that_trains_and_not_in_one_that_predicts():
    """As in the fine-tuning model: inside a Sequential inside a functional model, `training` comes from the call."""
    images = gradient_images(8)
    inputs = keras.Input(images.shape[1:])
    crop = keras.Sequential([RandomResizedCrop(area=(0.25, 0.25), aspect=(1.0, 1.0), seed=5)])
    model = keras.Model(inputs, crop(inputs))
    trained = keras.ops.convert_to_numpy(model(images, training=True))
    np.testing.assert_allclose(np.diff(trained[:, 1:-1, 1:-1, 0], axis=2) / 4, 0.5, atol=1e-3)
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)


def test_the_finetuning_set_changes_images_in_training_and_saves_with_a_model(tmp_path):
    images = gradient_images(4)
    augmentation = finetuning_augmentation(seed=4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augmentation(images, training=False)), images)
    assert not np.allclose(keras.ops.convert_to_numpy(augmentation(images, training=True)), images)

    inputs = keras.Input(images.shape[1:])
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(augmentation(inputs)))
    model.save(tmp_path / "augmented.keras")
    loaded = keras.saving.load_model(tmp_path / "augmented.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    crops = [layer for layer in loaded.get_layer("augmentation").layers if isinstance(layer, RandomResizedCrop)]
    assert [crop.get_config()["area"] for crop in crops] == [(0.25, 1.0)]
    assert crops[0].get_config() == augmentation.layers[0].get_config()
