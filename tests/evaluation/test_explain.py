"""Grad-CAM: the heat map's shape and range, and that it follows the pixels, not the file name."""

from __future__ import annotations

import shutil

import keras
import keras_tuner
import numpy as np
import pytest
from PIL import Image

from search_spaces.cnn_depth import CnnDepth
from search_spaces.mobilenet_head import MobileNetHead
from tuner.data.image_cache import decode
from tuner.evaluation.explain import GradCam, explain_images

SIZE = 96


@pytest.fixture(scope="module")
def model(shared_dir):
    """MobileNetV2 with its ImageNet weights and an untrained head: real feature maps, so real heat maps."""
    keras.utils.set_random_seed(0)  # the head's random weights: the same heat maps in every run
    weights = next((shared_dir / "weights").glob("*.h5"))
    space = MobileNetHead(SIZE, str(weights))
    return space.full_model(space.build(keras_tuner.HyperParameters()))


@pytest.fixture(scope="module")
def xrays(shared_dir) -> np.ndarray:
    folder = shared_dir / "data" / "chest_xray_fullres_sample" / "train"
    files = sorted(folder.rglob("*.jpeg"))[:3]
    return np.stack([decode(file.read_bytes(), SIZE) for file in files]).astype(np.float32)


def test_heat_maps_cover_the_image_in_0_to_1_and_the_probability_is_the_models(model, xrays):
    heat_maps, probabilities = GradCam(model)(xrays)
    assert heat_maps.shape == (len(xrays), SIZE, SIZE)
    assert heat_maps.min() >= 0.0 and heat_maps.max() <= 1.0
    peaks = heat_maps.max(axis=(1, 2))  # each map scaled by its own peak; 0 where no pixel speaks for PNEUMONIA
    assert np.all((peaks == 0.0) | np.isclose(peaks, 1.0, atol=0.02)) and peaks.max() > 0.98
    # float32 on either path; JAX on a CPU differs from predict() by up to ~2e-4 relative
    np.testing.assert_allclose(probabilities, model.predict(xrays, verbose=0).ravel(), rtol=1e-3, atol=1e-5)


def test_the_heat_map_follows_the_pixels(model, xrays):
    explain = GradCam(model)
    original = explain(xrays[:1])[0][0]
    assert original.max() > 0.98
    again = explain(xrays[:1])[0][0]
    flipped = explain(xrays[:1, :, ::-1])[0][0]
    np.testing.assert_array_equal(original, again)
    assert np.abs(original - flipped).mean() > 0.05


def test_a_renamed_file_gets_the_same_heat_map(model, shared_dir, tmp_path):
    source = sorted((shared_dir / "data" / "chest_xray_fullres_sample" / "train").rglob("*.jpeg"))[0]
    copy = shutil.copy(source, tmp_path / "another-name.jpeg")
    images = np.stack([decode(path.read_bytes(), SIZE) for path in (source, copy)]).astype(np.float32)
    heat_maps, probabilities = GradCam(model)(images)
    np.testing.assert_array_equal(heat_maps[0], heat_maps[1])
    pictures = explain_images(model, images, [str(source), str(copy)], 0.5, tmp_path / "out")
    assert [picture.name for picture in pictures] == [f"{source.stem}.gradcam.png", "another-name.gradcam.png"]
    for picture in pictures:
        assert Image.open(picture).size[0] > 300  # a real figure, not an empty file


def test_a_cnn_is_explained_at_its_last_convolution_block():
    model = CnnDepth(64).build(keras_tuner.HyperParameters())
    explain = GradCam(model)
    assert explain.features.output.shape[1:3] == (4, 4)  # four blocks of "same" pooling: 64 / 2**4
    heat_maps, _ = explain(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32))
    assert heat_maps.shape == (2, 64, 64) and 0.0 <= heat_maps.min() <= heat_maps.max() <= 1.0


def test_an_ensemble_is_explained_by_the_mean_of_its_members():
    keras.utils.set_random_seed(1)
    members = [CnnDepth(64).build(keras_tuner.HyperParameters()) for _ in range(2)]
    for index, member in enumerate(members):
        member.name = f"member_{index}"  # names are unique in a model
    images = keras.Input((64, 64, 3))
    ensemble = keras.Model(images, keras.layers.Average()([member(images) for member in members]))
    pictures = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    heat_maps, probabilities = GradCam(ensemble)(pictures)
    each = [GradCam(member)(pictures) for member in members]
    np.testing.assert_allclose(heat_maps, (each[0][0] + each[1][0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(probabilities, ensemble.predict(pictures, verbose=0).ravel(), rtol=1e-3, atol=1e-5)
    assert not np.allclose(each[0][0], each[1][0])  # two different members: the mean is not either one
