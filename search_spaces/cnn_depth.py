"""A plain CNN trained from scratch, searched over depth, width and head.

Images are augmented in training (`augmentation.py`: pose, framing, exposure). Every block is
Conv2D ("same", relu) [+ BatchNormalization] + MaxPooling2D ("same"); the
"same" pooling rounds up, so any depth from 2 to 6 fits any image size of 32 px or more.
"""

from __future__ import annotations

import keras
import keras_tuner

from .augmentation import chest_xray_augmentation
from .hyperparameters import declare_cnn_depth

MIN_IMAGE_SIZE = 32
MAX_FILTERS = 256

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

    def __init__(self, image_size: int) -> None:
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
        super().__init__(name=type(self).name)
        self.image_size = image_size

    declare = staticmethod(declare_cnn_depth)

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters) -> None:
        # Keras Tuner calls this before the first build, so the oracle sees the whole space.
        self.declare(hp)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """The trial's CNN on images, augmentation (training only) included, compiled with Adam."""
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
