"""A third search space, as a user would add one: this module and one `SpaceEntry` line (see test_three_spaces.py)."""

from __future__ import annotations

import keras
import keras_tuner


def declare(hp) -> dict:
    """The space's hyperparameters (Keras Tuner's `HyperParameters` or the registry's `Recorder`)."""
    return {"units": hp.Choice("units", [4, 8], default=4),
            "learning_rate": hp.Choice("learning_rate", [1e-3, 1e-2], default=1e-2)}


class TinySpace(keras_tuner.HyperModel):
    """Mean-pooled pixels and one small dense layer: the least a space needs."""

    name = "tiny"

    def __init__(self, image_size: int) -> None:
        super().__init__(name=type(self).name)
        self.image_size = image_size

    declare = staticmethod(declare)

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters) -> None:
        self.declare(hp)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        values = self.declare(hp)
        images = keras.Input((self.image_size, self.image_size, 3), name="images")
        x = keras.layers.Rescaling(1 / 255)(images)
        x = keras.layers.AveragePooling2D(4)(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(values["units"], activation="relu")(x)
        probability = keras.layers.Dense(1, activation="sigmoid", name="pneumonia", dtype="float32")(x)
        model = keras.Model(images, probability, name="tiny")
        model.compile(optimizer=keras.optimizers.Adam(values["learning_rate"]), loss="binary_crossentropy")
        return model
