"""Training-time augmentation for chest X-rays: small changes of pose, framing and exposure.

The data set's test folder was taken apart from its training folder, and its images differ in
framing and exposure (models trained on the training folder call many normal test images
pneumonia). These layers show a model the same anatomy under the variations that separate X-ray
sets: a few degrees of rotation, some zoom and shift, contrast and brightness. No horizontal flip:
the heart sits on the left, and a flipped chest is not a chest X-ray.

Keras preprocessing layers: active only in training (`model.fit`), the identity in prediction, and
the same on every backend.
"""

from __future__ import annotations

import keras

ROTATION = 0.03  # of a full turn: about ±11 degrees
ZOOM = 0.10
SHIFT = 0.05
CONTRAST = 0.2
BRIGHTNESS = 0.1


def chest_xray_augmentation(seed: int | None = None, name: str = "augmentation") -> keras.Sequential:
    """A Sequential of random layers on images with pixel values in 0..255.

    `seed` makes the draws reproducible (each layer gets its own seed derived from it).
    """

    def layer_seed(offset: int) -> int | None:
        return None if seed is None else seed + offset

    return keras.Sequential(
        [
            # Black fill: an X-ray's own border is black, a reflected chest edge is not.
            keras.layers.RandomRotation(ROTATION, fill_mode="constant", seed=layer_seed(1)),
            keras.layers.RandomZoom(ZOOM, fill_mode="constant", seed=layer_seed(2)),
            keras.layers.RandomTranslation(SHIFT, SHIFT, fill_mode="constant", seed=layer_seed(3)),
            keras.layers.RandomContrast(CONTRAST, value_range=(0, 255), seed=layer_seed(4)),
            keras.layers.RandomBrightness(BRIGHTNESS, value_range=(0, 255), seed=layer_seed(5)),
        ],
        name=name,
    )
