"""Weights for MobileNetV2: keywords, files, the real weights file in ../shared, and ImageNet offline."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import SHARED_DIR

from search_spaces.mobilenet_head import MobileNetHead
from search_spaces.weights import validate_weights
from tuner.core.errors import ToolkitError

REAL_WEIGHTS = SHARED_DIR / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def require_real_weights() -> Path:
    """The shared weights file; skipped when absent, except on CI where it must be there."""
    if not REAL_WEIGHTS.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REAL_WEIGHTS} is missing on CI")
        pytest.skip(f"{REAL_WEIGHTS} not present")
    return REAL_WEIGHTS



# --- weights ----------------------------------------------------------------------------


def test_validate_weights_passes_keywords_and_checks_paths(tmp_path):
    assert validate_weights("imagenet") == "imagenet"
    assert validate_weights("ImageNet") == "imagenet"
    assert validate_weights("none") is None
    assert validate_weights("None") is None
    with pytest.raises(ToolkitError, match="not found"):
        validate_weights(str(tmp_path / "absent.h5"))
    with pytest.raises(ToolkitError, match="not a file"):
        validate_weights(str(tmp_path))
    text_file = tmp_path / "weights.h5"
    text_file.write_text("not weights")
    with pytest.raises(ToolkitError, match="not an HDF5 file"):
        validate_weights(str(text_file))


@pytest.mark.real_data  # reads the weights in ../shared
def test_real_weights_file_loads():
    path = require_real_weights()
    assert validate_weights(str(path)) == str(path.resolve())  # resolved: ../shared may be a symbolic link
    backbone = MobileNetHead(64, weights=str(path)).backbone()
    kernel = backbone.get_layer("mobilenet_v2").get_layer("Conv1").kernel
    assert kernel.shape == (3, 3, 3, 32)
    assert float(keras.ops.std(kernel)) > 0.05  # trained weights, not a fresh init


@pytest.mark.parametrize("problem", ["missing", "not_hdf5", "wrong_architecture"])
def test_bad_weights_files_are_usage_errors_naming_the_file(tmp_path, problem):
    path = tmp_path / "weights.h5"
    if problem == "not_hdf5":
        path.write_bytes(b"\x00 not an HDF5 file")
    elif problem == "wrong_architecture":
        tiny = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        tiny.save(path)  # a legacy .h5 model file: HDF5, but with one Dense layer
    with pytest.raises(ToolkitError) as error:
        MobileNetHead(32, weights=str(path)).backbone()
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_imagenet_without_network_or_cache_is_a_usage_error(empty_keras_home, monkeypatch):
    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ToolkitError) as error:
        MobileNetHead(64, weights="imagenet").backbone()
    message = str(error.value)
    assert message.startswith("could not download the MobileNetV2 ImageNet weights (no network?)")
    assert "--weights PATH" in message and "--weights none" in message


@pytest.mark.real_data  # reads the weights in ../shared
def test_imagenet_uses_the_cached_file_in_keras_home(empty_keras_home):
    path = require_real_weights()
    models = empty_keras_home / "models"
    models.mkdir()
    (models / path.name).symlink_to(path)
    from_cache = MobileNetHead(64, weights="imagenet").backbone()
    from_path = MobileNetHead(64, weights=str(path)).backbone()
    for cached, direct in zip(from_cache.weights, from_path.weights):
        np.testing.assert_array_equal(cached.numpy(), direct.numpy())
