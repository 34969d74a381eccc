"""The reference points (the hand-run models as fixed configurations) and hyperparameter files: what is
read, and what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest
from helpers import layers_of

from search_spaces.cnn_depth import CnnDepth
from search_spaces.mobilenet_head import MobileNetHead
from search_spaces.reference import REFERENCE_DIR, load_reference, reference_files
from tuner.core.errors import ToolkitError


def write_json(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content))
    return path



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
    reference = load_reference(REFERENCE_DIR / "cnn_depth_reference_cnn.json")
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
    reference = load_reference(REFERENCE_DIR / f"mobilenet_head_{point}.json")
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
    reference = REFERENCE_DIR / "cnn_depth_reference_cnn.json"
    with pytest.raises(ToolkitError, match="for space 'cnn_depth', not 'mobilenet_head'"):
        load_reference(reference, space="mobilenet_head")


def test_values_come_back_in_the_spaces_types_and_tuner_keys_are_ignored(tmp_path):
    values = dict(load_reference(REFERENCE_DIR / "cnn_depth_reference_cnn.json")[
        "hyperparameters"
    ].values)
    values.update({"filter_growth": 2, "blocks": 4.0, "tuner/epochs": 3, "tuner/trial_id": "x"})
    path = write_json(tmp_path / "trial.json", {"space": "cnn_depth", "hyperparameters": values})
    loaded = load_reference(path)["hyperparameters"].values
    assert loaded["filter_growth"] == 2.0 and isinstance(loaded["filter_growth"], float)
    assert loaded["blocks"] == 4 and isinstance(loaded["blocks"], int)
    assert not any(name.startswith("tuner/") for name in loaded)
