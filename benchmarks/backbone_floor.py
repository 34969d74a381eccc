"""Benchmark 3: the cost floor, one forward pass of the frozen backbone over every image.

    python benchmarks/backbone_floor.py [--image-size 224] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from common import DATA, REPO, WEIGHTS, machine, require_shared


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    require_shared()
    sys.path.insert(0, str(REPO))
    import numpy as np

    from search_spaces.mobilenet_head import MobileNetHead
    from tuner.core.settings import DataSettings
    from tuner.data.dataset import load_dataset

    with tempfile.TemporaryDirectory() as scratch:
        dataset = load_dataset(DataSettings(DATA, image_size=args.image_size, cache_dir=scratch))
        backbone = MobileNetHead(args.image_size, str(WEIGHTS)).backbone()
        images = dataset.images
        backbone.predict_on_batch(np.asarray(images[: args.batch_size], np.float32))  # compile once, untimed
        started = time.perf_counter()
        for start in range(0, len(images), args.batch_size):
            backbone.predict_on_batch(np.asarray(images[start:start + args.batch_size], np.float32))
        seconds = time.perf_counter() - started
    print(f"machine: {machine()}")
    print(f"backbone forward pass over {len(images):,} images at {args.image_size} px: {seconds:.1f} s "
          f"({len(images) / seconds:,.0f} images/s, batch {args.batch_size})")


if __name__ == "__main__":
    main()
