"""The test-set run's numbers: point metrics at a fixed threshold and bootstrap intervals.

Statistics only (NumPy, scikit-learn, SciPy); the model code that produces the probabilities
lives elsewhere. Entry points: `holdout_metrics` and `always_positive_baseline`.
"""

from __future__ import annotations

import inspect

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import bootstrap
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from tuner.engine.objective import validated_predictions

METRIC_NAMES = ("recall", "specificity", "precision", "accuracy", "f1", "roc_auc", "pr_auc")
CONFIDENCE_LEVEL = 0.95
# Percentile rather than BCa: BCa returns NaN (with a warning) whenever a metric is the same
# in every resample — a perfect recall or specificity, which a good model can reach.
BOOTSTRAP_METHOD = "percentile"

# SciPy 1.15 renamed `random_state` to `rng`; both use a Generator as given, so either way
# the same seed draws the same resamples (the project supports SciPy >= 1.11).
_BOOTSTRAP_SEED_KEYWORD = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"

# What the hand-run reference reported, shown beside `test`'s figures (from an image-level split, so not
# comparable: docs/results.md, "History").
REFERENCE_RESULTS: dict = {
    "accuracy": 0.92,
    "split": "test",
    "source": (
        "hand-run reference experiment (four-block CNN and five MobileNetV2 heads, "
        "chosen by validation recall then precision)"
    ),
}


def _ratio(numerator, denominator):
    # zero_division=0, as in the scikit-learn calls: an undefined ratio counts as 0.
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _point_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """The metrics of METRIC_NAMES by scikit-learn; the areas are 0.0 with only one class."""
    predicted = (scores >= threshold).astype(np.int64)
    one_class = labels.min() == labels.max()
    return {
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "specificity": float(recall_score(labels, predicted, pos_label=0, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": 0.0 if one_class else float(roc_auc_score(labels, scores)),
        "pr_auc": 0.0 if one_class else float(average_precision_score(labels, scores)),
    }


class _WeightedMetrics:
    """The same metrics for many resamples at once, each resample given as image weights.

    A bootstrap resample is a multiset of the original images, so every metric of it equals
    the weighted metric with weight = how often each image was drawn. Computing all resamples
    as one weight matrix is much faster than calling scikit-learn per resample; the tests check
    it against scikit-learn on repeated data.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray, threshold: float):
        positive = labels.astype(bool)
        predicted = scores >= threshold
        self.cells = np.stack(
            [positive & predicted, ~positive & predicted, positive & ~predicted, ~positive & ~predicted],
            axis=1,
        ).astype(np.float64)  # columns: tp, fp, fn, tn
        # Rank metrics walk the distinct scores from highest to lowest.
        self.order = np.argsort(-scores, kind="stable")
        sorted_scores = scores[self.order]
        self.group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        self.sorted_positive = positive[self.order].astype(np.float64)

    def __call__(self, image_weights: np.ndarray) -> np.ndarray:
        """Metrics, shape (len(METRIC_NAMES), n_resamples), for weights (n_resamples, n_images)."""
        tp, fp, fn, tn = (image_weights @ self.cells).T
        recall = _ratio(tp, tp + fn)
        precision = _ratio(tp, tp + fp)
        threshold_metrics = [
            recall,
            _ratio(tn, tn + fp),
            precision,
            _ratio(tp + tn, tp + fp + fn + tn),
            _ratio(2 * tp, 2 * tp + fp + fn),
        ]
        return np.stack(threshold_metrics + list(self._areas(image_weights)))

    def _areas(self, image_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sorted_weights = image_weights[:, self.order]
        positives_at = np.add.reduceat(sorted_weights * self.sorted_positive, self.group_starts, axis=1)
        negatives_at = np.add.reduceat(sorted_weights, self.group_starts, axis=1) - positives_at
        tp_at_or_above = np.cumsum(positives_at, axis=1)
        fp_at_or_above = np.cumsum(negatives_at, axis=1)
        n_positive = tp_at_or_above[:, -1]
        n_negative = fp_at_or_above[:, -1]
        # ROC-AUC: each negative scores 1 per positive above it and 1/2 per tied positive.
        pairs_won = np.sum(negatives_at * (tp_at_or_above - 0.5 * positives_at), axis=1)
        # Average precision as scikit-learn defines it: sum over thresholds of
        # (recall step) x (precision at that threshold).
        precision_at = _ratio(tp_at_or_above, tp_at_or_above + fp_at_or_above)
        recall_steps = positives_at * precision_at
        both_classes = (n_positive > 0) & (n_negative > 0)
        roc_auc = np.where(both_classes, _ratio(pairs_won, n_positive * n_negative), 0.0)
        pr_auc = np.where(both_classes, _ratio(recall_steps.sum(axis=1), n_positive), 0.0)
        return roc_auc, pr_auc


def holdout_metrics(
    y_true: ArrayLike,
    probabilities: ArrayLike,
    threshold: float,
    patients: ArrayLike | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """Test-set metrics at a fixed threshold, each with a 95 % bootstrap confidence interval.

    Point values come from scikit-learn (zero_division=0; areas 0.0 with only one class present);
    intervals are percentile intervals from scipy.stats.bootstrap, where each resample's metrics
    follow the same conventions.

    Args:
        y_true: test labels, 0/1, 1 = PNEUMONIA.
        probabilities: the model's PNEUMONIA probability of each image.
        threshold: the decision threshold chosen on validation; positive when probability >= threshold.
        patients: one patient id per image; when given, whole patients are resampled, else images.
        n_resamples: bootstrap resamples.
        seed: seeds the resampling; the same inputs and seed give the same intervals.

    Returns:
        A dict: `threshold`, `n_images`, `n_patients` (None when `patients` is not given),
        `confusion_matrix` ({tn, fp, fn, tp}), `metrics` ({name: {value, low, high}} for
        recall (sensitivity), specificity, precision, accuracy, f1, roc_auc, pr_auc), and
        `bootstrap` (method, confidence level, resamples, seed, resampled unit).

    Raises:
        ValueError: invalid labels or probabilities (`objective.validated_predictions`), a threshold that
            is not finite, `n_resamples` < 1, or `patients` of another length.

    Example:

    ```python
    result = holdout_metrics(labels, probabilities, trial.operating_point.threshold, patients=patient_ids)
    recall = result["metrics"]["recall"]  # {"value": ..., "low": ..., "high": ...}
    ```
    """
    labels, scores = validated_predictions(y_true, probabilities)
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")

    if patients is None:
        image_unit = np.arange(labels.size)
    else:
        patient_ids = np.asarray(patients).ravel()
        if patient_ids.size != labels.size:
            raise ValueError(f"patients has {patient_ids.size} entries but y_true has {labels.size}")
        # Images of one patient are not independent (same lungs, same visit, often the same
        # disease course), so resampling images would make the intervals too narrow; a
        # cluster bootstrap resamples whole patients with all their images.
        _, image_unit = np.unique(patient_ids, return_inverse=True)
    n_units = int(image_unit.max()) + 1

    weighted_metrics = _WeightedMetrics(labels, scores, threshold)

    def resampled_metrics(drawn_units: np.ndarray, axis: int = -1) -> np.ndarray:
        drawn_units = np.moveaxis(np.asarray(drawn_units), axis, -1)
        leading_shape = drawn_units.shape[:-1]
        drawn = drawn_units.reshape(-1, drawn_units.shape[-1]).astype(np.int64)
        # How often each unit was drawn in each resample, via one offset bincount.
        offsets = np.arange(drawn.shape[0])[:, None] * n_units
        draws_per_unit = np.bincount((drawn + offsets).ravel(), minlength=drawn.shape[0] * n_units)
        image_weights = draws_per_unit.reshape(drawn.shape[0], n_units)[:, image_unit].astype(np.float64)
        return weighted_metrics(image_weights).reshape(len(METRIC_NAMES), *leading_shape)

    result = bootstrap(
        (np.arange(n_units),),
        resampled_metrics,
        n_resamples=n_resamples,
        confidence_level=CONFIDENCE_LEVEL,
        method=BOOTSTRAP_METHOD,
        vectorized=True,
        **{_BOOTSTRAP_SEED_KEYWORD: np.random.default_rng(seed)},
    )
    point = _point_metrics(labels, scores, threshold)
    low, high = result.confidence_interval
    tn, fp, fn, tp = confusion_matrix(labels, scores >= threshold, labels=[0, 1]).ravel()
    return {
        "threshold": threshold,
        "n_images": int(labels.size),
        "n_patients": None if patients is None else n_units,
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "metrics": {
            name: {"value": point[name], "low": float(low[index]), "high": float(high[index])}
            for index, name in enumerate(METRIC_NAMES)
        },
        "bootstrap": {
            "method": BOOTSTRAP_METHOD,
            "confidence_level": CONFIDENCE_LEVEL,
            "n_resamples": int(n_resamples),
            "seed": int(seed),
            "unit": "image" if patients is None else "patient",
        },
    }



def always_positive_baseline(y_true: ArrayLike) -> dict:
    """The "call everything PNEUMONIA" model on the same labels, as a floor to beat.

    Args:
        y_true: labels, 0/1, 1 = PNEUMONIA.

    Returns:
        The metrics of METRIC_NAMES by name: accuracy = precision = prevalence p, recall 1,
        specificity 0, f1 = 2p / (1 + p); a constant score ranks nothing, so roc_auc 0.5 and
        pr_auc = p (0.0 for both with only one class present).

    Raises:
        ValueError: empty labels, or labels other than 0/1.
    """
    labels, _ = validated_predictions(y_true, np.zeros(np.asarray(y_true).size))
    return _point_metrics(labels, np.ones(labels.size), threshold=0.5)
