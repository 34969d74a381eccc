"""MobileNetV2's backbone weights: checking a `--weights` value, and finding (or downloading) ImageNet's.

No Keras at import: the command line checks `--weights` before it loads Keras.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from tuner.core.errors import ToolkitError

# Keras ships ImageNet weights for these sizes; for any other it uses the 224 px file.
IMAGENET_SIZES = (96, 128, 160, 192, 224)
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"


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
        import keras

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
