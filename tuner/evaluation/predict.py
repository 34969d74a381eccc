"""`predict`: the chosen model's probability and label for image files and folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths
from tuner.data.image_cache import decode
from tuner.data.layout import CLASS_NAMES, IMAGE_SUFFIXES
from tuner.evaluation.holdout import choose_trial

PREDICT_BATCH = 64


def collect_images(paths: list[str]) -> list[Path]:
    """The files named, and every image file under the folders named (sorted); refuses a missing path."""
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise ToolkitError(f"{name} not found: pass image files or folders of images")
    if not files:
        raise ToolkitError(f"no image files (.jpeg, .jpg, .png) in {', '.join(paths)}")
    return files


def predict_files(run: RunPaths, paths: list[str], trial_id: str | None = None,
                  explain_dir: Path | None = None) -> tuple[list[dict], list[dict]]:
    """(predictions, skipped): one row per readable image, one per file that is not a readable image.
    With `explain_dir`, each row also names its Grad-CAM picture there (`explanation`)."""
    from tuner.core.settings import settings_from_run
    from tuner.engine.hypermodels import load_trial_model

    files = collect_images(paths)  # the paths first: a typo is named before anything else
    trial = choose_trial(run, trial_id)
    settings = settings_from_run(run)
    readable, images, skipped = [], [], []
    for file in files:  # every file read before the model loads
        try:
            images.append(decode(file.read_bytes(), settings.data.image_size))
            readable.append(file)
        except Exception as error:  # noqa: BLE001 - whatever Pillow raises, it is not an image we can read
            skipped.append({"file": str(file), "reason": f"not a readable image ({type(error).__name__})"})
    if not images:
        raise ToolkitError(f"none of the {len(skipped)} file(s) is a readable image (.jpeg, .jpg or .png expected)")
    model = load_trial_model(run, settings, trial)
    batch = np.stack(images).astype(np.float32)
    probabilities = np.asarray(model.predict(batch, batch_size=PREDICT_BATCH, verbose=0), dtype=np.float64).ravel()
    threshold = trial.operating_point.threshold  # the operating point the search recorded, as in `test`
    rows = [{"file": str(file), "probability": float(p), "threshold": threshold,
             "label": CLASS_NAMES[int(p >= threshold)], "trial": trial.trial_id}
            for file, p in zip(readable, probabilities)]
    if explain_dir is not None:
        from tuner.evaluation.explain import explain_images

        pictures = explain_images(model, batch, [str(file) for file in readable], threshold, explain_dir)
        for row, picture in zip(rows, pictures):
            row["explanation"] = str(picture)
    return rows, skipped
