"""Benchmark 1: the cached `mobilenet_head` search against --no-feature-cache, same trials.

    python benchmarks/feature_cache_speedup.py [--limit 300] [--max-epochs 4] [--image-size 224]

Both searches use the same data, seed and Hyperband settings, so they run the same trials; the
cached one's time includes computing the features (from a fresh cache). The image cache is warmed
first and not timed: both searches need it. Neither fine-tunes (`--finetune-epochs 0`): that stage
trains on images whatever the cache, the same on both sides, and is not what the cache speeds up.
"""

from __future__ import annotations

import argparse
import tempfile

from common import DATA, WEIGHTS, machine, require_shared, timed_cli


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", default="300")
    parser.add_argument("--max-epochs", default="4")
    parser.add_argument("--image-size", default="224")
    args = parser.parse_args()
    require_shared()
    with tempfile.TemporaryDirectory() as scratch:
        common = ["--data", str(DATA), "--weights", str(WEIGHTS), "--image-size", args.image_size, "--limit",
                  args.limit, "--max-epochs", args.max_epochs, "--results-dir", f"{scratch}/results",
                  "--cache-dir", f"{scratch}/cache", "--quiet", "--finetune-epochs", "0"]
        timed_cli("data", "--data", str(DATA), "--image-size", args.image_size, "--cache-dir", f"{scratch}/cache")
        cached, _ = timed_cli("search", "--space", "mobilenet_head", "--run", "cached", *common)
        classic, _ = timed_cli("search", "--space", "mobilenet_head", "--run", "classic", "--no-feature-cache", *common)
        import json
        from pathlib import Path

        def trials(run):
            table = json.loads((Path(scratch) / "results" / run / "trials.json").read_text())
            return sorted((t["trial_id"], json.dumps(t["hyperparameters"], sort_keys=True)) for t in table)

        same = trials("cached") == trials("classic")
    print(f"machine: {machine()}")
    print(f"cached features:    {cached:8.1f} s (including the feature computation)")
    print(f"--no-feature-cache: {classic:8.1f} s")
    print(f"speed-up:           {classic / cached:8.1f} x   (same trials: {same})")


if __name__ == "__main__":
    main()
