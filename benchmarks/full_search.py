"""Benchmark 2: the full `mobilenet_head` search on the whole real data set, wall time and peak memory.

    python benchmarks/full_search.py [--max-epochs 10] [--image-size 224] [--seed 0] [--run NAME] [--cache-dir DIR]

The README's main job with default flags (the fine-tuning stage included). Starts from a fresh feature
cache (in --cache-dir, default a temporary folder), so the time includes decoding the images and
computing the backbone's features.
"""

from __future__ import annotations

import argparse
import tempfile

from common import DATA, WEIGHTS, machine, require_shared, timed_cli


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-epochs", default="10")
    parser.add_argument("--image-size", default="224")
    parser.add_argument("--cache-dir")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--run", default="benchmark-full")
    args = parser.parse_args()
    require_shared()
    with tempfile.TemporaryDirectory() as scratch:
        seconds, peak_gib = timed_cli(
            "search", "--space", "mobilenet_head", "--data", str(DATA), "--weights", str(WEIGHTS),
            "--image-size", args.image_size, "--max-epochs", args.max_epochs, "--seed", args.seed, "--run", args.run,
            "--results-dir", args.results_dir, "--cache-dir", args.cache_dir or scratch, "--quiet", "--overwrite")
    print(f"machine: {machine()}")
    print(f"full search: {seconds:.0f} s = {seconds / 60:.1f} min wall, "
          f"peak resident memory {peak_gib:.2f} GiB = {peak_gib * 2**30 / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
