"""The hyperparameters of every space, declared without Keras, so that `spaces` lists them at once.

Each `declare_*` takes a Keras Tuner `HyperParameters` (the spaces' hypermodels pass theirs), or the
`Recorder` below, which notes the declarations without importing Keras Tuner.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

UNIT_CHOICES = [32, 64, 128, 256, 512]


def declare_cnn_depth(hp) -> dict[str, Any]:
    """Registers every hyperparameter of the space; returns the active values by name.

    Defaults are the reference CNN, so an untouched `HyperParameters` builds it.
    """
    return {
        "blocks": hp.Int("blocks", 2, 6, default=4),
        "filters": hp.Choice("filters", [16, 32, 64], default=32),
        "filter_growth": hp.Choice("filter_growth", [1.0, 1.5, 2.0], default=2.0),
        "kernel_size": hp.Choice("kernel_size", [3, 5], default=3),
        "batch_norm": hp.Boolean("batch_norm", default=False),
        "pooling": hp.Choice("pooling", ["flatten", "global_average"], default="flatten"),
        "dense_units": hp.Choice("dense_units", [64, 128, 256, 512], default=128),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.5),
        "learning_rate": hp.Choice(
            "learning_rate", [1e-4, 3e-4, 1e-3, 3e-3], default=1e-3
        ),
    }


def declare_mobilenet_head(hp) -> dict[str, Any]:
    """Registers every hyperparameter of the space; returns the active values by name.

    Defaults are the reference point transfer_1.
    """
    values: dict[str, Any] = {
        "pooling": hp.Choice("pooling", ["flatten", "global_average"], default="flatten"),
        "hidden_layers": hp.Int("hidden_layers", 1, 3, default=2),
        "units_1": hp.Choice("units_1", UNIT_CHOICES, default=256),
    }
    values.update(_declare_dropout(hp, "dropout_after_pooling", default_rate=0.5))
    with hp.conditional_scope("hidden_layers", [2, 3]):
        values["units_2"] = hp.Choice("units_2", UNIT_CHOICES, default=128)
        values.update(_declare_dropout(hp, "dropout_after_hidden_1", default_rate=0.3))
    with hp.conditional_scope("hidden_layers", [3]):
        values["units_3"] = hp.Choice("units_3", UNIT_CHOICES, default=64)
        values.update(_declare_dropout(hp, "dropout_after_hidden_2", default_rate=0.3))
    values.update(_declare_dropout(hp, "dropout_before_output", default_rate=0.2))
    values["learning_rate"] = hp.Choice(
        "learning_rate", [1e-4, 3e-4, 1e-3, 3e-3], default=1e-3
    )
    # Inactive hyperparameters come back as None; leave them out.
    return {name: value for name, value in values.items() if value is not None}


def _declare_dropout(
    hp, position: str, default_rate: float
) -> dict[str, Any]:
    """A Dropout switch and, active only when it is on, its rate."""
    values = {position: hp.Boolean(position, default=False)}
    with hp.conditional_scope(position, [True]):
        values[f"{position}_rate"] = hp.Float(
            f"{position}_rate", 0.1, 0.6, step=0.1, default=default_rate
        )
    return values


class Condition(NamedTuple):
    """Active when the hyperparameter `name` has one of `values` (as Keras Tuner's conditions)."""

    name: str
    values: list


@dataclass
class Declared:
    """One declared hyperparameter, with the attributes of Keras Tuner's own of the same `kind`."""

    kind: str  # "Int", "Float", "Choice", "Boolean" or "Fixed"
    name: str
    default: Any
    conditions: list[Condition] = field(default_factory=list)
    values: list | None = None
    min_value: float | None = None
    max_value: float | None = None
    step: float | None = None
    sampling: str | None = None


class Recorder:
    """Stands in for `keras_tuner.HyperParameters` to list a space's declarations: every call returns its
    default (so a space's declare function runs through every branch) and is noted in `space`."""

    def __init__(self) -> None:
        self.space: list[Declared] = []
        self._conditions: list[Condition] = []

    def _declare(self, kind: str, name: str, default: Any, **details) -> Any:
        self.space.append(Declared(kind, name, default, list(self._conditions), **details))
        return default

    def Int(self, name, min_value, max_value, step=1, sampling="linear", default=None):  # noqa: N802
        return self._declare("Int", name, min_value if default is None else default, min_value=min_value,
                             max_value=max_value, step=step, sampling=sampling)

    def Float(self, name, min_value, max_value, step=None, sampling="linear", default=None):  # noqa: N802
        return self._declare("Float", name, min_value if default is None else default, min_value=min_value,
                             max_value=max_value, step=step, sampling=sampling)

    def Choice(self, name, values, ordered=None, default=None):  # noqa: N802
        return self._declare("Choice", name, values[0] if default is None else default, values=list(values))

    def Boolean(self, name, default=False):  # noqa: N802
        return self._declare("Boolean", name, default)

    def Fixed(self, name, value):  # noqa: N802
        return self._declare("Fixed", name, value, values=[value])

    @contextmanager
    def conditional_scope(self, parent_name, parent_values):
        self._conditions.append(Condition(parent_name, list(parent_values)))
        try:
            yield
        finally:
            self._conditions.pop()
