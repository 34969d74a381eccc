"""A dense head on a frozen MobileNetV2, searched over pooling, depth, width and dropout.

The backbone never trains in the search, so it can run once over the images, its feature maps be
cached, and only heads be trained on them (`use_feature_cache=True`). `full_model` joins the
backbone and a trained head back into one model on images. `finetune_model` is the stage after
the search: the chosen head on a MobileNetV2 whose top blocks train too, at a low learning rate,
on augmented images.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import h5py
import keras
import keras_tuner

from tuner.core.errors import ToolkitError
from tuner.data.features import FEATURE_DTYPE

from .augmentation import chest_xray_augmentation

MIN_IMAGE_SIZE = 32  # the smallest input MobileNetV2 accepts
FEATURE_CHANNELS = 1280  # MobileNetV2's last 1x1 convolution at alpha 1.0
TOTAL_STRIDE = 32  # five stride-2 stages, each rounding up
# Keras ships ImageNet weights for these sizes; for any other it uses the 224 px file.
IMAGENET_SIZES = (96, 128, 160, 192, 224)
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"

UNIT_CHOICES = [32, 64, 128, 256, 512]

# Fine-tuning: blocks 13-16 and the last 1x1 convolution (1.6M of MobileNetV2's 2.3M weights, all at
# 14x14 px or less, so cheap to train) learn; the layers below and every BatchNormalization keep their
# ImageNet values (BatchNorm statistics from a few thousand X-rays would be noisier than ImageNet's).
FINETUNE_FROM = "block_13_expand"
FINETUNE_LEARNING_RATE = 3e-5

# Our reconstruction of the hand-run transfer models: the first had Flatten, two relu hidden
# layers and a sigmoid output; the variants added Dropout layers between them. Their exact
# widths and rates were not recorded, so the numbers below are ours.
_TRANSFER_1: dict[str, Any] = {
    "pooling": "flatten",
    "hidden_layers": 2,
    "units_1": 256,
    "units_2": 128,
    "dropout_after_pooling": False,
    "dropout_after_hidden_1": False,
    "dropout_before_output": False,
    "learning_rate": 1e-3,
}
REFERENCE_POINTS: dict[str, dict[str, Any]] = {
    "transfer_1": _TRANSFER_1,
    "transfer_2": {
        **_TRANSFER_1,
        "dropout_after_pooling": True,
        "dropout_after_pooling_rate": 0.5,
    },
    "transfer_3": {
        **_TRANSFER_1,
        "dropout_after_hidden_1": True,
        "dropout_after_hidden_1_rate": 0.3,
    },
    "transfer_4": {
        **_TRANSFER_1,
        "dropout_before_output": True,
        "dropout_before_output_rate": 0.2,
    },
    "transfer_5": {
        **_TRANSFER_1,
        "dropout_after_pooling": True,
        "dropout_after_pooling_rate": 0.5,
        "dropout_after_hidden_1": True,
        "dropout_after_hidden_1_rate": 0.3,
        "dropout_before_output": True,
        "dropout_before_output_rate": 0.2,
    },
}


def validate_weights(spec: str) -> str | None:
    """Checks a `--weights` value cheaply (no Keras) and returns what to pass on.

    Args:
        spec: "imagenet", "none" (any case) or the path of a local Keras .h5 weights file.

    Returns:
        "imagenet", None for random initialisation, or the file's absolute path.

    Raises:
        ToolkitError: the path is missing, not a readable file, or not HDF5.
    """
    if spec.lower() == "imagenet":
        return "imagenet"
    if spec.lower() == "none":
        return None
    path = Path(spec).expanduser()
    if not path.exists():
        raise ToolkitError(
            f"weights file {spec} not found: pass the path of a MobileNetV2 .h5 weights file, "
            "--weights imagenet or --weights none"
        )
    if not path.is_file():
        raise ToolkitError(f"weights file {spec} is not a file")
    if not os.access(path, os.R_OK):
        raise ToolkitError(f"weights file {spec} is not readable (permissions)")
    if not h5py.is_hdf5(path):
        raise ToolkitError(f"weights file {spec} is not an HDF5 file (expected Keras .h5 weights)")
    if path.suffix.lower() not in (".h5", ".hdf5"):
        # Keras chooses how to read a weights file by its name alone.
        raise ToolkitError(f"weights file {spec} must be named *.h5 or *.hdf5 for Keras to read it")
    return str(path.resolve())


def _keras_home() -> Path:
    # Read the environment now rather than Keras' value frozen at import, so KERAS_HOME set
    # after `import keras` (as tests do) still counts.
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def _imagenet_file_name(image_size: int) -> str:
    rows = image_size if image_size in IMAGENET_SIZES else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"


def imagenet_weights_path(image_size: int) -> str:
    """The cached ImageNet file, downloaded first when absent; ToolkitError when that fails."""
    file_name = _imagenet_file_name(image_size)
    try:
        return keras.utils.get_file(
            file_name,
            IMAGENET_URL + file_name,
            cache_subdir="models",
            cache_dir=str(_keras_home()),
        )
    except Exception as error:  # Keras raises a bare Exception for URL failures
        reason = " ".join(str(error).split())
        example = f"../shared/weights/{_imagenet_file_name(224)}"
        raise ToolkitError(
            f"could not download the MobileNetV2 ImageNet weights (no network?): pass "
            f"--weights PATH to a local .h5 file (e.g. {example}) or --weights none "
            f"[{file_name}: {type(error).__name__}: {reason}]"
        ) from error


class MobileNetHead(keras_tuner.HyperModel):
    """A searched dense head on a frozen ImageNet MobileNetV2 (alpha 1.0).

    Args:
        image_size: side S of the square images, (S, S, 3) float32 pixel values in 0..255;
            at least 32.
        weights: "imagenet", the path of a local .h5 weights file, or None for random
            initialisation (tests). Checked when the backbone is first built.
        use_feature_cache: when True, `build` returns the head alone, to train on cached
            backbone feature maps; when False, backbone and head end to end on images.
    """

    name = "mobilenet_head"
    description = "Frozen MobileNetV2 (ImageNet) + dense head: pooling, 1-3 layers, dropouts"
    # The default --batch-size. On cached features a Flatten head's step costs mostly its Adam update
    # of up to 32M weights, whatever the batch: on 2 CPU cores an epoch of 600 feature maps takes
    # 3.4-5.2 s at batch 32 and 1.0-2.2 s at 128 (docs/benchmarks.md).
    batch_size = 128
    # The default --finetune-epochs: the fine-tuning stage after the search (docs/results.md).
    finetune_epochs = 3

    def __init__(
        self, image_size: int, weights: str | None, use_feature_cache: bool = True
    ) -> None:
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
        super().__init__(name=type(self).name)
        self.image_size = image_size
        self.weights = weights
        self.use_feature_cache = use_feature_cache
        # Built once: loading weights takes seconds, and frozen layers can be shared by models.
        self._backbone: keras.Model | None = None

    @staticmethod
    def declare(hp: keras_tuner.HyperParameters) -> dict[str, Any]:
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

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters) -> None:
        # Keras Tuner calls this before the first build, so the oracle sees the whole space.
        self.declare(hp)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """The backbone's output shape without the batch axis, by arithmetic (no weights)."""
        side = math.ceil(self.image_size / TOTAL_STRIDE)
        return (side, side, FEATURE_CHANNELS)

    def backbone(self) -> keras.Model:
        """Images (S, S, 3) in 0..255 -> MobileNetV2 feature map, frozen, built once.

        Raises:
            ToolkitError: the weights cannot be found, downloaded, read or do not fit.
        """
        if self._backbone is None:
            self._backbone = self._build_backbone()
        return self._backbone

    def _build_backbone(self) -> keras.Model:
        # Find the weights file before building, so a wrong one fails fast.
        weights_path = None if self.weights is None else validate_weights(self.weights)
        if weights_path == "imagenet":
            weights_path = imagenet_weights_path(self.image_size)
        shape = (self.image_size, self.image_size, 3)
        mobilenet = keras.applications.MobileNetV2(
            input_shape=shape, alpha=1.0, include_top=False, weights=None, name="mobilenet_v2"
        )
        if weights_path is not None:
            _load_weights(mobilenet, weights_path)
        mobilenet.trainable = False
        images = keras.Input(shape, name="images")
        # Exactly mobilenet_v2.preprocess_input (x / 127.5 - 1), but as a layer that saves.
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="mobilenet_v2_preprocess")(images)
        features = mobilenet(x, training=False)
        return keras.Model(images, features, name="mobilenet_v2_backbone")

    def build_head(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """The head alone on inputs of `feature_shape`, compiled."""
        features = keras.Input(self.feature_shape, name="features")
        probability = self._head_layers(hp)(features)
        head = keras.Model(features, probability, name="mobilenet_head")
        _compile(head, self.declare(hp)["learning_rate"])
        return head

    def _head_layers(self, hp: keras_tuner.HyperParameters):
        """A function applying the head's layers, in order, to a feature-map tensor."""
        values = self.declare(hp)

        def dropout(x, position: str):
            if values[position]:
                return keras.layers.Dropout(values[f"{position}_rate"], name=position)(x)
            return x

        def apply(x):
            if values["pooling"] == "flatten":
                x = keras.layers.Flatten(name="flatten")(x)
            else:
                x = keras.layers.GlobalAveragePooling2D(name="global_average")(x)
            x = dropout(x, "dropout_after_pooling")
            for number in range(1, values["hidden_layers"] + 1):
                x = keras.layers.Dense(
                    values[f"units_{number}"], activation="relu", name=f"hidden_{number}"
                )(x)
                if number < values["hidden_layers"]:
                    x = dropout(x, f"dropout_after_hidden_{number}")
            x = dropout(x, "dropout_before_output")
            # float32 output, also under --mixed-precision
            return keras.layers.Dense(1, activation="sigmoid", name="pneumonia", dtype="float32")(x)

        return apply

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        if self.use_feature_cache:
            return self.build_head(hp)
        images = keras.Input((self.image_size, self.image_size, 3), name="images")
        probability = self._head_layers(hp)(self._head_inputs(images))
        model = keras.Model(images, probability, name="mobilenet_head_end_to_end")
        _compile(model, self.declare(hp)["learning_rate"])
        return model

    def full_model(self, head: keras.Model) -> keras.Model:
        """The backbone and a trained head as one model on images (the head's weights shared).

        The result saves to .keras and loads with `safe_mode=True`. Not compiled: it is for
        prediction.
        """
        images = keras.Input((self.image_size, self.image_size, 3), name="images")
        return keras.Model(images, head(self._head_inputs(images)), name="mobilenet_head_full")

    def finetune_model(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Images -> augmentation -> MobileNetV2 (top blocks trainable) -> the head of `hp`, compiled.

        The backbone starts from the search's weights; the head is new: copy a trained head's
        weights in with `copy_head_weights`. Augmentation acts in training only.
        """
        shape = (self.image_size, self.image_size, 3)
        mobilenet = keras.applications.MobileNetV2(
            input_shape=shape, alpha=1.0, include_top=False, weights=None, name="mobilenet_v2"
        )
        mobilenet.set_weights(self.backbone().get_layer("mobilenet_v2").get_weights())
        trainable = False
        for layer in mobilenet.layers:
            trainable = trainable or layer.name == FINETUNE_FROM
            layer.trainable = trainable and not isinstance(layer, keras.layers.BatchNormalization)
        images = keras.Input(shape, name="images")
        x = chest_xray_augmentation()(images)
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="mobilenet_v2_preprocess")(x)
        probability = self._head_layers(hp)(mobilenet(x, training=False))
        model = keras.Model(images, probability, name="mobilenet_head_finetuned")
        _compile(model, FINETUNE_LEARNING_RATE)
        return model

    @staticmethod
    def copy_head_weights(trained: keras.Model, model: keras.Model) -> None:
        """The head's weights (its Dense layers, by name) from a trial's model into `model`."""
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                layer.set_weights(trained.get_layer(layer.name).get_weights())

    def _head_inputs(self, images):
        """The backbone's features as every head sees them: rounded as the feature cache stores
        them, with the cache or without, so that both ways train the same model."""
        return StorageRounding(FEATURE_DTYPE.__name__, name="feature_rounding")(self.backbone()(images))


@keras.saving.register_keras_serializable(package="xray_tuner")
class StorageRounding(keras.layers.Layer):
    """Rounds features to the feature cache's storage type (float16) and back."""

    def __init__(self, storage_dtype: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.storage_dtype = storage_dtype

    def call(self, features):
        return keras.ops.cast(keras.ops.cast(features, self.storage_dtype), features.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "storage_dtype": self.storage_dtype}


def _declare_dropout(
    hp: keras_tuner.HyperParameters, position: str, default_rate: float
) -> dict[str, Any]:
    """A Dropout switch and, active only when it is on, its rate."""
    values = {position: hp.Boolean(position, default=False)}
    with hp.conditional_scope(position, [True]):
        values[f"{position}_rate"] = hp.Float(
            f"{position}_rate", 0.1, 0.6, step=0.1, default=default_rate
        )
    return values


def _load_weights(mobilenet: keras.Model, path: str) -> None:
    try:
        mobilenet.load_weights(path)
    except Exception as error:  # h5py and Keras raise many kinds; all mean the same here
        reason = " ".join(str(error).split())[:300]
        raise ToolkitError(
            f"weights file {path} does not fit MobileNetV2 (alpha 1.0, no top): "
            f"{type(error).__name__}: {reason}"
        ) from error


def _compile(model: keras.Model, learning_rate: float) -> None:
    # jit_compile stays Keras' "auto": XLA on a GPU, not on a CPU, where it made this search 2.5x
    # slower (its random numbers for Dropout on 62,720 flattened features are slow; benchmarks.md).
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
