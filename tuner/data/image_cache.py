"""Decode each image once into a memory-mapped uint8 array on disk.

The cache of a data folder at one image size is `<cache>/images/<folder hash>-<size>px/`:
`index.json` (per file: relative path, size, mtime, SHA-256, row or skip reason) and the
array it names. A file whose size or mtime changed, a new file and a removed file are picked
up on the next load; unchanged files are never decoded again. Entry points: `load_image_cache` and
`decode` (also for `predict`'s files).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tuner.core.atomic import read_json, write_json
from tuner.core.locks import file_lock
from tuner.core.progress import progress_bar
from tuner.data.dicom import DICOM_SUFFIXES, UnreadableDicom, dicom_patient, has_dicom_magic, read_dicom
from tuner.data.layout import ImageFile

CACHE_VERSION = 1


@dataclass(frozen=True)
class CachedImage:
    """One file's entry in the cache's index.

    Attributes:
        relpath: the file's path relative to the data root.
        sha256: the hash of its bytes.
        row: its row in the array; None when the file could not be decoded.
        problem: why it could not be decoded, or None.
        patient: a DICOM file's patient from its header (hashed, `dicom.patient_hash`); None for other files.
    """

    relpath: str
    sha256: str
    row: int | None  # row in the array; None when the file could not be decoded
    problem: str | None = None
    patient: str | None = None


@dataclass(frozen=True)
class ImageCache:
    """The decoded images of a data folder at one size (`load_image_cache`).

    Attributes:
        directory: the cache's folder.
        images: uint8 [rows, size, size, 3], memory-mapped read-only.
        entries: each file's `CachedImage`, by relative path.
        decoded: how many files this load had to decode (0 on a warm cache).
    """

    directory: Path
    images: np.ndarray  # uint8 [rows, size, size, 3], memory-mapped read-only
    entries: dict[str, CachedImage]
    decoded: int  # how many files this load had to decode (0 on a warm cache)

    @property
    def size_bytes(self) -> int:
        """The cache's size on disk (its folder's files)."""
        return sum(path.stat().st_size for path in self.directory.iterdir() if path.is_file())


def cache_directory(cache_dir: Path, root: Path, image_size: int) -> Path:
    """The cache's folder for a data root at an image size: `<cache_dir>/images/<root name>-<hash>-<size>px`."""
    folder_hash = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    return cache_dir / "images" / f"{root.name}-{folder_hash}-{image_size}px"


def decode(data: bytes, image_size: int, dicom: bool = False) -> np.ndarray:
    """Decode an image file's bytes, make it 3-channel (grey copied) and resize it.

    Args:
        data: the file's bytes: JPEG, PNG or DICOM (recognised by its "DICM" magic, or when `dicom` is set).
        image_size: the side S of the square result.
        dicom: read the bytes as DICOM even without the magic (a .dcm file without its preamble).

    Returns:
        uint8 (S, S, 3).

    Raises:
        UnreadableDicom: a DICOM file without a readable image (the message says why).
        Exception: whatever Pillow raises on bytes it cannot read as an image.
    """
    if dicom or has_dicom_magic(data):
        grey = Image.fromarray(read_dicom(data).pixels, mode="L")
        return np.asarray(grey.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR),
                          dtype=np.uint8)
    with Image.open(io.BytesIO(data)) as image:
        # JPEG draft mode decodes large originals at a reduced scale: much faster, same result size.
        image.draft("RGB", (image_size, image_size))
        if image.mode in ("I", "I;16", "I;16B", "F"):
            image = image.point(lambda value: value / 256).convert("L")
        image = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def _read_and_decode(image_file: ImageFile, image_size: int) -> tuple[str, np.ndarray | None, str | None, str | None]:
    """(sha256, pixels or None, why not, the hashed DICOM PatientID or None)."""
    data = image_file.path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if not data:
        return sha256, None, "empty file", None
    dicom = image_file.path.suffix.lower() in DICOM_SUFFIXES or has_dicom_magic(data)
    patient = dicom_patient(image_file.path) if dicom else None
    try:
        return sha256, decode(data, image_size, dicom=dicom), None, patient
    except UnreadableDicom as error:
        return sha256, None, f"DICOM: {error}", patient
    except Exception as error:  # noqa: BLE001 - any undecodable file is skipped, never a crash
        return sha256, None, f"unreadable image ({type(error).__name__})", patient


def _file_key(image_file: ImageFile) -> list:
    stat = image_file.path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def load_image_cache(files: list[ImageFile], root: Path, image_size: int, cache_dir: Path) -> ImageCache:
    """The decoded images of `files`, decoding only what the cache lacks (under a file lock).

    Args:
        files: the data folder's image files (`layout.list_images`).
        root: the data root.
        image_size: the side of the square images.
        cache_dir: the cache folder (`--cache-dir`).

    Returns:
        The cache, its array memory-mapped read-only.
    """
    directory = cache_directory(cache_dir, root, image_size)
    with file_lock(directory.parent / f"{directory.name}.lock"):
        return _load_locked(files, directory, image_size)


def _load_locked(files: list[ImageFile], directory: Path, image_size: int) -> ImageCache:
    index_path = directory / "index.json"
    old_index = _read_index(index_path, image_size)
    old_entries = old_index["entries"] if old_index else {}
    keys = {image_file.relpath: _file_key(image_file) for image_file in files}

    # A DICOM file that could not be read is tried again: the reason may have been a decoder installed since.
    reusable = {relpath: old_entries[relpath] for relpath, key in keys.items()
                if relpath in old_entries and old_entries[relpath]["key"] == key
                and not (old_entries[relpath]["problem"] or "").startswith("DICOM:")}
    if old_index and len(reusable) == len(keys) == len(old_entries):
        images = np.load(directory / old_index["array"], mmap_mode="r")
        return ImageCache(directory, images, _cached_entries(old_entries), decoded=0)

    to_decode = [image_file for image_file in files if image_file.relpath not in reusable]
    decoded = _decode_all(to_decode, image_size)
    old_images = np.load(directory / old_index["array"], mmap_mode="r") if old_index else None

    entries: dict[str, dict] = {}
    readable_count = sum(1 for e in reusable.values() if e["row"] is not None) + sum(
        1 for _, pixels, _, _ in decoded.values() if pixels is not None)
    directory.mkdir(parents=True, exist_ok=True)
    array_name = f"images-{uuid.uuid4().hex[:8]}.npy"
    images = np.lib.format.open_memmap(
        directory / f".{array_name}.tmp", mode="w+", dtype=np.uint8,
        shape=(readable_count, image_size, image_size, 3))
    row = 0
    for image_file in files:
        relpath = image_file.relpath
        if relpath in reusable:
            old = reusable[relpath]
            pixels = None if old["row"] is None else old_images[old["row"]]
            sha256, problem, patient = old["sha256"], old["problem"], old.get("patient")
        else:
            sha256, pixels, problem, patient = decoded[relpath]
        entry = {"key": keys[relpath], "sha256": sha256, "row": None, "problem": problem}
        if patient is not None:
            entry["patient"] = patient
        if pixels is not None:
            images[row] = pixels
            entry["row"] = row
            row += 1
        entries[relpath] = entry
    images.flush()
    del images
    # Array first, then the index that names it: a kill in between leaves the old index valid.
    os.replace(directory / f".{array_name}.tmp", directory / array_name)
    write_json(index_path, {"version": CACHE_VERSION, "image_size": image_size,
                            "array": array_name, "entries": entries})
    for stale in directory.glob("images-*.npy"):
        if stale.name != array_name:
            stale.unlink(missing_ok=True)
    images = np.load(directory / array_name, mmap_mode="r")
    return ImageCache(directory, images, _cached_entries(entries), decoded=len(to_decode))


def _read_index(index_path: Path, image_size: int) -> dict | None:
    try:
        index = read_json(index_path)
    except (OSError, ValueError):
        return None
    valid = (index.get("version") == CACHE_VERSION and index.get("image_size") == image_size
             and (index_path.parent / index.get("array", "")).is_file())
    return index if valid else None


def _cached_entries(entries: dict[str, dict]) -> dict[str, CachedImage]:
    return {relpath: CachedImage(relpath, entry["sha256"], entry["row"], entry["problem"], entry.get("patient"))
            for relpath, entry in entries.items()}


def _decode_all(files: list[ImageFile], image_size: int) -> dict[str, tuple]:
    if not files:
        return {}
    results: dict[str, tuple] = {}
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool, \
            progress_bar("decoding images", total=len(files), unit="images") as advance:
        for image_file, result in zip(files, pool.map(lambda f: _read_and_decode(f, image_size), files)):
            results[image_file.relpath] = result
            advance(1)
    return results
