"""`demo`: the whole search → report → test path on a small SYNTHETIC image set, for newcomers.

The images are generated, not X-rays: grey "chests" with two dark "lungs"; the PNEUMONIA ones
carry bright blotches in a lung. They show how the toolkit works, nothing about pneumonia.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console

from tuner.core.errors import command

SYNTHETIC_NOTE = "SYNTHETIC images (generated shapes, not X-rays): the numbers show the toolkit working, nothing more"


def synthetic_image(rng: np.random.Generator, pneumonia: bool, size: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    image = 0.55 + 0.08 * rng.standard_normal((size, size))
    for centre_x in (0.32, 0.68):  # two lungs
        lung = ((x - centre_x) / 0.14) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1
        image[lung] -= 0.3
    if pneumonia:  # consolidations: bright patches inside a lung
        for _ in range(rng.integers(1, 4)):
            cx, cy = rng.choice([0.32, 0.68]) + rng.normal(0, 0.04), rng.uniform(0.35, 0.65)
            radius = rng.uniform(0.07, 0.12)
            image += 0.4 * np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / radius**2))
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_synthetic_dataset(root: Path, seed: int = 0, patients_per_class: dict | None = None) -> Path:
    """Write a small data set in the Kaggle layout (original file names, 1–2 images per patient)."""
    rng = np.random.default_rng(seed)
    patients_per_class = patients_per_class or {"train": 45, "test": 15}
    for folder, patients in patients_per_class.items():
        for class_name in ("NORMAL", "PNEUMONIA"):
            directory = root / folder / class_name
            directory.mkdir(parents=True, exist_ok=True)
            for patient in range(1, patients + 1):
                for image_number in range(1, rng.integers(1, 3) + 1):
                    name = (f"person{patient}_bacteria_{image_number}.jpeg" if class_name == "PNEUMONIA"
                            else f"IM-{patient:04d}-{image_number:04d}.jpeg")
                    pixels = synthetic_image(rng, class_name == "PNEUMONIA")
                    Image.fromarray(pixels, mode="L").save(directory / name, quality=95)
    return root


def run_demo(results_dir: Path, console: Console) -> None:
    from tuner.core.settings import DataSettings, SearchSettings
    from tuner.engine.search import run_search
    from tuner.evaluation.holdout import run_test
    from tuner.reporting.tables import print_report, print_test_result

    data_dir = results_dir / "demo-synthetic-data"
    if not (data_dir / "train").is_dir():
        make_synthetic_dataset(data_dir)
    console.print(f"[bold yellow]Demo on {SYNTHETIC_NOTE}.[/]\nData: {data_dir}\n")
    settings = SearchSettings(
        space="cnn_depth", data=DataSettings(data_dir=data_dir.resolve(), image_size=64),
        results_dir=results_dir, run_name="demo-synthetic", max_epochs=3, factor=3, batch_size=16,
        overwrite=True, synthetic_data=True,
    )
    run = run_search(settings)
    console.print()
    print_report(run, 10, console)
    console.print()
    print_test_result(run_test(run), console)
    console.print(f"\n[bold yellow]{SYNTHETIC_NOTE}.[/] For the real data: "
                  f"{command('search --space mobilenet_head --data DIR')} (see README).")
