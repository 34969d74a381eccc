"""`predict`: the chosen model's probability and label for image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UsageError
from .holdout import choose_trial
from .image_cache import decode
from .layout import CLASS_NAMES
from .runs import RunPaths


def _read_image(path: str, image_size: int) -> np.ndarray:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"image {path} not found: check the path")
    try:
        return decode(file.read_bytes(), image_size)
    except Exception:  # noqa: BLE001 - whatever Pillow raises, the file is not an image we can read
        raise UsageError(f"{path} is not a readable image (.jpeg, .jpg or .png expected)") from None


def predict_files(run: RunPaths, paths: list[str], trial_id: str | None = None) -> list[dict]:
    from .models import load_trial_model, settings_from_run

    trial = choose_trial(run, trial_id)
    settings = settings_from_run(run)
    images = np.stack([_read_image(path, settings.data.image_size) for path in paths])  # all checked first
    model = load_trial_model(run, settings, trial)
    probabilities = np.asarray(model.predict(images.astype(np.float32), verbose=0), dtype=np.float64).ravel()
    threshold = float(trial["threshold"])  # the operating point the search recorded, as in `test`
    return [{"file": path, "probability": float(p), "label": CLASS_NAMES[int(p >= threshold)]}
            for path, p in zip(paths, probabilities)]
