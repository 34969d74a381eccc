"""How much of a run's chosen model's Grad-CAM evidence lies on the image border, on validation alone.

    python tools/gradcam_border_evidence.py --results-dir /tmp/r12 --run final-seed0 [--border 0.12]

Laterality markers and text sit in the outer band of a chest X-ray; a model that finds its evidence
there uses a shortcut (DeGrave et al. 2021). Prints, for the validation images of each class and for the
validation false positives at the recorded threshold, the share of heat-map mass in the outer band
(the band's share of the area is the level of no preference). No test image is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.core.runs import find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.data.dataset import load_dataset  # noqa: E402
from tuner.engine.hypermodels import load_trial_model  # noqa: E402
from tuner.evaluation.explain import GradCam  # noqa: E402
from tuner.evaluation.looks import choose_trial  # noqa: E402


def border_share(heat_maps: np.ndarray, border: float) -> np.ndarray:
    """Each map's mass in the outer band of relative width `border` (NaN for an all-zero map)."""
    size = heat_maps.shape[1]
    band = max(1, round(size * border))
    inner = np.zeros(heat_maps.shape[1:], dtype=bool)
    inner[band:-band, band:-band] = True
    total = heat_maps.sum(axis=(1, 2))
    outer = heat_maps[:, ~inner].sum(axis=1)
    return np.divide(outer, total, out=np.full_like(total, np.nan), where=total > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--run")
    parser.add_argument("--border", type=float, default=0.12, help="the band's width, a share of the side")
    args = parser.parse_args()
    run = find_run(Path(args.results_dir), args.run)
    trial = choose_trial(run, None)
    settings = settings_from_run(run)
    dataset = load_dataset(settings.data)
    validation = dataset.split("validation")
    images = np.asarray(dataset.images[validation["row"].to_numpy()], dtype=np.float32)
    heat_maps, probabilities = GradCam(load_trial_model(run, settings, trial))(images)
    shares = border_share(heat_maps, args.border)
    labels = validation["label"].to_numpy()
    called = probabilities >= trial.operating_point.threshold
    side = heat_maps.shape[1]
    band = max(1, round(side * args.border))
    area = 1 - ((side - 2 * band) / side) ** 2
    print(f"run {run.name}, trial {trial.trial_id}, validation: {len(labels)} images; outer band of "
          f"{band} px = {area:.0%} of the area")
    groups = {"NORMAL": labels == 0, "PNEUMONIA": labels == 1, "false positives": called & (labels == 0),
              "true negatives": ~called & (labels == 0), "false negatives": ~called & (labels == 1)}
    for name, chosen in groups.items():
        values = shares[chosen & ~np.isnan(shares)]
        if len(values):
            print(f"  {name:16s} n={chosen.sum():4d}  border share median {np.median(values):.2f}  "
                  f"mean {values.mean():.2f}  above 50 %: {np.mean(values > 0.5):.0%}")


if __name__ == "__main__":
    main()
