"""The registry of search spaces: one module per space, imported only when asked for.

Importing this package loads neither Keras nor TensorFlow, so the command line's `--help`, its
checks of the flags and `spaces` are instant; `get_space_class` and `load_reference` import Keras
Tuner (and with it Keras) when called.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tuner.core.errors import ToolkitError, command

from .hyperparameters import Recorder, declare_cnn_depth, declare_mobilenet_head


@dataclass(frozen=True)
class SpaceEntry:
    """Where a space's hypermodel lives, and the defaults of the flags that depend on the space."""

    module: str  # in this package
    class_name: str
    description: str
    declare: Callable  # its hyperparameters (hyperparameters.py)
    batch_size: int  # the default --batch-size
    finetune_epochs: int  # the default --finetune-epochs (0: no fine-tuning stage)


# A new space is one file and one line here.
SPACES: dict[str, SpaceEntry] = {
    # batch 32: the reference experiment's; trained end to end already, so no fine-tuning stage.
    "cnn_depth": SpaceEntry("cnn_depth", "CnnDepth",
                            "CNN from scratch: 2-6 conv blocks, filter width and growth, dense head",
                            declare_cnn_depth, batch_size=32, finetune_epochs=0),
    # Batch 128: on cached features a Flatten head's step costs mostly its Adam update of up to 32M
    # weights, whatever the batch: on 2 CPU cores an epoch of 600 feature maps takes 3.4-5.2 s at batch 32
    # and 1.0-2.2 s at 128 (docs/benchmarks.md). Then the best head is fine-tuned, every layer for 10 epochs
    # (docs/results.md).
    "mobilenet_head": SpaceEntry("mobilenet_head", "MobileNetHead",
                                 "Frozen MobileNetV2 (ImageNet) + dense head: pooling, 1-3 layers, dropouts",
                                 declare_mobilenet_head, batch_size=128, finetune_epochs=10),
}
SPACE_NAMES: tuple[str, ...] = tuple(SPACES)
# mobilenet_head's --finetune-layers, the keys of `mobilenet_head.FINETUNE_RECIPES` (named here to keep Keras out).
FINETUNE_LAYERS = ("top", "all")
DEFAULT_FINETUNE_LAYERS = "all"

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

# Keras Tuner's own bookkeeping values (Hyperband's epochs, bracket, round ...): they ride in a
# trial's values but are no part of a space, so a file copied from a trial may hold them.
_TUNER_PREFIX = "tuner/"

__all__ = [
    "REFERENCE_DIR",
    "SPACES",
    "SPACE_NAMES",
    "check_space_name",
    "describe_spaces",
    "get_space_class",
    "load_reference",
    "reference_files",
]


def check_space_name(name: str) -> str:
    """`name` if a space has it (no Keras imported); else a ToolkitError naming the spaces."""
    if name not in SPACES:
        raise ToolkitError(
            f"unknown space {name!r}: choose one of {', '.join(SPACE_NAMES)} "
            f"(see {command('spaces')})"
        )
    return name


def get_space_class(name: str) -> type:
    """The hypermodel class of the space called `name`, importing its module now.

    Raises:
        ToolkitError: no space has that name.
    """
    entry = SPACES[check_space_name(name)]
    return getattr(importlib.import_module(f".{entry.module}", __name__), entry.class_name)


def describe_spaces() -> list[dict[str, Any]]:
    """Every space with its hyperparameters, for the `spaces` command; imports no Keras.

    Returns:
        One dict per space: "name", "description" and "hyperparameters", a list (in declaration
        order) of {"name", "type", "range", "default", "condition"}; "range" and "condition" are
        readable strings ("2 … 6", "hidden_layers ≥ 2"; "" when unconditional).
    """
    descriptions = []
    for space_name, entry in SPACES.items():
        recorder = Recorder()
        entry.declare(recorder)
        by_name = {declared.name: declared for declared in recorder.space}
        hyperparameters = [{"name": declared.name, "type": declared.kind, "range": _describe_range(declared),
                            "default": declared.default,
                            "condition": _describe_conditions(declared.conditions, by_name)}
                           for declared in recorder.space]
        descriptions.append({"name": space_name, "description": entry.description,
                             "hyperparameters": hyperparameters})
    return descriptions


def reference_files() -> list[Path]:
    """The reference points' JSON files shipped with the package, sorted by name."""
    return sorted(REFERENCE_DIR.glob("*.json"))


def load_reference(path: str | Path, space: str | None = None) -> dict[str, Any]:
    """Reads a hyperparameter file and checks every value against its space.

    The file is {"space", "name", "description", "hyperparameters": {hp name: value}}; it must
    give a value for every hyperparameter active at its point and none for inactive ones.
    Keys starting with "tuner/" (Keras Tuner bookkeeping in a trial's values) are ignored.

    Args:
        path: the JSON file.
        space: the space the caller expects (e.g. `--space`); when given, the file's "space"
            may be left out, and must match otherwise.

    Returns:
        {"space", "name", "description", "hyperparameters"}: the last a
        `keras_tuner.HyperParameters` with the whole space declared and the file's values set,
        ready for `space.build(hp)`.

    Raises:
        ToolkitError: naming the file and the hyperparameter at fault.
    """
    import keras_tuner

    path = Path(path)
    content = _read_json_object(path)
    space_name = content.get("space", space)
    if space_name is None:
        raise ToolkitError(f"{path}: no \"space\" given in the file: add one or pass --space")
    if space is not None and space_name != space:
        raise ToolkitError(f"{path}: the file is for space {space_name!r}, not {space!r}")
    space_class = get_space_class(space_name)
    given = content.get("hyperparameters")
    if not isinstance(given, dict):
        raise ToolkitError(f"{path}: \"hyperparameters\" must be an object of name: value")
    given = {name: value for name, value in given.items() if not name.startswith(_TUNER_PREFIX)}

    hp = keras_tuner.HyperParameters()
    space_class.declare(hp)
    by_name = {declared.name: declared for declared in hp.space}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise ToolkitError(
            f"{path}: unknown hyperparameter {unknown[0]!r} for space {space_name!r} "
            f"(it has {', '.join(by_name)})"
        )
    hp.values = {name: _checked_value(path, by_name[name], value) for name, value in given.items()}
    # Activity depends on the values just set, so it is checked only now.
    for declared in hp.space:
        active = hp.is_active(declared)
        if active and declared.name not in hp.values:
            raise ToolkitError(
                f"{path}: missing hyperparameter {declared.name!r} "
                f"({_describe_range(declared)}), active at this point"
            )
        if not active and declared.name in hp.values:
            condition = _describe_conditions(declared.conditions, by_name)
            raise ToolkitError(
                f"{path}: hyperparameter {declared.name!r} is inactive at this point "
                f"(it applies only when {condition}): remove it"
            )
    return {
        "space": space_name,
        "name": content.get("name", path.stem),
        "description": content.get("description", ""),
        "hyperparameters": hp,
    }


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolkitError(f"hyperparameter file {path} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ToolkitError(f"hyperparameter file {path} cannot be read: {error}") from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolkitError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno})"
        ) from None
    if not isinstance(content, dict):
        raise ToolkitError(f"{path}: expected a JSON object with \"hyperparameters\"")
    return content


def _checked_value(path: Path, declared: Any, value: Any) -> Any:
    """The value in the space's own type, or ToolkitError when the space does not hold it."""
    kind = type(declared).__name__
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    problem = f"{path}: hyperparameter {declared.name!r} = {json.dumps(value)}"
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        raise ToolkitError(f"{problem} must be true or false")
    if kind == "Choice":
        for choice in declared.values:
            # 2 and 2.0 are the same choice in JSON, but True is not 1.
            if type(choice) is type(value) or (is_number and not isinstance(choice, (str, bool))):
                if choice == value:
                    return choice
        raise ToolkitError(f"{problem} is not one of {_describe_range(declared)}")
    if kind in ("Int", "Float"):
        if not is_number or (kind == "Int" and not float(value).is_integer()):
            raise ToolkitError(f"{problem} must be a number in {_describe_range(declared)}")
        tolerance = 1e-9 * max(1.0, abs(declared.max_value))
        inside = declared.min_value - tolerance <= value <= declared.max_value + tolerance
        on_grid = True
        if declared.step:
            steps = (value - declared.min_value) / declared.step
            on_grid = math.isclose(steps, round(steps), abs_tol=1e-6)
        if not (inside and on_grid):
            raise ToolkitError(f"{problem} is outside {_describe_range(declared)}")
        return int(value) if kind == "Int" else float(value)
    raise ToolkitError(f"{problem}: cannot check a {kind} hyperparameter")  # not used by spaces


def _format_value(value: Any) -> str:
    # repr keeps floats recognisable as floats ("2.0", "0.0001") and matches JSON.
    return repr(value) if isinstance(value, float) else str(value)


def _kind(declared: Any) -> str:
    """"Int", "Float", "Choice", "Boolean" or "Fixed", for Keras Tuner's and the Recorder's alike."""
    return getattr(declared, "kind", type(declared).__name__)


def _describe_range(declared: Any) -> str:
    kind = _kind(declared)
    if kind == "Boolean":
        return "False, True"
    if kind == "Choice":
        return ", ".join(_format_value(value) for value in declared.values)
    if kind in ("Int", "Float"):
        text = f"{_format_value(declared.min_value)} … {_format_value(declared.max_value)}"
        if declared.sampling == "log":
            text += " (log)"
        elif declared.sampling == "reverse_log":
            text += " (reverse log)"
        if declared.step and not (kind == "Int" and declared.step == 1):
            text += f" (step {_format_value(declared.step)})"
        return text
    if kind == "Fixed":  # Keras Tuner's Fixed has `value`; the Recorder's keeps it as its default
        return _format_value(getattr(declared, "value", declared.default))
    return repr(declared)


def _describe_conditions(conditions: list[Any], by_name: dict[str, Any]) -> str:
    """Keras Tuner's conditions as text: "hidden_layers ≥ 2 and dropout_after_hidden_1 = True"."""
    parts = []
    for condition in conditions:
        parent = by_name.get(condition.name)
        values = list(condition.values)
        is_upper_run = (
            _kind(parent) == "Int"
            and parent.step in (None, 1)
            and len(values) > 1
            and values == list(range(min(values), parent.max_value + 1))
        )
        if len(values) == 1:
            parts.append(f"{condition.name} = {_format_value(values[0])}")
        elif is_upper_run:
            parts.append(f"{condition.name} ≥ {min(values)}")
        else:
            parts.append(f"{condition.name} ∈ {{{', '.join(map(_format_value, values))}}}")
    return " and ".join(parts)
