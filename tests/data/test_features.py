"""The frozen-backbone feature cache: computed once, reused, rebuilt on change, and equivalent."""

from __future__ import annotations

from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from search_spaces.mobilenet_head import MobileNetHead
from tuner.core.settings import DataSettings
from tuner.data import features as features_module
from tuner.data.dataset import load_dataset
from tuner.data.features import feature_cache_dir, load_features
from tuner.demo import make_synthetic_dataset

WEIGHTS_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 10, "test": 4})
    return load_dataset(DataSettings(root, image_size=IMAGE_SIZE, cache_dir=tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def weights(shared_dir) -> str:
    return str(shared_dir / "weights" / WEIGHTS_NAME)


@pytest.mark.slow  # builds or runs a real MobileNetV2, or resamples at length
def test_features_are_computed_once_then_reused(dataset, weights, tmp_path):
    backbone = MobileNetHead(IMAGE_SIZE, weights).backbone()
    rows = dataset.records["row"].to_numpy()
    directory = feature_cache_dir(tmp_path, Path(dataset.images.filename), "w1", IMAGE_SIZE, "tensorflow")
    first = load_features(backbone, Path(dataset.images.filename), rows[:10], directory)
    assert first.computed_now == 10
    assert first.features.shape == (len(dataset.images), 2, 2, 1280)
    second = load_features(backbone, Path(dataset.images.filename), rows, directory)
    assert second.computed_now == len(rows) - 10  # only the rows still missing
    assert load_features(backbone, Path(dataset.images.filename), rows, directory).computed_now == 0
    expected = backbone.predict(np.asarray(dataset.images[rows[:4]], np.float32), verbose=0)
    assert second.features.dtype == np.float16
    # float16 storage: half a unit in the last place (2**-11 relative), plus float32 noise
    np.testing.assert_allclose(second.features[rows[:4]], expected, rtol=2**-11 + 1e-4, atol=1e-4)


KEY_CHANGES = {  # each a change of one part of the cache's key: (image array, weights id, image size, backend)
    "images rebuilt": lambda array: (array.with_name("images-other.npy"), "w1", IMAGE_SIZE, "tensorflow"),
    "other weights": lambda array: (array, "w2", IMAGE_SIZE, "tensorflow"),
    "other image size": lambda array: (array, "w1", 96, "tensorflow"),
    "other backend": lambda array: (array, "w1", IMAGE_SIZE, "jax"),
}


@pytest.mark.parametrize("change", [*KEY_CHANGES, "other storage dtype"])
def test_any_change_of_key_gives_another_cache(dataset, tmp_path, monkeypatch, change):
    array = Path(dataset.images.filename)
    base = feature_cache_dir(tmp_path, array, "w1", IMAGE_SIZE, "tensorflow")
    assert feature_cache_dir(tmp_path, array, "w1", IMAGE_SIZE, "tensorflow") == base  # a key, not a random name
    if change == "other storage dtype":
        monkeypatch.setattr(features_module, "FEATURE_DTYPE", np.float32)
        changed = feature_cache_dir(tmp_path, array, "w1", IMAGE_SIZE, "tensorflow")
    else:
        changed = feature_cache_dir(tmp_path, *KEY_CHANGES[change](array))
    assert changed != base
    assert changed.parent == base.parent == tmp_path / "features"  # in the cache folder given, side by side


def test_the_changed_keys_give_distinct_caches(dataset, tmp_path):
    array = Path(dataset.images.filename)
    directories = {feature_cache_dir(tmp_path, *make_key(array)) for make_key in KEY_CHANGES.values()}
    assert len(directories) == len(KEY_CHANGES)


@pytest.mark.parametrize("pooling", ["flatten", "global_average"])
@pytest.mark.slow
def test_head_on_backbone_equals_head_on_cached_features(dataset, weights, tmp_path, pooling):
    """The model saved for a trial (backbone + head) gives the head's output on cached features."""
    space = MobileNetHead(IMAGE_SIZE, weights)
    rows = dataset.records["row"].to_numpy()
    directory = feature_cache_dir(tmp_path, Path(dataset.images.filename), "w", IMAGE_SIZE, "tensorflow")
    features = load_features(space.backbone(), Path(dataset.images.filename), rows, directory).features
    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    hp.values.update({"pooling": pooling, "hidden_layers": 2, "units_1": 256, "units_2": 64})
    keras.utils.set_random_seed(0)
    head = space.build_head(hp)
    head.fit(np.asarray(features[rows]), dataset.records["label"].to_numpy(), epochs=2, verbose=0)
    joined = space.full_model(head)
    on_images = joined.predict(np.asarray(dataset.images[rows], np.float32), verbose=0).ravel()
    on_features = head.predict(np.asarray(features[rows], np.float32), verbose=0).ravel()
    assert on_images.std() > 1e-3  # a trained head, not a constant
    assert np.abs(on_images - on_features).max() <= 1e-4
