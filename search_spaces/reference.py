"""The reference points shipped with the package (`reference/*.json`), and reading any hyperparameter file
against its space (`train --hyperparameters FILE`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tuner.core.errors import ToolkitError
from tuner.core.spaces import space_entry

from .display import describe_conditions, describe_range

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

# Keras Tuner's own bookkeeping values (Hyperband's epochs, bracket, round ...): they ride in a
# trial's values but are no part of a space, so a file copied from a trial may hold them.
_TUNER_PREFIX = "tuner/"


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
    space_class = space_entry(space_name).load()
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
                f"({describe_range(declared)}), active at this point"
            )
        if not active and declared.name in hp.values:
            condition = describe_conditions(declared.conditions, by_name)
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
        raise ToolkitError(f"{problem} is not one of {describe_range(declared)}")
    if kind in ("Int", "Float"):
        if not is_number or (kind == "Int" and not float(value).is_integer()):
            raise ToolkitError(f"{problem} must be a number in {describe_range(declared)}")
        tolerance = 1e-9 * max(1.0, abs(declared.max_value))
        inside = declared.min_value - tolerance <= value <= declared.max_value + tolerance
        on_grid = True
        if declared.step:
            steps = (value - declared.min_value) / declared.step
            on_grid = math.isclose(steps, round(steps), abs_tol=1e-6)
        if not (inside and on_grid):
            raise ToolkitError(f"{problem} is outside {describe_range(declared)}")
        return int(value) if kind == "Int" else float(value)
    raise ToolkitError(f"{problem}: cannot check a {kind} hyperparameter")  # not used by spaces


