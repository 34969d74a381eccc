"""Benchmark 7: one training step of the fine-tuning stage (every MobileNetV2 layer): float32 against bfloat16,
and the C library's memory allocator against tcmalloc and jemalloc.

    python benchmarks/finetune_step.py [--steps 20] [--layers all|top] [--runs float32:system mixed_bfloat16:tcmalloc …]

Each run (a dtype policy and an allocator) is a process of its own (Keras' dtype policy is global; an allocator is
preloaded with LD_PRELOAD, from Debian's libtcmalloc-minimal4 and libjemalloc2): the default's fine-tuning model
(random head, the local ImageNet weights, batch 32 of real 224 px training images), two untimed steps to
compile, then `--steps` timed steps. Prints seconds per step and per epoch of the 4,225 training images of seed 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common import DATA, REPO, WEIGHTS, machine, require_shared

TRAIN_IMAGES = 4225  # seed 0's training side
ALLOCATORS = {"system": None, "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
              "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}
RUNS = ("float32:system", "float32:tcmalloc", "float32:jemalloc", "mixed_bfloat16:system", "mixed_bfloat16:tcmalloc")


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
    parser.add_argument("--runs", nargs="+", default=list(RUNS), metavar="POLICY:ALLOCATOR")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one policy
    args = parser.parse_args()
    require_shared()
    if args.one:
        print(json.dumps(one_policy(args.one, args.steps, args.layers)))
        return
    print(f"machine: {machine()}")
    for run in args.runs:
        policy, allocator = run.split(":")
        env = dict(os.environ)
        if ALLOCATORS[allocator]:
            if not os.path.exists(ALLOCATORS[allocator]):
                print(f"{run}: {ALLOCATORS[allocator]} not installed")
                continue
            env["LD_PRELOAD"] = ALLOCATORS[allocator]
        completed = subprocess.run([sys.executable, __file__, "--one", policy, "--steps", str(args.steps),
                                    "--layers", args.layers], capture_output=True, text=True, cwd=REPO, env=env)
        if completed.returncode != 0:
            print(f"{run}: failed\n{completed.stderr[-2000:]}")
            continue
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"{run}: {result['seconds_per_step']:.3f} s a step of 32 images, "
              f"{result['seconds_per_epoch']:.0f} s an epoch of {TRAIN_IMAGES:,} ({args.layers} layers trained)")


if __name__ == "__main__":
    main()
