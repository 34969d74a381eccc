"""A plain CNN trained from scratch, searched over depth, width and head.

Images are augmented in training (`augmentation.py`: pose, framing, exposure). Every block is Conv2D ("same", relu) [+ BatchNormalization] + MaxPooling2D ("same"); the
"same" pooling rounds up, so any depth from 2 to 6 fits any image size of 32 px or more.
"""

from __future__ import annotations

from typing import Any

import keras
import keras_tuner

from .augmentation import chest_xray_augmentation

MIN_IMAGE_SIZE = 32
MAX_FILTERS = 256

# Our reconstruction of the hand-run four-block CNN that this project starts from: its exact
# layer sizes were not recorded, so the widths, head and rates below are our best reading of it.
REFERENCE_POINTS: dict[str, dict[str, Any]] = {
    "reference_cnn": {
        "blocks": 4,
        "filters": 32,
        "filter_growth": 2.0,
        "kernel_size": 3,
        "batch_norm": False,
        "pooling": "flatten",
        "dense_units": 128,
        "dropout": 0.5,
        "learning_rate": 1e-3,
    },
}


def block_filters(filters: int, filter_growth: float, blocks: int) -> list[int]:
    """Filters of each block: the first block's `filters`, grown geometrically, capped at 256."""
    return [min(MAX_FILTERS, round(filters * filter_growth**index)) for index in range(blocks)]


class CnnDepth(keras_tuner.HyperModel):
    """A CNN of 2 to 6 convolution blocks on raw images, with a dense head.

    Args:
        image_size: side S of the square images the model takes, (S, S, 3) float32 pixel
            values in 0..255; at least 32.
    """

    name = "cnn_depth"
    description = "CNN from scratch: 2-6 conv blocks, filter width and growth, dense head"
    batch_size = 32  # the default --batch-size: the reference experiment's
    finetune_epochs = 0  # trained end to end already: no fine-tuning stage

    def __init__(self, image_size: int) -> None:
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
        super().__init__(name=type(self).name)
        self.image_size = image_size

    @staticmethod
    def declare(hp: keras_tuner.HyperParameters) -> dict[str, Any]:
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

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters) -> None:
        # Keras Tuner calls this before the first build, so the oracle sees the whole space.
        self.declare(hp)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        values = self.declare(hp)
        images = keras.Input((self.image_size, self.image_size, 3), name="images")
        x = chest_xray_augmentation()(images)  # training only; the identity in prediction
        x = keras.layers.Rescaling(1 / 255, name="rescale_to_unit")(x)
        widths = block_filters(values["filters"], values["filter_growth"], values["blocks"])
        for number, width in enumerate(widths, start=1):
            x = keras.layers.Conv2D(
                width,
                values["kernel_size"],
                padding="same",
                activation="relu",
                name=f"block_{number}_conv",
            )(x)
            if values["batch_norm"]:
                x = keras.layers.BatchNormalization(name=f"block_{number}_batch_norm")(x)
            x = keras.layers.MaxPooling2D(padding="same", name=f"block_{number}_pool")(x)
        if values["pooling"] == "flatten":
            x = keras.layers.Flatten(name="flatten")(x)
        else:
            x = keras.layers.GlobalAveragePooling2D(name="global_average")(x)
        x = keras.layers.Dense(values["dense_units"], activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(values["dropout"], name="dropout")(x)
        # float32 output, also under --mixed-precision
        probability = keras.layers.Dense(1, activation="sigmoid", name="pneumonia", dtype="float32")(x)
        model = keras.Model(images, probability, name="cnn_depth")
        model.compile(
            optimizer=keras.optimizers.Adam(values["learning_rate"]),
            loss="binary_crossentropy",
        )
        return model
