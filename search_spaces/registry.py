"""The registry of search spaces: their names, what each can do, and the defaults of the flags that depend on it.

Keras-free and free of the rest of the package (it is the bottom layer: `tuner.core` reads it), so listing the
spaces and checking the flags import nothing heavy. A new space is one module holding its hypermodel and one
`SpaceEntry` line in `SPACES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .hyperparameters import declare_cnn_depth, declare_mobilenet_head

# The fine-tuning recipe of runs that do not name one (`--finetune-layers`), stored in every run's settings.
DEFAULT_FINETUNE_RECIPE = "all"


@dataclass(frozen=True)
class SpaceEntry:
    """Where a space's hypermodel lives and what it can do.

    Attributes:
        module: the dotted name of the module holding the hypermodel class.
        class_name: the hypermodel class (a `keras_tuner.HyperModel` whose constructor takes the image size
            first, and, for a space with a frozen backbone, `weights`, `use_feature_cache` and, if it
            fine-tunes, `finetune_layers`).
        description: one line for `spaces`.
        declare: declares the space's hyperparameters on a `HyperParameters` or a `Recorder`, without Keras.
        batch_size: the default `--batch-size`.
        finetune_epochs: the default `--finetune-epochs` (0 where the space does not fine-tune).
        frozen_backbone: the trials train a head on a frozen, pretrained backbone (`--weights` applies).
        caches_features: the backbone's outputs can be computed once and cached (`--no-feature-cache`).
        finetune_recipes: the `--finetune-layers` the space's fine-tuning stage offers (none: no stage).
    """

    module: str
    class_name: str
    description: str
    declare: Callable
    batch_size: int = 32
    finetune_epochs: int = 0
    frozen_backbone: bool = False
    caches_features: bool = False
    finetune_recipes: tuple[str, ...] = ()

    @property
    def default_recipe(self) -> str | None:
        """The recipe of `--finetune-layers` when it is not given: DEFAULT_FINETUNE_RECIPE where the space offers
        it, else its first (None for a space that does not fine-tune)."""
        if not self.finetune_recipes:
            return None
        return DEFAULT_FINETUNE_RECIPE if DEFAULT_FINETUNE_RECIPE in self.finetune_recipes else self.finetune_recipes[0]

    @property
    def finetunes(self) -> bool:
        """Whether the space has a fine-tuning stage after its search."""
        return bool(self.finetune_recipes)

    def load(self) -> type:
        """The hypermodel class, importing its module (and with it Keras) now."""
        return getattr(importlib.import_module(self.module), self.class_name)


# Batch sizes and the fine-tuning default: docs/benchmarks.md and docs/results.md.
SPACES: dict[str, SpaceEntry] = {
    "cnn_depth": SpaceEntry("search_spaces.cnn_depth", "CnnDepth",
                            "CNN from scratch: 2-6 conv blocks, filter width and growth, dense head",
                            declare_cnn_depth, batch_size=32),
    "mobilenet_head": SpaceEntry("search_spaces.mobilenet_head", "MobileNetHead",
                                 "Frozen MobileNetV2 (ImageNet) + dense head: pooling, 1-3 layers, dropouts",
                                 declare_mobilenet_head, batch_size=128, finetune_epochs=10, frozen_backbone=True,
                                 caches_features=True, finetune_recipes=("top", "all")),
}


def space_names() -> tuple[str, ...]:
    """The registered spaces' names, in registration order."""
    return tuple(SPACES)


def finetune_recipes() -> tuple[str, ...]:
    """Every recipe some space offers to `--finetune-layers`, in registration order."""
    return tuple(dict.fromkeys(recipe for entry in SPACES.values() for recipe in entry.finetune_recipes))
