"""The search spaces: registry, descriptions, reference points, models, and weight loading.

CPU only and small: images of 32-64 px and random-initialised MobileNetV2 except where the
real weights file is the point.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

import search_spaces
from search_spaces import (
    SPACE_NAMES,
    SPACES,
    describe_spaces,
    get_space_class,
    load_reference,
    reference_files,
)
from search_spaces.cnn_depth import CnnDepth
from search_spaces.mobilenet_head import MobileNetHead
from search_spaces.weights import validate_weights
from tuner.core.errors import ToolkitError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_WEIGHTS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "weights"
    / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
)


def require_real_weights() -> Path:
    """The shared weights file; skipped when absent, except on CI where it must be there."""
    if not REAL_WEIGHTS.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REAL_WEIGHTS} is missing on CI")
        pytest.skip(f"{REAL_WEIGHTS} not present")
    return REAL_WEIGHTS


def layers_of(model: keras.Model, layer_type: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, layer_type)]


def fixed_hp(space_class: type, values: dict) -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    space_class.declare(hp)
    hp.values = dict(values)
    return hp


def write_json(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content))
    return path


# --- registry ---------------------------------------------------------------------------


def test_importing_the_registry_loads_no_keras():
    code = (
        "import sys, search_spaces; "
        "print(search_spaces.SPACE_NAMES, 'keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["('cnn_depth',", "'mobilenet_head')", "False", "False"]


def test_space_classes_carry_their_registered_name():
    assert SPACE_NAMES == ("cnn_depth", "mobilenet_head")
    for name in SPACE_NAMES:
        space_class = get_space_class(name)
        assert issubclass(space_class, keras_tuner.HyperModel)
        assert space_class.name == name
        assert SPACES[name].description and "\n" not in SPACES[name].description
    assert CnnDepth(32).name == "cnn_depth"
    assert MobileNetHead(32, weights=None).name == "mobilenet_head"


def test_unknown_space_is_a_usage_error():
    with pytest.raises(ToolkitError) as error:
        get_space_class("resnet")
    assert str(error.value) == (
        "unknown space 'resnet': choose one of cnn_depth, mobilenet_head "
        "(see `python cli.py spaces`)"
    )


# --- descriptions -----------------------------------------------------------------------


def test_describe_spaces_lists_every_hyperparameter_with_range_and_condition():
    spaces = {space["name"]: space for space in describe_spaces()}
    assert tuple(spaces) == SPACE_NAMES
    for name, space in spaces.items():
        hp = keras_tuner.HyperParameters()
        get_space_class(name).declare(hp)
        assert [row["name"] for row in space["hyperparameters"]] == [h.name for h in hp.space]
        for row in space["hyperparameters"]:
            assert set(row) == {"name", "type", "range", "default", "condition"}
            assert row["range"]

    cnn = {row["name"]: row for row in spaces["cnn_depth"]["hyperparameters"]}
    assert cnn["blocks"]["range"] == "2 … 6"
    assert cnn["filters"]["range"] == "16, 32, 64"
    assert cnn["filter_growth"]["range"] == "1.0, 1.5, 2.0"
    assert cnn["dropout"]["range"] == "0.0 … 0.5 (step 0.1)"
    assert cnn["learning_rate"]["range"] == "0.0001, 0.0003, 0.001, 0.003"
    assert all(row["condition"] == "" for row in cnn.values())

    head = {row["name"]: row["condition"] for row in spaces["mobilenet_head"]["hyperparameters"]}
    assert head == {
        "pooling": "",
        "hidden_layers": "",
        "units_1": "",
        "dropout_after_pooling": "",
        "dropout_after_pooling_rate": "dropout_after_pooling = True",
        "units_2": "hidden_layers ≥ 2",
        "dropout_after_hidden_1": "hidden_layers ≥ 2",
        "dropout_after_hidden_1_rate": "hidden_layers ≥ 2 and dropout_after_hidden_1 = True",
        "units_3": "hidden_layers = 3",
        "dropout_after_hidden_2": "hidden_layers = 3",
        "dropout_after_hidden_2_rate": "hidden_layers = 3 and dropout_after_hidden_2 = True",
        "dropout_before_output": "",
        "dropout_before_output_rate": "dropout_before_output = True",
        "learning_rate": "",
    }


# --- reference points -------------------------------------------------------------------


def test_the_reference_files_are_the_hand_run_models():
    names = {path.name for path in reference_files()}
    assert names == {"cnn_depth_reference_cnn.json", *(f"mobilenet_head_transfer_{i}.json" for i in range(1, 6))}


@pytest.mark.parametrize("path", reference_files(), ids=lambda path: path.stem)
def test_reference_file_is_a_point_of_its_space(path):
    content = json.loads(path.read_text())
    reference = load_reference(path)
    assert reference["space"] == content["space"]
    assert path.stem == f"{content['space']}_{content['name']}"
    assert reference["description"]
    hp = reference["hyperparameters"]
    active = {declared.name for declared in hp.space if hp.is_active(declared)}
    assert set(content["hyperparameters"]) == active  # every active value written out, nothing else
    assert {name: hp.values[name] for name in active} == content["hyperparameters"]
    assert load_reference(path, space=content["space"])["name"] == content["name"]


def test_reference_cnn_is_the_four_block_cnn():
    reference = load_reference(search_spaces.REFERENCE_DIR / "cnn_depth_reference_cnn.json")
    model = CnnDepth(32).build(reference["hyperparameters"])
    convolutions = layers_of(model, keras.layers.Conv2D)
    assert [layer.filters for layer in convolutions] == [32, 64, 128, 256]
    assert {layer.kernel_size for layer in convolutions} == {(3, 3)}
    assert len(layers_of(model, keras.layers.MaxPooling2D)) == 4
    assert not layers_of(model, keras.layers.BatchNormalization)
    assert model.layers[1].name == "augmentation"
    assert isinstance(model.layers[2], keras.layers.Rescaling)
    assert len(layers_of(model, keras.layers.Flatten)) == 1
    assert [layer.units for layer in layers_of(model, keras.layers.Dense)] == [128, 1]
    assert [layer.rate for layer in layers_of(model, keras.layers.Dropout)] == [0.5]
    assert model.output.shape == (None, 1)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "point, dropout_rates",
    [
        ("transfer_1", []),
        ("transfer_2", [0.5]),
        ("transfer_3", [0.3]),
        ("transfer_4", [0.2]),
        ("transfer_5", [0.5, 0.3, 0.2]),
    ],
)
def test_transfer_reference_heads(point, dropout_rates):
    reference = load_reference(search_spaces.REFERENCE_DIR / f"mobilenet_head_{point}.json")
    head = MobileNetHead(32, weights=None).build(reference["hyperparameters"])
    assert head.input.shape == (None, 1, 1, 1280)
    assert len(layers_of(head, keras.layers.Flatten)) == 1
    dense_layers = layers_of(head, keras.layers.Dense)
    assert [layer.units for layer in dense_layers] == [256, 128, 1]
    assert [layer.activation.__name__ for layer in dense_layers] == ["relu", "relu", "sigmoid"]
    assert [layer.rate for layer in layers_of(head, keras.layers.Dropout)] == pytest.approx(
        dropout_rates
    )
    if point == "transfer_5":  # in order: after pooling, between hidden, before output
        kinds = [type(layer).__name__ for layer in head.layers[1:]]
        assert kinds == ["Flatten", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense"]


# --- hyperparameter files: what gets refused --------------------------------------------

TRANSFER_1 = {
    "pooling": "flatten",
    "hidden_layers": 2,
    "units_1": 256,
    "units_2": 128,
    "dropout_after_pooling": False,
    "dropout_after_hidden_1": False,
    "dropout_before_output": False,
    "learning_rate": 1e-3,
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"units_9": 64}, "unknown hyperparameter 'units_9'"),
        ({"units_1": 100}, "'units_1' = 100 is not one of 32, 64, 128, 256, 512"),
        ({"hidden_layers": 4}, "'hidden_layers' = 4 is outside 1 … 3"),
        ({"hidden_layers": "two"}, "'hidden_layers' = \"two\" must be a number"),
        ({"dropout_after_pooling": 1}, "'dropout_after_pooling' = 1 must be true or false"),
        (
            {"dropout_after_pooling": True, "dropout_after_pooling_rate": 0.05},
            "'dropout_after_pooling_rate' = 0.05 is outside 0.1 … 0.6 (step 0.1)",
        ),
        (
            {"dropout_after_pooling": True, "dropout_after_pooling_rate": 0.25},
            "is outside 0.1 … 0.6 (step 0.1)",
        ),
        ({"dropout_after_pooling": True}, "missing hyperparameter 'dropout_after_pooling_rate'"),
        ({"hidden_layers": 3}, "missing hyperparameter 'units_3'"),
        (
            {"units_3": 64},
            "'units_3' is inactive at this point (it applies only when hidden_layers = 3)",
        ),
    ],
)
def test_bad_hyperparameter_values_are_usage_errors_naming_file_and_hp(
    tmp_path, change, message
):
    values = {**TRANSFER_1, **change}
    path = write_json(
        tmp_path / "point.json", {"space": "mobilenet_head", "hyperparameters": values}
    )
    with pytest.raises(ToolkitError) as error:
        load_reference(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


def test_missing_active_hp_of_cnn_is_refused(tmp_path):
    path = write_json(tmp_path / "cnn.json", {"space": "cnn_depth", "hyperparameters": {}})
    with pytest.raises(ToolkitError, match="missing hyperparameter 'blocks'"):
        load_reference(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"space": "cnn_depth"}', '"hyperparameters" must be an object'),
        ('{"space": "vgg", "hyperparameters": {}}', "unknown space 'vgg'"),
    ],
)
def test_malformed_hyperparameter_files_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ToolkitError, match=message):
        load_reference(path)


def test_hyperparameter_file_space_must_match_and_can_come_from_the_caller(tmp_path):
    with pytest.raises(ToolkitError, match="not found"):
        load_reference(tmp_path / "absent.json")
    path = write_json(tmp_path / "bare.json", {"hyperparameters": TRANSFER_1})
    with pytest.raises(ToolkitError, match="no \"space\" given"):
        load_reference(path)
    assert load_reference(path, space="mobilenet_head")["name"] == "bare"
    reference = search_spaces.REFERENCE_DIR / "cnn_depth_reference_cnn.json"
    with pytest.raises(ToolkitError, match="for space 'cnn_depth', not 'mobilenet_head'"):
        load_reference(reference, space="mobilenet_head")


def test_values_come_back_in_the_spaces_types_and_tuner_keys_are_ignored(tmp_path):
    values = dict(load_reference(search_spaces.REFERENCE_DIR / "cnn_depth_reference_cnn.json")[
        "hyperparameters"
    ].values)
    values.update({"filter_growth": 2, "blocks": 4.0, "tuner/epochs": 3, "tuner/trial_id": "x"})
    path = write_json(tmp_path / "trial.json", {"space": "cnn_depth", "hyperparameters": values})
    loaded = load_reference(path)["hyperparameters"].values
    assert loaded["filter_growth"] == 2.0 and isinstance(loaded["filter_growth"], float)
    assert loaded["blocks"] == 4 and isinstance(loaded["blocks"], int)
    assert not any(name.startswith("tuner/") for name in loaded)


# --- cnn_depth --------------------------------------------------------------------------


@pytest.mark.parametrize("blocks", [2, 6])
def test_cnn_depth_builds_at_any_depth_on_32_px(blocks):
    hp = fixed_hp(
        CnnDepth,
        {
            "blocks": blocks,
            "filters": 64,
            "filter_growth": 1.5,
            "kernel_size": 5,
            "batch_norm": True,
            "pooling": "global_average",
            "dense_units": 64,
            "dropout": 0.0,
            "learning_rate": 3e-4,
        },
    )
    model = CnnDepth(32).build(hp)
    assert model.output.shape == (None, 1)
    filters = [layer.filters for layer in layers_of(model, keras.layers.Conv2D)]
    assert filters == [64, 96, 144, 216, 256, 256][:blocks]
    assert len(layers_of(model, keras.layers.BatchNormalization)) == blocks
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 1) and np.all((probabilities >= 0) & (probabilities <= 1))


def random_point(space_class: type, seed: int) -> keras_tuner.HyperParameters:
    """A random point of the space, drawn the way Keras Tuner's oracles do (parents first)."""
    hp = keras_tuner.HyperParameters()
    space_class.declare(hp)
    hp.values = {}
    random.seed(seed)
    for declared in hp.space:  # declaration order puts every parent before its children
        if hp.is_active(declared):
            hp.values[declared.name] = declared.random_sample(seed + len(hp.values))
    return hp


@pytest.mark.parametrize("seed", range(4))
def test_random_points_build(seed):
    cnn = CnnDepth(32).build(random_point(CnnDepth, seed))
    head = MobileNetHead(32, weights=None).build(random_point(MobileNetHead, seed))
    assert cnn.output.shape == head.output.shape == (None, 1)


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
        search_spaces.REFERENCE_DIR / "mobilenet_head_transfer_1.json"
    )["hyperparameters"].values)
    model = space.build(hp)
    assert model.input.shape == (None, 32, 32, 3) and model.output.shape == (None, 1)
    head_only = MobileNetHead(32, weights=None).build(hp)
    assert len(model.trainable_weights) == len(head_only.trainable_weights) == 6


def test_full_model_joins_backbone_and_head_and_loads_in_safe_mode(tmp_path):
    space = MobileNetHead(32, weights=None)
    reference = load_reference(search_spaces.REFERENCE_DIR / "mobilenet_head_transfer_5.json")
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


def test_imagenet_uses_the_cached_file_in_keras_home(empty_keras_home):
    path = require_real_weights()
    models = empty_keras_home / "models"
    models.mkdir()
    (models / path.name).symlink_to(path)
    from_cache = MobileNetHead(64, weights="imagenet").backbone()
    from_path = MobileNetHead(64, weights=str(path)).backbone()
    for cached, direct in zip(from_cache.weights, from_path.weights):
        np.testing.assert_array_equal(cached.numpy(), direct.numpy())
