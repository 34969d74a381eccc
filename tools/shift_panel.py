"""How well runs' chosen models keep their operating point when validation images change as X-ray sets differ.

    python tools/shift_panel.py --results-dir /tmp/r12 --run final-seed0 --run aug-seed0 [--trial 0012]

A threshold chosen on validation transfers to another set of X-rays only if the model's scores do not move
with the way the images were taken. This tool applies a panel of acquisition changes (exposure, contrast,
sharpness, blur, noise, framing, resolution) to the validation images of each run's split and prints, for
each run's chosen model (or `--trial`) at its recorded threshold, the specificity, recall and ROC-AUC: a
markdown table, one row per change. It reads no test image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.core.runs import RunPaths, find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.data.dataset import load_dataset  # noqa: E402
from tuner.engine.hypermodels import load_trial_model  # noqa: E402
from tuner.engine.records import TrialRecord  # noqa: E402
from tuner.evaluation.looks import choose_trial  # noqa: E402


def _resize(images: np.ndarray, side: int) -> np.ndarray:
    return ndimage.zoom(images, (1, side / images.shape[1], side / images.shape[2], 1), order=1)


def _zoom(images: np.ndarray, factor: float) -> np.ndarray:
    """Zoom about the centre: in (factor > 1) crops, out pads with black, as a different framing would."""
    side = images.shape[1]
    scaled = _resize(images, round(side * factor))
    offset = abs(scaled.shape[1] - side) // 2
    if factor >= 1:
        return scaled[:, offset:offset + side, offset:offset + side]
    framed = np.zeros_like(images)
    framed[:, offset:offset + scaled.shape[1], offset:offset + scaled.shape[2]] = scaled
    return framed


def _width(images: np.ndarray, factor: float) -> np.ndarray:
    """Scale the width alone about the centre, as a different original aspect ratio squashed to a square would:
    narrower (factor < 1) pads with black, wider crops."""
    side = images.shape[2]
    scaled = ndimage.zoom(images, (1, 1, round(side * factor) / side, 1), order=1)
    offset = abs(scaled.shape[2] - side) // 2
    if factor >= 1:
        return scaled[:, :, offset:offset + side]
    framed = np.zeros_like(images)
    framed[:, :, offset:offset + scaled.shape[2]] = scaled
    return framed


def _contrast(images: np.ndarray, factor: float) -> np.ndarray:
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return mean + factor * (images - mean)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0))


# name -> the change, on float images in 0..255
PANEL = {
    "none": lambda x: x,
    "darker midtones (gamma 1.4)": lambda x: 255 * (x / 255) ** 1.4,
    "brighter midtones (gamma 0.7)": lambda x: 255 * (x / 255) ** 0.7,
    "contrast x0.8": lambda x: _contrast(x, 0.8),
    "contrast x1.25": lambda x: _contrast(x, 1.25),
    "sharpened (unsharp mask)": lambda x: x + (x - _blur(x, 2.0)),
    "blur sigma 1 px": lambda x: _blur(x, 1.0),
    "blur sigma 2 px": lambda x: _blur(x, 2.0),
    "noise 8 grey levels": lambda x: x + np.random.default_rng(0).normal(0, 8, x.shape),
    "zoomed in x1.15": lambda x: _zoom(x, 1.15),
    "zoomed out x0.85": lambda x: _zoom(x, 0.85),
    "half resolution, upsampled": lambda x: _resize(_resize(x, x.shape[1] // 2), x.shape[1]),
    "narrower x0.8": lambda x: _width(x, 0.8),
    "wider x1.25": lambda x: _width(x, 1.25),
}


def panel_probabilities(run: RunPaths, trial: TrialRecord) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The validation labels and the trial's probabilities under each change of the panel."""
    settings = settings_from_run(run)
    dataset = load_dataset(settings.data)
    validation = dataset.split("validation")
    images = np.asarray(dataset.images[validation["row"].to_numpy()], dtype=np.float32)
    model = load_trial_model(run, settings, trial)
    return validation["label"].to_numpy(), {
        name: np.asarray(model.predict(np.clip(change(images), 0, 255).astype(np.float32), batch_size=64,
                                       verbose=0)).ravel()
        for name, change in PANEL.items()}


def panel_scores(run_dir: Path, run_name: str, trial_id: str | None) -> dict[str, tuple[float, float, float]]:
    """Specificity, recall and ROC-AUC of the run's chosen model (or trial) under each change of the panel."""
    run = find_run(run_dir, run_name)
    trial = choose_trial(run, trial_id)
    labels, probabilities = panel_probabilities(run, trial)
    threshold = trial.operating_point.threshold
    scores = {}
    for name, scored in probabilities.items():
        called = scored >= threshold
        scores[name] = (float(np.mean(~called[labels == 0])), float(np.mean(called[labels == 1])),
                        float(roc_auc_score(labels, scored)))
    print(f"{run_name}: trial {trial.trial_id}, threshold {threshold:.3g}, {len(labels)} validation images",
          file=sys.stderr)
    return scores


def specificity_under_changes(scores: dict[str, tuple[float, float, float]]) -> str:
    """The mean and worst specificity over the panel's changes (the clean images left out)."""
    specificities = [scores[change][0] for change in PANEL if change != "none"]
    return f"specificity under the changes: mean {np.mean(specificities):.3f}, worst {min(specificities):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--run", action="append", required=True, help="a run to compare (repeat the flag)")
    parser.add_argument("--trial", help="this trial of every run instead of its chosen model")
    args = parser.parse_args()
    results = {name: panel_scores(Path(args.results_dir), name, args.trial) for name in args.run}
    header = " | ".join(f"{name}: spec. / recall / AUC" for name in args.run)
    print(f"| change of the validation images | {header} |")
    print("|---|" + "---|" * len(args.run))
    for change in PANEL:
        cells = " | ".join("{:.3f} / {:.3f} / {:.4f}".format(*results[name][change]) for name in args.run)
        print(f"| {change} | {cells} |")
    for name in args.run:
        print(f"{name}: {specificity_under_changes(results[name])}", file=sys.stderr)


if __name__ == "__main__":
    main()
