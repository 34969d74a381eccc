"""A dense head on a frozen MobileNetV2, searched over pooling, depth, width and dropout.

The backbone never trains in the search, so it can run once over the images, its feature maps be
cached, and only heads be trained on them (`use_feature_cache=True`). `full_model` joins the
backbone and a trained head back into one model on images. `finetune_model` is the stage after
the search: the chosen head on a MobileNetV2 whose top blocks (or all layers) train too, at a low
learning rate, on augmented images.
"""

from __future__ import annotations

import math

import keras
import keras_tuner
import numpy as np

from tuner.core.errors import ToolkitError
from tuner.data.features import FEATURE_DTYPE

from .augmentation import CROP_AREA, finetuning_augmentation
from .hyperparameters import declare_mobilenet_head
from .registry import DEFAULT_FINETUNE_RECIPE
from .weights import imagenet_weights_path, validate_weights

MIN_IMAGE_SIZE = 32  # the smallest input MobileNetV2 accepts
FEATURE_CHANNELS = 1280  # MobileNetV2's last 1x1 convolution at alpha 1.0
TOTAL_STRIDE = 32  # five stride-2 stages, each rounding up

# Fine-tuning (--finetune-layers): the first MobileNetV2 layer that learns, and the smallest random crop
# (share of the image's area) that goes with it. "top": blocks 13-16 and the last 1x1 convolution (1.6M of
# the 2.3M weights, all at 14x14 px or less, so cheap to train), crops from about one lung. "all" (the
# default): every layer, crops from 8 % of the image, as the published augmentation ablation on this test
# folder; each epoch takes longer. Evidence: docs/results.md ("The current defaults"); timings in docs/benchmarks.md.
# Either way every BatchNormalization keeps its ImageNet values (statistics from a few thousand X-rays
# would be noisier than ImageNet's).
FINETUNE_RECIPES = {"top": ("block_13_expand", CROP_AREA[0]), "all": ("Conv1", 0.08)}
FINETUNE_LEARNING_RATE = 3e-5
RANDOM_BACKBONE_SEED = 0  # --weights none

class MobileNetHead(keras_tuner.HyperModel):
    """A searched dense head on a frozen ImageNet MobileNetV2 (alpha 1.0).

    Args:
        image_size: side S of the square images, (S, S, 3) float32 pixel values in 0..255;
            at least 32.
        weights: "imagenet", the path of a local .h5 weights file, or None for random
            initialisation (tests). Checked when the backbone is first built.
        use_feature_cache: when True, `build` returns the head alone, to train on cached
            backbone feature maps; when False, backbone and head end to end on images.
        finetune_layers: which layers `finetune_model` trains, a key of FINETUNE_RECIPES.
    """

    name = "mobilenet_head"

    def __init__(
        self, image_size: int, weights: str | None, use_feature_cache: bool = True,
        finetune_layers: str = DEFAULT_FINETUNE_RECIPE,
    ) -> None:
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
        if finetune_layers not in FINETUNE_RECIPES:
            raise ValueError(f"finetune_layers must be one of {', '.join(FINETUNE_RECIPES)}, got {finetune_layers!r}")
        super().__init__(name=type(self).name)
        self.image_size = image_size
        self.weights = weights
        self.use_feature_cache = use_feature_cache
        self.finetune_layers = finetune_layers
        # Built once: loading weights takes seconds, and frozen layers can be shared by models.
        self._backbone: keras.Model | None = None

    declare = staticmethod(declare_mobilenet_head)

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
        else:
            _fixed_random_weights(mobilenet)
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
        """The trial's compiled model: the head alone with `use_feature_cache`, else backbone and head on images."""
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
        """Images -> augmentation -> MobileNetV2 (the recipe's layers trainable) -> the head of `hp`, compiled.

        The backbone starts from the search's weights; the head is new: copy a trained head's
        weights in with `copy_head_weights`. Augmentation acts in training only.
        """
        shape = (self.image_size, self.image_size, 3)
        mobilenet = keras.applications.MobileNetV2(
            input_shape=shape, alpha=1.0, include_top=False, weights=None, name="mobilenet_v2"
        )
        mobilenet.set_weights(self.backbone().get_layer("mobilenet_v2").get_weights())
        first_layer, smallest_crop = FINETUNE_RECIPES[self.finetune_layers]
        trainable = False
        for layer in mobilenet.layers:
            trainable = trainable or layer.name == first_layer
            layer.trainable = trainable and not isinstance(layer, keras.layers.BatchNormalization)
        images = keras.Input(shape, name="images")
        x = finetuning_augmentation(smallest_crop=smallest_crop)(images)
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
    """Rounds features to the feature cache's storage type (float16) and back.

    Args:
        storage_dtype: the storage type's name ("float16").
    """

    def __init__(self, storage_dtype: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.storage_dtype = storage_dtype

    def call(self, features):
        return keras.ops.cast(keras.ops.cast(features, self.storage_dtype), features.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "storage_dtype": self.storage_dtype}


def _fixed_random_weights(model: keras.Model) -> None:
    """Glorot-uniform kernels drawn from one fixed seed (`--weights none`), the other weights as built:
    the same random backbone in every process, so features cached in a search and the models `test`
    and `predict` rebuild later see the same one. Drawn with NumPy, not a seeded Keras initializer,
    so every backend gets the same values and a feature cache is valid across backends."""
    rng = np.random.default_rng(RANDOM_BACKBONE_SEED)
    weights = []
    for weight in model.get_weights():
        if weight.ndim >= 2:  # a kernel: (..., inputs, outputs)
            receptive_field = int(np.prod(weight.shape[:-2]))
            limit = math.sqrt(6 / (receptive_field * (weight.shape[-2] + weight.shape[-1])))
            weight = rng.uniform(-limit, limit, weight.shape).astype(weight.dtype)
        weights.append(weight)
    model.set_weights(weights)


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
    # jit_compile stays Keras' "auto": XLA on a GPU, not on a CPU, where its random numbers make Dropout on
    # flattened features slow (docs/benchmarks.md, "Head training on the CPU").
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
