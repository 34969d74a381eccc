"""Pictures of a run: the trials, their learning curves, the hyperparameters and the test operating point.

matplotlib with the Agg backend (no display needed); PNGs under results/<run>/plots/. Every figure
carries the run name and the precision floor. Imports no Keras.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tuner.core.atomic import atomic_path, read_json
from tuner.core.runs import RunPaths
from tuner.core.settings import settings_from_run
from tuner.engine.records import TrialRecord, read_trial_records, read_trials_table
from tuner.evaluation.result import HoldoutResult

DPI = 120
TOP_TRIALS = 5


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format="png")
    plt.close(figure)
    return path


def _subtitle(run: RunPaths, floor: float) -> str:
    return f"run {run.name} · precision floor {floor:.2f}"


def _at_floor(record: TrialRecord, metric: str = "recall") -> float:
    """A trial's recall (or specificity) at its chosen threshold, NaN when it never reached the floor."""
    value = getattr(record.operating_point, metric) if record.completed and record.reachable else None
    return np.nan if value is None else value


def _ranking_metric(records: list[TrialRecord], recall_target: float) -> str:
    """Recall ranks the trials unless they all reach the recall target; then specificity, the tie-break, does."""
    recalls = [r for r in (_at_floor(record) for record in records) if not np.isnan(r)]
    return "specificity" if len(recalls) > 1 and min(recalls) >= recall_target - 1e-9 else "recall"


def plot_search(run: RunPaths) -> list[Path]:
    """The report's three figures: trials in order, learning curves of the best, score per hyperparameter."""
    floor = settings_from_run(run).precision_floor
    # The search's own trials, in the order they ran; the fine-tuning stage is not one of them.
    records = sorted((record for record in read_trial_records(run) if record.stage == "search"),
                     key=lambda record: record.trial_id)
    if not records:
        return []
    plots = run.directory / "plots"
    return [_trials_in_order(run, records, floor, plots / "trials.png"),
            _learning_curves(run, records, floor, plots / "learning_curves.png"),
            _hyperparameters(run, records, floor, plots / "hyperparameters.png")]


def _trials_in_order(run, records, floor, path) -> Path:
    figure, (recall_axes, specificity_axes) = plt.subplots(2, 1, figsize=(9, 6.4), sharex=True)
    brackets = [record.bracket for record in records]
    order = np.arange(1, len(records) + 1)
    scores = np.array([record.score if record.completed else -np.inf for record in records])
    best_so_far = np.maximum.accumulate(scores)  # the objective's own order, ties included
    best_index = [int(np.flatnonzero(scores == best)[0]) if np.isfinite(best) else None for best in best_so_far]
    for axes, metric in ((recall_axes, "recall"), (specificity_axes, "specificity")):
        values = np.array([_at_floor(record, metric) for record in records])
        for bracket in sorted({b for b in brackets if b is not None}, reverse=True):
            chosen = np.array([b == bracket for b in brackets])
            axes.scatter(order[chosen], values[chosen], s=36, label=f"bracket {bracket}", zorder=3)
        missed = np.isnan(values)
        if missed.any():
            axes.scatter(order[missed], np.zeros(missed.sum()), marker="x", color="grey", zorder=3,
                         label="floor not reached / failed")
        best_line = [np.nan if index is None else values[index] for index in best_index]
        axes.step(order, best_line, where="post", color="black", linewidth=1.5, label="best trial so far")
        axes.set_ylabel(f"validation {metric}\nat precision ≥ {floor:.2f}")
        axes.grid(alpha=0.3)
    recall_target = settings_from_run(run).recall_target
    recall_axes.axhline(recall_target, color="orange", linestyle="--", linewidth=1, label=f"target {recall_target:.2f}")
    specificity_axes.set_xlabel("trial, in the order it ran")
    recall_axes.legend(loc="lower right", fontsize=8)
    recall_axes.set_title(f"Trials of the search: recall at the floor (up to the target) ranks them, specificity "
                          f"breaks ties\n"
                          f"{_subtitle(run, floor)}")
    return _save(figure, path)


def _lineage(record: TrialRecord, by_id: dict) -> list[TrialRecord]:
    """A trial's epochs preceded by those of the trials Hyperband promoted it from."""
    chain = [record]
    while chain[0].parent_trial in by_id:
        chain.insert(0, by_id[chain[0].parent_trial])
    return chain


def _learning_curves(run, records, floor, path) -> Path:
    by_id = {record.trial_id: record for record in records}
    # The best-ranked search trials, in the trials table's order.
    top = [by_id[trial.trial_id] for trial in read_trials_table(run) if trial.completed and trial.trial_id in by_id]
    top = top[:TOP_TRIALS]
    figure, (recall_axes, loss_axes) = plt.subplots(1, 2, figsize=(12, 4.8))
    for record in top:
        epochs, recalls, losses, promotions = [], [], [], []
        for step in _lineage(record, by_id):
            if epochs:
                promotions.append(step.history[0]["epoch"] - 0.5 if step.history else None)
            for epoch in step.history:
                epochs.append(epoch["epoch"])
                recalls.append(epoch["recall"] if epoch["reachable"] else np.nan)
                losses.append(epoch["val_loss"])
        line, = recall_axes.plot(epochs, recalls, marker="o", markersize=3, label=f"trial {record.trial_id}")
        loss_axes.plot(epochs, losses, marker="o", markersize=3, color=line.get_color())
        for promotion in filter(None, promotions):
            for axes in (recall_axes, loss_axes):
                axes.axvline(promotion, color=line.get_color(), linestyle=":", alpha=0.6)
    recall_axes.set(xlabel="epoch", ylabel=f"validation recall at precision ≥ {floor:.2f}",
                    title="Validation recall at the floor (dotted: Hyperband promotion)")
    loss_axes.set(xlabel="epoch", ylabel="validation loss (binary cross-entropy)", title="Validation loss")
    for axes in (recall_axes, loss_axes):
        axes.grid(alpha=0.3)
    recall_axes.legend(fontsize=8)
    figure.suptitle(f"Learning curves of the top {len(top)} trials · {_subtitle(run, floor)}")
    return _save(figure, path)


def _hyperparameters(run, records, floor, path) -> Path:
    names = sorted({name for record in records for name in record.hyperparameters})
    metric = _ranking_metric(records, settings_from_run(run).recall_target)
    columns = min(4, len(names))
    rows = int(np.ceil(len(names) / columns))
    figure, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for axes, name in zip(grid.flat, names):
        present = [r for r in records if name in r.hyperparameters]
        values = [r.hyperparameters[name] for r in present]
        values_at_floor = np.array([_at_floor(r, metric) for r in present])
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and len(set(values)) > 3:
            positions = np.array(values, dtype=float)
            if name == "learning_rate":
                axes.set_xscale("log")
        else:
            categories = sorted({str(v) for v in values})
            positions = np.array([categories.index(str(v)) for v in values], dtype=float)
            axes.set_xticks(range(len(categories)), categories, fontsize=7, rotation=30)
        jitter = np.random.default_rng(0).uniform(-0.08, 0.08, len(positions)) if axes.get_xscale() == "linear" else 0
        axes.scatter(positions + jitter, np.nan_to_num(values_at_floor, nan=0.0), s=18, alpha=0.7,
                     c=np.where(np.isnan(values_at_floor), "grey", "C0"))
        axes.set_title(name, fontsize=9)
        axes.set_ylim(-0.05, 1.05) if metric == "recall" else None
        axes.grid(alpha=0.3)
    for axes in grid[:, 0]:
        axes.set_ylabel(f"val. {metric} at floor", fontsize=8)
    for axes in list(grid.flat)[len(names):]:
        axes.axis("off")
    why = (" (every trial reached the recall target: specificity, the tie-break, ranks them)"
           if metric == "specificity" else "")
    figure.suptitle(f"Validation {metric} at precision ≥ {floor:.2f} against each hyperparameter{why}; "
                    f"grey at 0: floor not reached\n{_subtitle(run, floor)}", fontsize=10)
    return _save(figure, path)


def plot_test(run: RunPaths) -> list[Path]:
    """After `test`: ROC and precision-recall curves with the operating point, confusion matrix, histograms."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    result = HoldoutResult.read(run.test_dir / "metrics.json")
    predictions = pd.read_csv(run.test_dir / "predictions.csv")
    labels, probabilities = predictions["label"].to_numpy(), predictions["probability"].to_numpy()
    threshold, floor = result.threshold, result.precision_floor
    title = f"{_subtitle(run, floor)} · trial {result.trial_id} · threshold {threshold:.3f} (chosen on validation)"
    recall, specificity = result.metrics["recall"].value, result.metrics["specificity"].value
    precision = result.metrics["precision"].value
    plots = run.directory / "plots"

    figure, (roc_axes, pr_axes) = plt.subplots(1, 2, figsize=(11, 4.8))
    fpr, tpr, _ = roc_curve(labels, probabilities)
    roc_axes.plot(fpr, tpr, label=f"ROC (AUC {result.metrics['roc_auc'].value:.3f})")
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    roc_axes.scatter([1 - specificity], [recall], color="red", zorder=3, label="operating point")
    roc_axes.set(xlabel="false positive rate (1 − specificity)", ylabel="true positive rate (recall)",
                 title="ROC curve, test set")
    curve_precision, curve_recall, _ = precision_recall_curve(labels, probabilities)
    pr_axes.plot(curve_recall, curve_precision, label=f"PR (AUC {result.metrics['pr_auc'].value:.3f})")
    pr_axes.axhline(floor, color="orange", linestyle="--", label=f"precision floor {floor:.2f}")
    pr_axes.axhline(labels.mean(), color="grey", linestyle=":", label=f"always PNEUMONIA ({labels.mean():.2f})")
    pr_axes.scatter([recall], [precision], color="red", zorder=3, label="operating point")
    pr_axes.set(xlabel="recall (sensitivity)", ylabel="precision", title="Precision-recall curve, test set",
                ylim=(0, 1.02))
    for axes in (roc_axes, pr_axes):
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left" if axes is pr_axes else "lower right", fontsize=8)
    figure.suptitle(title, fontsize=10)
    curves = _save(figure, plots / "test_curves.png")

    figure, axes = plt.subplots(figsize=(5.2, 4.6))
    cm = result.confusion_matrix
    matrix = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, f"{count}", ha="center", va="center", fontsize=14,
                  color="white" if count > matrix.max() / 2 else "black")
    axes.set_xticks([0, 1], ["NORMAL", "PNEUMONIA"])
    axes.set_yticks([0, 1], ["NORMAL", "PNEUMONIA"])
    axes.set(xlabel="predicted", ylabel="true", title="Confusion matrix, test set (images)")
    figure.suptitle(title, fontsize=7)
    confusion = _save(figure, plots / "test_confusion_matrix.png")

    figure, axes = plt.subplots(figsize=(8, 4.6))
    bins = np.linspace(0, 1, 41)
    axes.hist(probabilities[labels == 0], bins=bins, alpha=0.6, label="NORMAL", color="C0")
    axes.hist(probabilities[labels == 1], bins=bins, alpha=0.6, label="PNEUMONIA", color="C3")
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set(xlabel="predicted probability of PNEUMONIA", ylabel="test images", yscale="log",
             title="Predicted probabilities by true class, test set")
    axes.legend(fontsize=8)
    figure.suptitle(title, fontsize=8)
    histogram = _save(figure, plots / "test_probabilities.png")
    return [curves, confusion, histogram]


def plot_site_study(run: RunPaths) -> list[Path]:
    """After `test --site-study`: its figures against the number of labelled site images ([] before)."""
    path = run.test_dir / "site_study.json"
    if not path.is_file():
        return []
    study = read_json(path)
    sizes = [int(size) for size in study["labelled"]]
    names = ("recall", "specificity", "precision", "accuracy")
    at_prevalence = next(row for row in study["unlabelled"] if abs(row["prevalence"] - study["prevalence"]) < 1e-3)
    figure, axes = plt.subplots(1, len(names), figsize=(14, 3.8), sharey=True)
    for name, panel in zip(names, axes):
        means = [study["labelled"][str(size)][name]["mean"] for size in sizes]
        lows = [study["labelled"][str(size)][name]["p5"] for size in sizes]
        panel.plot(sizes, means, marker="o", color="C0", label="labelled: mean")
        panel.fill_between(sizes, lows, means, color="C0", alpha=0.2, label="labelled: 5th percentile")
        panel.axhline(study["strict"][name], color="grey", linestyle="--", label="validation's threshold")
        panel.axhline(at_prevalence[name], color="C2", linestyle=":", label="unlabelled, at its prevalence")
        if name == "precision":
            panel.axhline(study["precision_floor"], color="orange", linewidth=1, label="precision floor")
        panel.set(xscale="log", xticks=sizes, xlabel="labelled site images", title=name)
        panel.set_xticklabels([str(size) for size in sizes])
        panel.grid(alpha=0.3)
    axes[0].set_ylabel("on the images not used to calibrate")
    axes[-1].legend(fontsize=7, loc="lower right")
    figure.suptitle(f"{_subtitle(run, study['precision_floor'])} · site calibration on the test folder · trial "
                    f"{study['trial_id']} · {study['n_images']} images", fontsize=10)
    return [_save(figure, run.directory / "plots" / "site_study.png")]
