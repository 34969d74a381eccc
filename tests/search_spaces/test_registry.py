"""The space registry (no Keras needed to list the spaces), the spaces' descriptions, and random points
of every space.

CPU only and small: images of 32 px and random-initialised MobileNetV2.
"""

from __future__ import annotations

import random
import subprocess
import sys

import keras_tuner
import pytest
from helpers import REPO_ROOT

from search_spaces.cnn_depth import CnnDepth
from search_spaces.display import describe_spaces
from search_spaces.mobilenet_head import MobileNetHead
from search_spaces.registry import SPACES, space_names
from tuner.core import errors
from tuner.core.errors import ToolkitError
from tuner.core.spaces import space_entry

# --- registry ---------------------------------------------------------------------------


@pytest.mark.slow
def test_importing_the_registry_loads_no_keras():
    code = (
        "import sys, search_spaces.registry as registry, tuner.core.settings; "
        "print(registry.space_names(), 'keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["('cnn_depth',", "'mobilenet_head')", "False", "False"]


def test_space_classes_carry_their_registered_name():
    assert space_names() == ("cnn_depth", "mobilenet_head")
    for name in space_names():
        space_class = space_entry(name).load()
        assert issubclass(space_class, keras_tuner.HyperModel)
        assert space_class.name == name
        assert SPACES[name].description and "\n" not in SPACES[name].description
    assert CnnDepth(32).name == "cnn_depth"
    assert MobileNetHead(32, weights=None).name == "mobilenet_head"


def test_unknown_space_is_a_usage_error(monkeypatch):
    # The message names the program as typed; any earlier in-process cli.main call sets it.
    monkeypatch.setattr(errors, "PROGRAM", "python cli.py")
    with pytest.raises(ToolkitError) as error:
        space_entry("resnet")
    assert str(error.value) == (
        "unknown space 'resnet': choose one of cnn_depth, mobilenet_head "
        "(see `python cli.py spaces`)"
    )


# --- descriptions -----------------------------------------------------------------------


def test_describe_spaces_lists_every_hyperparameter_with_range_and_condition():
    spaces = {space["name"]: space for space in describe_spaces()}
    assert tuple(spaces) == space_names()
    for name, space in spaces.items():
        hp = keras_tuner.HyperParameters()
        space_entry(name).load().declare(hp)
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


# --- every space -----------------------------------------------------------------------


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
