"""The frozen backbone's feature maps, computed once per image and kept on disk, memory-mapped.

A frozen MobileNetV2 gives the same output for an image in every epoch of every trial, so a
`mobilenet_head` search computes it once and trains only heads. The cache holds the full feature
map before pooling (7 x 7 x 1280 at 224 px), so Flatten and global-average heads both use it. It
is keyed by the image cache's array, the weights file's hash, the image size and the backend:
any change rebuilds it. Rows line up with the image cache's rows; only rows a run needs are
computed, and `computed.npy` records which are done, so a killed computation resumes.
Entry points: `feature_cache_dir` and `load_features`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.core.atomic import atomic_path
from tuner.core.locks import file_lock
from tuner.core.progress import progress_bar

# float16 halves the disk and the search's resident pages (docs/benchmarks.md, "Head training on the
# CPU"). Every mobilenet_head model on images rounds the backbone's output the same way
# (`StorageRounding`), so a trial's saved model sees exactly what its head trained on.
FEATURE_DTYPE = np.float16
FEATURE_BATCH = 32  # on a CPU, the backbone ran fastest at this batch
ACCELERATOR_FEATURE_BATCH = 256  # a GPU needs large batches to be busy


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def feature_cache_dir(cache_dir: Path, image_array: Path, weights_id: str, image_size: int, backend: str) -> Path:
    """Where the features of one image-cache array live.

    The array's name changes whenever the image cache is rebuilt, so new images, other weights, size or
    backend all lead to a new folder.

    Args:
        cache_dir: the cache folder (`--cache-dir`).
        image_array: the image cache's array file.
        weights_id: the weights file's hash (or a name for random weights).
        image_size: the image size.
        backend: the Keras backend's name.

    Returns:
        `<cache_dir>/features/<key hash>`.
    """
    key = f"{image_array.resolve()}|{weights_id}|{image_size}|{backend}|{np.dtype(FEATURE_DTYPE).name}"
    return cache_dir / "features" / hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FeatureCache:
    """What `load_features` gives back.

    Attributes:
        directory: the cache's folder.
        features: [image cache rows, h, w, channels] in FEATURE_DTYPE, memory-mapped read-only; only the
            rows computed so far hold features.
        computed_now: rows this call had to compute (0 when the cache already held them all).
    """

    directory: Path
    features: np.ndarray  # [image cache rows, h, w, channels], memory-mapped read-only
    computed_now: int  # rows this call had to compute (0 when the cache already held them all)


def load_features(backbone, image_array: Path, rows: np.ndarray, directory: Path,
                  batch_size: int = FEATURE_BATCH) -> FeatureCache:
    """The feature maps of every image row (memory-mapped), computing the `rows` still missing.

    A file lock makes concurrent searches on the same data wait for one computation. The images
    are mapped here and unmapped when done, so their pages stop counting in the search's memory.

    Args:
        backbone: the frozen backbone, images (S, S, 3) in 0..255 → feature map.
        image_array: the image cache's array file.
        rows: the image rows the run needs.
        directory: the cache's folder (`feature_cache_dir`).
        batch_size: images per backbone call.

    Returns:
        The cache, its features memory-mapped read-only.
    """
    images = np.load(image_array, mmap_mode="r")
    directory.mkdir(parents=True, exist_ok=True)
    with file_lock(directory / "features.lock"):
        features_path, computed_path = directory / "features.npy", directory / "computed.npy"
        feature_shape = tuple(int(d) for d in backbone.output.shape[1:])
        if not features_path.is_file():
            with atomic_path(features_path) as temporary:
                np.lib.format.open_memmap(temporary, mode="w+", dtype=FEATURE_DTYPE,
                                          shape=(len(images), *feature_shape)).flush()
            np.save(computed_path, np.zeros(len(images), dtype=bool))
        computed = np.load(computed_path)
        missing = np.array(sorted(set(int(r) for r in rows) - set(np.flatnonzero(computed))), dtype=int)
        if len(missing):
            features = np.load(features_path, mmap_mode="r+")
            _compute(backbone, images, missing, features, computed, computed_path, batch_size)
            del features
        return FeatureCache(directory, np.load(features_path, mmap_mode="r"), len(missing))


def _compute(backbone, images, missing, features, computed, computed_path, batch_size) -> None:
    with progress_bar("backbone features", total=len(missing), unit="images") as advance:
        # Read and flushed in chunks of at least 256 images; a chunk holds them in float32 on the host.
        chunk_size = max(batch_size, FEATURE_BATCH * 8)
        for start in range(0, len(missing), chunk_size):
            chunk = missing[start:start + chunk_size]
            batch = np.asarray(images[chunk], dtype=np.float32)
            for offset in range(0, len(chunk), batch_size):
                part = batch[offset:offset + batch_size]
                features[chunk[offset:offset + batch_size]] = np.asarray(
                    backbone.predict_on_batch(part), dtype=np.float32).astype(FEATURE_DTYPE)
                advance(len(part))
            features.flush()
            # Mark rows done only once their features are on disk: a kill never marks a half-written row.
            computed[chunk] = True
            with atomic_path(computed_path) as temporary:
                with open(temporary, "wb") as handle:
                    np.save(handle, computed)
