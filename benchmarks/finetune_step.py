"""Benchmark 7: one training step of the fine-tuning stage (every MobileNetV2 layer), float32 against bfloat16.

    python benchmarks/finetune_step.py [--steps 20] [--layers all|top] [--policies float32 mixed_bfloat16]

Each policy runs in its own process (Keras' dtype policy is global): the default's fine-tuning model (random
head, the local ImageNet weights, batch 32 of real 224 px training images), two untimed steps to compile,
then `--steps` timed steps. Prints seconds per step and per epoch of the 4,225 training images of seed 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import DATA, REPO, WEIGHTS, machine, require_shared

TRAIN_IMAGES = 4225  # seed 0's training side


def one_policy(policy: str, steps: int, layers: str) -> dict:
    sys.path.insert(0, str(REPO))
    import tempfile

    import keras
    import numpy as np

    from search_spaces.mobilenet_head import MobileNetHead
    from tuner.core.settings import DataSettings
    from tuner.data.dataset import load_dataset
    from tuner.engine.finetune import FINETUNE_BATCH
    from tuner.engine.hypermodels import trial_hyperparameters

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    space = MobileNetHead(224, str(WEIGHTS), finetune_layers=layers)
    model = space.finetune_model(trial_hyperparameters(space, {}))
    with tempfile.TemporaryDirectory() as scratch:
        dataset = load_dataset(DataSettings(DATA, cache_dir=scratch, limit=100))
        images = np.asarray(dataset.images[:FINETUNE_BATCH], np.float32)
    labels = np.arange(FINETUNE_BATCH) % 2
    for _ in range(2):
        model.train_on_batch(images, labels)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    per_step = (time.perf_counter() - started) / steps
    return {"policy": policy, "seconds_per_step": per_step,
            "seconds_per_epoch": per_step * TRAIN_IMAGES / FINETUNE_BATCH}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--layers", default="all")
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one policy
    args = parser.parse_args()
    require_shared()
    if args.one:
        print(json.dumps(one_policy(args.one, args.steps, args.layers)))
        return
    print(f"machine: {machine()}")
    for policy in args.policies:
        completed = subprocess.run([sys.executable, __file__, "--one", policy, "--steps", str(args.steps),
                                    "--layers", args.layers], capture_output=True, text=True, cwd=REPO)
        if completed.returncode != 0:
            print(f"{policy}: failed\n{completed.stderr[-2000:]}")
            continue
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"{policy}: {result['seconds_per_step']:.3f} s a step of 32 images, "
              f"{result['seconds_per_epoch']:.0f} s an epoch of {TRAIN_IMAGES:,} ({args.layers} layers trained)")


if __name__ == "__main__":
    main()
