"""Benchmark 8: what keeping the fine-tuning stage's progress costs at the end of every epoch, in time and disk.

    python benchmarks/finetune_progress.py [--repeats 5] [--image-size 224]

The default's fine-tuning model (every layer trained, the local ImageNet weights, 224 px), after one training step
so that its optimizer holds its state; then `--repeats` times `finetune_progress.save_epoch` (with best weights and
ten epochs' validation probabilities, as at the end of a run's last epoch) and reading it back into a fresh model.
Prints seconds per save and per restore, and the size of one epoch's folder (the most the stage keeps at once is
two of them, for the instant between writing one and removing the other).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, WEIGHTS, machine, require_shared

VALIDATION_IMAGES = 1007  # seed 0's validation side


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    require_shared()
    sys.path.insert(0, str(REPO))
    import keras
    import numpy as np

    from search_spaces.mobilenet_head import MobileNetHead
    from tuner.engine.finetune_progress import read_epoch, restore_model, save_epoch
    from tuner.engine.hypermodels import trial_hyperparameters

    def model() -> keras.Model:
        keras.utils.set_random_seed(0)
        space = MobileNetHead(args.image_size, str(WEIGHTS), finetune_layers="all")
        return space.finetune_model(trial_hyperparameters(space, {}))

    trained = model()
    batch = np.random.default_rng(0).integers(0, 256, (8, args.image_size, args.image_size, 3)).astype("float32")
    trained.train_on_batch(batch, np.arange(8) % 2)
    probabilities = [np.random.default_rng(epoch).random(VALIDATION_IMAGES) for epoch in range(10)]
    saves, restores = [], []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "0016-ft"
        for repeat in range(args.repeats):
            started = time.perf_counter()
            folder = save_epoch(directory, trained, epochs=repeat + 1, history=[], probabilities=probabilities,
                                best_score=0.0, best_weights=trained.get_weights(), seconds=0.0)
            saves.append(time.perf_counter() - started)
        size = sum(path.stat().st_size for path in folder.iterdir())
        for _ in range(min(args.repeats, 3)):
            fresh = model()
            started = time.perf_counter()
            restore_model(fresh, read_epoch(folder))
            restores.append(time.perf_counter() - started)
    print(f"machine: {machine()}")
    print(f"save: {statistics.median(saves):.2f} s (median of {len(saves)}), restore: "
          f"{statistics.median(restores):.2f} s (median of {len(restores)}), one epoch's folder: {size / 1e6:.0f} MB "
          f"({args.image_size} px, every layer trained)")


if __name__ == "__main__":
    main()
