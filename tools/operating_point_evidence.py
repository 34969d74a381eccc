"""Evidence for the operating-point rule, from validation alone: does a threshold chosen on one half
of the validation patients hold on the other half?

    python tools/operating_point_evidence.py --results-dir DIR --run NAME [--trials 5] [--splits 200]

For the run's best trials (their saved models), predicts the validation split once, then many times
splits the validation *patients* in two (grouped, stratified), chooses the threshold on one half
under each recall target, and measures recall and specificity on the other half. No test image is
read. Prints one table: per recall target, the held-out recall (mean and 5th percentile), the
held-out specificity, and how far the threshold moves between halves (its spread in ranks).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.core.runs import find_run
from tuner.core.settings import settings_from_run
from tuner.data.dataset import load_dataset
from tuner.engine.hypermodels import load_trial_model
from tuner.engine.objective import OperatingRule, operating_point
from tuner.engine.records import read_trials_table
from tuner.evaluation.scoring import predict_probabilities

TARGETS = (1.0, 0.99, 0.98, 0.97, 0.95, 0.90)


def held_out(labels, probabilities, groups, floor: float, prevalence, splits: int, seed: int) -> pd.DataFrame:
    rows = []
    for repeat in range(splits // 2):
        folds = StratifiedGroupKFold(n_splits=2, shuffle=True, random_state=seed + repeat)
        for choose, check in folds.split(probabilities, labels, groups):
            for target in TARGETS:
                op = operating_point(labels[choose], probabilities[choose], OperatingRule(floor, target, prevalence))
                called = probabilities[check] >= op.threshold
                positive = labels[check] == 1
                rows.append({"target": target, "threshold": op.threshold,
                             "recall": called[positive].mean(), "specificity": (~called[~positive]).mean()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--run")
    parser.add_argument("--trials", type=int, default=5, help="the N best trials of the run")
    parser.add_argument("--splits", type=int, default=200, help="halvings of the validation patients")
    args = parser.parse_args()
    run = find_run(Path(args.results_dir), args.run)
    settings = settings_from_run(run)
    dataset = load_dataset(settings.data)
    validation = dataset.split("validation")
    labels, groups = validation["label"].to_numpy(), validation["group"].to_numpy()
    completed = [t for t in read_trials_table(run) if t.completed][: args.trials]
    frames = []
    for trial in completed:
        model = load_trial_model(run, settings, trial)
        probabilities = predict_probabilities(model, dataset.images, validation["row"].to_numpy())
        frame = held_out(labels, probabilities, groups, settings.precision_floor, settings.prevalence,
                         args.splits, settings.data.seed)
        frames.append(frame.assign(trial=trial.trial_id))
    results = pd.concat(frames)
    summary = results.groupby("target", sort=False).agg(
        recall_mean=("recall", "mean"), recall_p05=("recall", lambda r: r.quantile(0.05)),
        recall_below_095=("recall", lambda r: (r < 0.95).mean()),
        specificity_mean=("specificity", "mean"), specificity_p05=("specificity", lambda s: s.quantile(0.05)),
        threshold_median=("threshold", "median"),
        log10_threshold_iqr=("threshold", lambda t: np.subtract(*np.percentile(np.log10(t), [75, 25]))),
    )
    print(f"run {run.name}: {len(completed)} best trials x {args.splits} held-out halves of the validation patients "
          f"({len(labels)} images); precision floor {settings.precision_floor}")
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
