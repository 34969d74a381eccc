"""Training-time augmentation for chest X-rays: small changes of pose, framing and exposure.

The data set's test folder was taken apart from its training folder, and its images differ in
framing and exposure (models trained on the training folder call many normal test images
pneumonia). These layers show a model the same anatomy under the variations that separate X-ray
sets: a few degrees of rotation, some zoom and shift, contrast and brightness. No horizontal flip:
the heart sits on the left, and a flipped chest is not a chest X-ray.

The fine-tuning stage of `mobilenet_head` uses a stronger set (`finetuning_augmentation`): random resized
crops of 8 % (with `--finetune-layers top`, a quarter) to all of the image, anywhere in it, and contrast and
brightness ±30 % (docs/results.md, "Random resized crops in fine-tuning").

Keras preprocessing layers: active only in training (`model.fit`), the identity in prediction, and
the same on every backend.
"""

from __future__ import annotations

import math

import keras

ROTATION = 0.03  # of a full turn: about ±11 degrees
ZOOM = 0.10
SHIFT = 0.05
CONTRAST = 0.2
BRIGHTNESS = 0.1

CROP_AREA = (0.25, 1.0)  # of the image: at least about one lung
CROP_ASPECT = (3 / 4, 4 / 3)
FINETUNING_CONTRAST = 0.3
FINETUNING_BRIGHTNESS = 0.3


@keras.saving.register_keras_serializable(package="xray_tuner")
class RandomResizedCrop(keras.layers.Layer):
    """A random window of the image, anywhere in it, stretched back to the image's size; the identity in prediction.

    The torchvision recipe, its windows clipped to the image rather than drawn again.

    Args:
        area: (smallest, largest) share of the image's area a window covers.
        aspect: (smallest, largest) width / height of a window, as shares of the image's (pixels for a
            square image).
        seed: seeds the windows; None draws them anew.
    """

    def __init__(self, area=CROP_AREA, aspect=CROP_ASPECT, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.area, self.aspect, self.seed = tuple(area), tuple(aspect), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        batch = ops.shape(images)[0]
        height, width = (ops.cast(ops.shape(images)[axis], "float32") for axis in (1, 2))

        def uniform(low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        area = uniform(*self.area)
        aspect = ops.exp(uniform(math.log(self.aspect[0]), math.log(self.aspect[1])))
        crop_width = ops.minimum(ops.sqrt(area * aspect), 1.0)
        crop_height = ops.minimum(ops.sqrt(area / aspect), 1.0)
        left = uniform(0.0, 1.0) * (1 - crop_width)
        top = uniform(0.0, 1.0) * (1 - crop_height)
        zeros = ops.zeros_like(area)
        # output pixel (x, y) reads the input at (crop_width·x + left·width, crop_height·y + top·height)
        transform = ops.stack([crop_width, zeros, left * width, zeros, crop_height, top * height, zeros, zeros], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="constant")

    def get_config(self):
        return {**super().get_config(), "area": self.area, "aspect": self.aspect, "seed": self.seed}


def _layer_seed(seed: int | None, offset: int) -> int | None:
    return None if seed is None else seed + offset


def chest_xray_augmentation(seed: int | None = None, name: str = "augmentation") -> keras.Sequential:
    """The search's augmentation: a Sequential of random layers on images with pixel values in 0..255.

    Args:
        seed: makes the draws reproducible (each layer gets its own seed derived from it); None: unseeded.
        name: the Sequential's name.

    Returns:
        A `keras.Sequential` of rotation, zoom, shift, contrast and brightness, active only in training.
    """
    return keras.Sequential(
        [
            # Black fill: an X-ray's own border is black, a reflected chest edge is not.
            keras.layers.RandomRotation(ROTATION, fill_mode="constant", seed=_layer_seed(seed, 1)),
            keras.layers.RandomZoom(ZOOM, fill_mode="constant", seed=_layer_seed(seed, 2)),
            keras.layers.RandomTranslation(SHIFT, SHIFT, fill_mode="constant", seed=_layer_seed(seed, 3)),
            keras.layers.RandomContrast(CONTRAST, value_range=(0, 255), seed=_layer_seed(seed, 4)),
            keras.layers.RandomBrightness(BRIGHTNESS, value_range=(0, 255), seed=_layer_seed(seed, 5)),
        ],
        name=name,
    )


def finetuning_augmentation(seed: int | None = None, name: str = "augmentation",
                            smallest_crop: float = CROP_AREA[0]) -> keras.Sequential:
    """The fine-tuning stage's augmentation, on images with pixel values in 0..255.

    Args:
        seed: makes the draws reproducible; None: unseeded.
        name: the Sequential's name.
        smallest_crop: the smallest share of the image's area a random crop covers.

    Returns:
        A `keras.Sequential` of random resized crops (from `smallest_crop` of the area to all of it), rotation
        as in the search, and contrast and brightness ±30 %, active only in training.
    """
    return keras.Sequential(
        [
            RandomResizedCrop(area=(smallest_crop, CROP_AREA[1]), seed=_layer_seed(seed, 1)),
            keras.layers.RandomRotation(ROTATION, fill_mode="constant", seed=_layer_seed(seed, 2)),
            keras.layers.RandomContrast(FINETUNING_CONTRAST, value_range=(0, 255), seed=_layer_seed(seed, 3)),
            keras.layers.RandomBrightness(FINETUNING_BRIGHTNESS, value_range=(0, 255), seed=_layer_seed(seed, 4)),
        ],
        name=name,
    )
