"""Benchmark 6: the accelerator's figures in one table: the full default search, the backbone pass, the
per-trial overhead and how busy the GPU was.

    KERAS_BACKEND=jax python benchmarks/gpu.py [--data DIR --weights FILE] [--limit N] [--results-dir DIR]

Runs `cli.py search --space mobilenet_head` with the default flags (224 px, Hyperband max 10 epochs,
fine-tuning included) from an empty cache, so the time includes reading the images and the backbone pass;
then the backbone alone over the run's images at a large batch. Per-trial overhead is a trial's time less its
epochs' time, from the run's own trial records. GPU busy is the mean of `nvidia-smi`'s utilisation,
sampled every 0.5 s while the search runs ("n/a" without an NVIDIA GPU). `--limit N` (search's flag: at most N
images per class in each split) makes it a quick check on a CPU. Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, REPO, WEIGHTS, machine, timed_cli


class GpuSampler:
    """`nvidia-smi`'s GPU utilisation, sampled in a child process while the `with` block runs."""

    def __enter__(self):
        self.process = None
        if shutil.which("nvidia-smi"):
            self.process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "500"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc):
        self.samples = []
        if self.process is not None:
            self.process.terminate()
            output, _ = self.process.communicate()
            self.samples = [float(line) for line in output.split() if line.strip().isdigit()]

    @property
    def busy(self) -> str:
        return f"{sum(self.samples) / len(self.samples):.0f} % ({len(self.samples)} samples)" if self.samples else "n/a"


def backbone_throughput(data: Path, weights: Path, batch_size: int, limit: int | None,
                        cache_dir: str) -> tuple[int, float]:
    """Images per second of the frozen backbone over the run's images, already on the device as uint8,
    after one untimed batch (the compile), in full batches only (a last, smaller one would compile
    again). Returns (images, seconds)."""
    sys.path.insert(0, str(REPO))
    import keras
    import numpy as np

    from search_spaces.mobilenet_head import MobileNetHead
    from tuner.core.settings import DataSettings
    from tuner.data.dataset import load_dataset

    dataset = load_dataset(DataSettings(data, image_size=224, cache_dir=Path(cache_dir), limit=limit))
    rows = np.sort(dataset.records["row"].to_numpy())
    backbone = MobileNetHead(224, str(weights)).backbone()
    on_device = keras.ops.convert_to_tensor(np.asarray(dataset.images[rows]))  # uint8: a quarter of float32's
    batch_size = min(batch_size, len(rows))
    batches = [(start, start + batch_size) for start in range(0, len(rows) - batch_size + 1, batch_size)]
    backbone.predict_on_batch(keras.ops.cast(on_device[:batch_size], "float32"))  # compile, untimed
    started = time.perf_counter()
    for start, stop in batches:
        # predict_on_batch returns NumPy: each batch's time includes copying its features to the host.
        backbone.predict_on_batch(keras.ops.cast(on_device[start:stop], "float32"))
    return len(batches) * batch_size, time.perf_counter() - started


def trial_figures(results_dir: Path, run_name: str) -> dict:
    """Per-trial overhead and the chosen model's validation figures, from the run's records."""
    sys.path.insert(0, str(REPO))
    from tuner.core.runs import find_run
    from tuner.engine.records import read_trial_records
    from tuner.evaluation.looks import choose_trial

    run = find_run(results_dir, run_name)
    search = [t for t in read_trial_records(run) if t.stage == "search" and t.completed]
    overheads = sorted(t.seconds - sum(epoch["seconds"] for epoch in t.history) for t in search)
    return {"trials": len(search), "overhead_median": overheads[len(overheads) // 2] if overheads else float("nan"),
            "overhead_total": sum(overheads), "chosen": choose_trial(run, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--data", type=Path, default=DATA, help="the data set (default: ../shared's)")
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="MobileNetV2 weights .h5 (default: ../shared's)")
    parser.add_argument("--limit", help="search's --limit: at most N images per class in each split (a quick check)")
    parser.add_argument("--max-epochs", default="10")
    parser.add_argument("--backbone-batch", type=int, default=256)
    parser.add_argument("--results-dir", help="keep the run here (default: a temporary folder)")
    args = parser.parse_args()
    # cli.py runs in the repository: paths given from elsewhere must not change meaning.
    args.data, args.weights = args.data.resolve(), args.weights.resolve()
    args.results_dir = args.results_dir and str(Path(args.results_dir).resolve())
    missing = [f"{flag} {path}" for flag, path, found in (("--data", args.data, args.data.is_dir()),
                                                          ("--weights", args.weights, args.weights.is_file()))
               if not found]
    if missing:
        sys.exit(f"gpu.py: not found: {', '.join(missing)} (pass the data set's folder and the weights file)")
    with tempfile.TemporaryDirectory() as scratch:
        results_dir = Path(args.results_dir or Path(scratch) / "results")
        limit = ["--limit", args.limit] if args.limit else []
        with GpuSampler() as gpu:
            search_seconds, peak_gib = timed_cli(
                "search", "--space", "mobilenet_head", "--data", str(args.data), "--weights", str(args.weights),
                "--image-size", "224", "--max-epochs", args.max_epochs, "--run", "gpu-benchmark",
                "--results-dir", str(results_dir), "--cache-dir", str(Path(scratch) / "cache"),
                "--quiet", "--overwrite", *limit)
        trials = trial_figures(results_dir, "gpu-benchmark")
        images, backbone_seconds = backbone_throughput(args.data, args.weights, args.backbone_batch,
                                                       int(args.limit) if args.limit else None,
                                                       str(Path(scratch) / "cache"))
    from rich.console import Console
    from rich.table import Table

    chosen = trials["chosen"]
    table = Table(title=f"benchmarks/gpu.py · {machine()} · backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    scope = f", --limit {args.limit}" if args.limit else ""
    table.add_row(f"full default search, wall (fine-tuning included{scope})", f"{search_seconds:.1f} s")
    table.add_row("search trials", str(trials["trials"]))
    table.add_row("per-trial overhead, median (total)",
                  f"{trials['overhead_median']:.2f} s ({trials['overhead_total']:.1f} s)")
    table.add_row("GPU busy during the search", gpu.busy)
    table.add_row("peak host memory of the search", f"{peak_gib:.1f} GiB")
    table.add_row(f"backbone pass, {images:,} images, batch {args.backbone_batch}",
                  f"{images / backbone_seconds:,.0f} images/s")
    point = chosen.operating_point
    table.add_row("chosen model: validation recall / specificity / ROC-AUC",
                  f"{chosen.trial_id}: {point.recall:.3f} / {point.specificity:.3f} / {chosen.roc_auc:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
