"""The image cache: the first load of the real data set decodes every image, the second none.

    python benchmarks/image_cache.py [--image-size 224]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from common import DATA, REPO, machine, require_shared


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    require_shared()
    sys.path.insert(0, str(REPO))
    from tuner.core.settings import DataSettings
    from tuner.data.dataset import load_dataset

    with tempfile.TemporaryDirectory() as scratch:
        settings = DataSettings(DATA, image_size=args.image_size, cache_dir=scratch)
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            dataset = load_dataset(settings)
            timings.append((time.perf_counter() - started, dataset.cache.decoded))
    (first, decoded_first), (second, decoded_second) = timings
    print(f"machine: {machine()}")
    print(f"first load:  {first:6.2f} s ({decoded_first:,} images decoded)")
    print(f"second load: {second:6.2f} s ({decoded_second:,} images decoded)  → {first / second:.1f}x faster")


if __name__ == "__main__":
    main()
