"""The spaces and their hyperparameters as readable text (`spaces`, error messages), without Keras."""

from __future__ import annotations

from typing import Any

from .hyperparameters import Recorder
from .registry import SPACES


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
        hyperparameters = [{"name": declared.name, "type": declared.kind, "range": describe_range(declared),
                            "default": declared.default,
                            "condition": describe_conditions(declared.conditions, by_name)}
                           for declared in recorder.space]
        descriptions.append({"name": space_name, "description": entry.description,
                             "hyperparameters": hyperparameters})
    return descriptions



def _format_value(value: Any) -> str:
    # repr keeps floats recognisable as floats ("2.0", "0.0001") and matches JSON.
    return repr(value) if isinstance(value, float) else str(value)


def _kind(declared: Any) -> str:
    """"Int", "Float", "Choice", "Boolean" or "Fixed", for Keras Tuner's and the Recorder's alike."""
    return getattr(declared, "kind", type(declared).__name__)


def describe_range(declared: Any) -> str:
    """A hyperparameter's values as text: "2 … 6", "16, 32, 64", "0.0 … 0.5 (step 0.1)", "False, True"."""
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


def describe_conditions(conditions: list[Any], by_name: dict[str, Any]) -> str:
    """Keras Tuner's conditions as text: "hidden_layers ≥ 2 and dropout_after_hidden_1 = True".

    Args:
        conditions: a hyperparameter's `conditions`.
        by_name: every declared hyperparameter of the space by name (the parents' ranges decide "≥").
    """
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
