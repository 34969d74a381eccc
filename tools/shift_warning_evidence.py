"""The shift warning's false-alarm rate, on validation alone: how often does `predict` warn for a folder of
validation patients that the reference did not hold?

    python tools/shift_warning_evidence.py --results-dir DIR --run NAME [--splits 200] [--sizes 50 100 300]
                                           [--images-independent]

Reads the chosen model's validation scores (results/<run>/scores/<trial>-validation.csv, kept by the
search or by `test`). Many times over: a random set of validation patients holding about SIZE images
is held out as the "folder"; the others are the reference: the run's rule chooses the threshold on them
and they give the recall, specificity and score distributions the warning compares with; the run's
prevalence (the reference's own share) is the stated one, as in a plain `predict`. Prints, per size, the
share of folders the share test, the mixture test and either of them flagged. No test image is read.
Both tests count the patients of the folder and of the reference, as `predict` does; `--images-independent`
counts images as independent instead (what the warning did before).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.core.runs import find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.engine.objective import OperatingRule, operating_point  # noqa: E402
from tuner.evaluation.looks import choose_trial  # noqa: E402
from tuner.evaluation.scoring import validation_scores  # noqa: E402
from tuner.evaluation.shift import shift_check  # noqa: E402


def false_alarms(scores: pd.DataFrame, rule: OperatingRule, size: int, splits: int, seed: int,
                 by_patient: bool = True) -> dict:
    """Shares of held-out folders of about `size` images that each test (and either) flagged."""
    rng = np.random.default_rng(seed)
    patients = scores["patient"].to_numpy()
    unique = np.unique(patients)
    counts = scores.groupby("patient").size().reindex(unique).to_numpy()
    labels, probabilities = scores["label"].to_numpy(), scores["probability"].to_numpy()
    flags = {"share": 0, "mixture": 0, "either": 0}
    for split in range(splits):
        order = rng.permutation(unique.size)
        taken = unique[order[: int(np.searchsorted(np.cumsum(counts[order]), size)) + 1]]
        folder = np.isin(patients, taken)
        reference_labels, reference_scores = labels[~folder], probabilities[~folder]
        point = operating_point(reference_labels, reference_scores, rule)
        called = reference_scores >= point.threshold
        recall = called[reference_labels == 1].mean()
        specificity = (~called[reference_labels == 0]).mean()
        check = shift_check(probabilities[folder], point.threshold, recall, specificity, reference_labels.mean(),
                            int(reference_labels.sum()), int((reference_labels == 0).sum()), reference_labels,
                            reference_scores, seed=seed + split,
                            groups=patients[folder] if by_patient else None,
                            validation_groups=patients[~folder] if by_patient else None)
        flags["share"] += check["share"]["shifted"]
        flags["mixture"] += check["mixture"]["shifted"]
        flags["either"] += check["shifted"]
    return {name: count / splits for name, count in flags.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--run")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--images-independent", action="store_true")
    args = parser.parse_args()
    run = find_run(Path(args.results_dir), args.run)
    settings = settings_from_run(run)
    trial = choose_trial(run, None)
    scores = validation_scores(run, settings, trial)
    if scores is None:
        sys.exit(f"no validation scores of trial {trial.trial_id} in {run.directory} and no data folder to make them")
    rule = OperatingRule.of(settings)
    counted = "images counted as independent" if args.images_independent else "patients counted"
    print(f"run {run.name}, trial {trial.trial_id}: {len(scores)} validation images, {args.splits} held-out folders "
          f"per size, {counted}")
    print("| folder size (images) | share test | mixture test | either (the warning) |")
    print("|---:|---:|---:|---:|")
    for size in args.sizes:
        rates = false_alarms(scores, rule, size, args.splits, settings.data.seed, not args.images_independent)
        print(f"| {size} | {rates['share']:.1%} | {rates['mixture']:.1%} | {rates['either']:.1%} |")


if __name__ == "__main__":
    main()
