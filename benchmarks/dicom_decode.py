"""Benchmark 9: decoding a DICOM radiograph against the same picture as JPEG, per image.

    python benchmarks/dicom_decode.py [--size 224] [--repeats 3]

The 70 full-resolution images of ../shared/data/chest_xray_fullres_sample, each written as 12-bit DICOM with a
window (uncompressed, RLE, JPEG 2000 lossless where pylibjpeg-openjpeg is installed) in a temporary folder; then
`image_cache.decode` (what `data`, `predict` and `calibrate` run per file) on each, timed, best of `--repeats`.
Prints milliseconds per image for the JPEG originals and each DICOM form, and how far the DICOM result lies from
the JPEG one in grey levels.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, SHARED, machine
from PIL import Image

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from dicom_files import write_dicom  # noqa: E402

from tuner.data.image_cache import decode  # noqa: E402

SAMPLE = SHARED / "data" / "chest_xray_fullres_sample"


def timed(blobs: list[bytes], size: int, repeats: int, dicom: bool) -> tuple[float, list[np.ndarray]]:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        images = [decode(blob, size, dicom=dicom) for blob in blobs]
        best = min(best, time.perf_counter() - started)
    return best / len(blobs) * 1000, images


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    jpegs = sorted(SAMPLE.rglob("*.jpeg"))
    if not jpegs:
        sys.exit(f"no images in {SAMPLE}")
    print(f"machine: {machine()}; {len(jpegs)} images, median {np.median([Image.open(p).size for p in jpegs], 0)} px")
    originals = [path.read_bytes() for path in jpegs]
    jpeg_ms, reference = timed(originals, args.size, args.repeats, dicom=False)
    print(f"JPEG: {jpeg_ms:.1f} ms an image")
    forms = ["explicit", "rle"]
    try:
        import openjpeg  # noqa: F401

        forms.append("jpeg2000")
    except ImportError:
        print("JPEG 2000: pylibjpeg-openjpeg not installed")
    with tempfile.TemporaryDirectory() as scratch:
        for form in forms:
            blobs = []
            for index, path in enumerate(jpegs):
                grey = np.asarray(Image.open(path).convert("L"))
                blobs.append(write_dicom(Path(scratch) / f"{form}-{index}.dcm", grey, syntax=form).read_bytes())
            ms, images = timed(blobs, args.size, args.repeats, dicom=True)
            differences = np.concatenate([np.abs(a.astype(int) - b).ravel() for a, b in zip(images, reference)])
            megabytes = sum(map(len, blobs)) / len(blobs) / 1e6
            print(f"DICOM {form} (12-bit, windowed, {megabytes:.1f} MB a file): {ms:.1f} ms an image; difference "
                  f"from the JPEG path (which decodes large JPEGs at a reduced scale first): mean "
                  f"{differences.mean():.2f}, 99th percentile {np.percentile(differences, 99):.0f}, largest "
                  f"{differences.max()} grey level(s)")


if __name__ == "__main__":
    main()
