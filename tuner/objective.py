"""The search objective: validation recall at a precision floor, as one scalar to maximise.

Pure NumPy / scikit-learn, no Keras: the search, the report and the tests all import it.
Prediction rule everywhere: an image is called PNEUMONIA (class 1) when
`probability >= threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

# Resolution steps of the scalar score (see `objective_score`): precision is added at
# 2**-16 so it stays under one recall step; PR-AUC at a further 2**-26 so it stays under
# one precision step.
PRECISION_SCALE = 2.0**-16
PR_AUC_SCALE = 2.0**-26
# Recall steps are 1 / n_positives; they must exceed the tie terms (< 2**-16 + 2**-42).
MAX_EXACT_POSITIVES = 2**16 - 1

# Clipping for the cross-entropy, as Keras does (epsilon 1e-7), so a confident miss is finite.
LOSS_EPSILON = 1e-7


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold and the validation recall and precision it gives.

    `reachable` is True when some threshold gives precision >= the floor with recall > 0;
    when False, the point is the best precision the model reached (for the report).
    """

    threshold: float
    recall: float
    precision: float
    reachable: bool


def validated_predictions(y_true: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert labels and probabilities to 1-D arrays (int 0/1, float64).

    Raises ValueError on empty input, mismatched lengths, labels other than 0/1,
    or probabilities that are not finite.
    """
    labels = np.asarray(y_true).ravel()
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    if labels.size == 0:
        raise ValueError("no predictions: y_true is empty")
    if labels.shape != scores.shape:
        raise ValueError(f"y_true has {labels.size} entries but probabilities has {scores.size}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (NORMAL) and 1 (PNEUMONIA)")
    if not np.isfinite(scores).all():
        raise ValueError("probabilities must be finite")
    return labels.astype(np.int64), scores


def _check_floor(precision_floor: float) -> None:
    if not 0.0 < precision_floor <= 1.0:
        raise ValueError(f"precision_floor must be in (0, 1], got {precision_floor}")


def threshold_sweep(y_true: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct probability as a threshold, with its true- and false-positive counts.

    Returns `(thresholds, true_positives, false_positives)`, thresholds ascending; the
    counts are for the rule `probability >= threshold`. Every threshold predicts at least
    one positive (it is an observed probability), so precision is always defined.
    """
    labels, scores = validated_predictions(y_true, probabilities)
    thresholds, value_index = np.unique(scores, return_inverse=True)
    positives_at = np.bincount(value_index, weights=labels, minlength=thresholds.size)
    images_at = np.bincount(value_index, minlength=thresholds.size)
    # Counts at or above each threshold: a reversed cumulative sum.
    true_positives = np.cumsum(positives_at[::-1])[::-1].astype(np.int64)
    false_positives = np.cumsum(images_at[::-1])[::-1].astype(np.int64) - true_positives
    return thresholds, true_positives, false_positives


def operating_point(y_true: ArrayLike, probabilities: ArrayLike, precision_floor: float) -> OperatingPoint:
    """The threshold with the highest recall among those with precision >= `precision_floor`.

    Candidates are all distinct probability values. Among thresholds with precision >= floor
    and recall > 0 the choice is: highest recall, then highest precision, then (for
    determinism) the highest threshold. When none qualifies, the point returned is the one
    with the highest precision (then highest recall, then highest threshold) among thresholds
    with recall > 0, with `reachable=False`. With no positive images at all: recall 0,
    precision 0, threshold the highest probability, `reachable=False`.

    Parameters
    ----------
    y_true : array-like of 0/1
        Validation labels, 1 = PNEUMONIA.
    probabilities : array-like of float
        The model's PNEUMONIA probabilities for the same images.
    precision_floor : float in (0, 1]
        The least acceptable validation precision.
    """
    _check_floor(precision_floor)
    thresholds, true_positives, false_positives = threshold_sweep(y_true, probabilities)
    n_positives = int(true_positives[0])  # the lowest threshold predicts every image positive
    if n_positives == 0:
        return OperatingPoint(float(thresholds[-1]), 0.0, 0.0, False)
    recall = true_positives / n_positives
    precision = true_positives / (true_positives + false_positives)
    finds_some = true_positives > 0
    meets_floor = finds_some & (precision >= precision_floor)
    reachable = bool(meets_floor.any())
    if reachable:
        # lexsort sorts by the last key first; the best candidate ends up last.
        order = np.lexsort((thresholds, precision, recall))
        allowed = meets_floor
    else:
        order = np.lexsort((thresholds, recall, precision))
        allowed = finds_some
    best = order[allowed[order]][-1]
    return OperatingPoint(float(thresholds[best]), float(recall[best]), float(precision[best]), reachable)


def objective_score(op: OperatingPoint, pr_auc: float, n_positives: int) -> float:
    """One scalar whose order is the lexicographic order (reachable, recall, precision, pr_auc).

    Keras Tuner's Hyperband maximises a single number, so the four keys are packed as::

        reachable:   score = 1 + recall + (precision + pr_auc * 2**-26) * 2**-16
        unreachable: score =              (precision + pr_auc * 2**-26) * 2**-16

    (an unreachable trial's recall counts as 0; it is ranked by the best precision it
    reached). A reachable score reads as 1 + recall to four decimals.

    Guarantees, in IEEE double arithmetic, for trials scored on the same validation set with
    `n_positives <= MAX_EXACT_POSITIVES` (65535) positive images:

    1. Every reachable trial scores above every unreachable one (reachable >= 1 > 2**-15).
    2. Reachable, different recall: the higher recall scores strictly higher. Recalls are
       k / n_positives, so they differ by >= 1 / n_positives > 2**-16 + 2**-42 + 2**-50,
       which covers the whole tie term plus every rounding error.
    3. Reachable, equal recall, different precision: the higher precision scores strictly
       higher. Equal recall means equal true positives k, so two precisions k/d1 > k/d2
       differ by >= P1 * P2 / k >= precision_floor**2 / n_positives; that exceeds
       2**-26 * (1 + 2**-9 + 2**-25) (the PR-AUC term plus rounding) whenever
       precision_floor**2 > 1.003 * n_positives * 2**-26 — for n_positives <= 65535 any
       floor >= 0.04 will do.
    4. Equal reachability, recall and precision: a PR-AUC higher by more than 0.002
       (reachable; 2**-9 plus rounding slack) or 2**-25 (unreachable) scores strictly
       higher. Smaller PR-AUC differences may round to equal scores but never invert, since
       every floating-point step is monotone once the other keys are identical.
    5. Equal keys give equal scores.
    6. Unreachable trials: precisions are fractions with denominators <= N (the number of
       validation images), distinct ones differ by >= 1 / (N * (N - 1)), so the order by
       best precision is strict and exact for N <= 8192.

    Raises ValueError when n_positives is negative or above MAX_EXACT_POSITIVES, where
    guarantee 2 would no longer hold.
    """
    if not 0 <= n_positives <= MAX_EXACT_POSITIVES:
        raise ValueError(
            f"n_positives={n_positives}: the score keeps the recall order only for "
            f"0..{MAX_EXACT_POSITIVES} positive validation images"
        )
    tie_term = (op.precision + pr_auc * PR_AUC_SCALE) * PRECISION_SCALE
    if not op.reachable:
        return float(tie_term)
    return float(1.0 + op.recall + tie_term)


def _area_or_zero(area_function, labels: np.ndarray, scores: np.ndarray) -> float:
    # ROC-AUC and PR-AUC are undefined with one class; 0.0 keeps the output NaN-free and
    # JSON-safe, and ranks such a degenerate validation set last rather than crashing.
    if labels.min() == labels.max():
        return 0.0
    return float(area_function(labels, scores))


def binary_cross_entropy(y_true: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7] as Keras does."""
    labels, scores = validated_predictions(y_true, probabilities)
    clipped = np.clip(scores, LOSS_EPSILON, 1.0 - LOSS_EPSILON)
    losses = -(labels * np.log(clipped) + (1 - labels) * np.log1p(-clipped))
    return float(losses.mean())


def validation_metrics(y_true: ArrayLike, probabilities: ArrayLike, precision_floor: float) -> dict:
    """Everything a trial reports on the validation set, as plain JSON-safe values.

    Keys: `score` (see `objective_score`), `reachable`, `recall`, `precision`, `threshold`
    (from `operating_point`), `roc_auc`, `pr_auc` (average precision), `accuracy` at the
    threshold, `loss` (mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]),
    `n_positives`, `n_negatives`. With only one class present `roc_auc` and `pr_auc` are 0.0
    (they are undefined there), so no value is ever NaN.
    """
    labels, scores = validated_predictions(y_true, probabilities)
    op = operating_point(labels, scores, precision_floor)
    n_positives = int(labels.sum())
    pr_auc = _area_or_zero(average_precision_score, labels, scores)
    predicted = scores >= op.threshold
    return {
        "score": objective_score(op, pr_auc, n_positives),
        "reachable": op.reachable,
        "recall": op.recall,
        "precision": op.precision,
        "threshold": op.threshold,
        "roc_auc": _area_or_zero(roc_auc_score, labels, scores),
        "pr_auc": pr_auc,
        "accuracy": float(np.mean(predicted == labels.astype(bool))),
        "loss": binary_cross_entropy(labels, scores),
        "n_positives": n_positives,
        "n_negatives": int(labels.size - n_positives),
    }


def rank_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Rank completed trials by score, best first; returns a new frame with a `rank` column.

    Completed trials (status "completed" with a score) are ordered by score descending, ties
    by `trial_id` ascending when that column exists (else by their order in `trials`), and
    ranked 1, 2, ...; every other trial (failed, running, ...) follows in its original order
    with rank <NA>. The index is reset.
    """
    missing = {"status", "score"} - set(trials.columns)
    if missing:
        raise ValueError(f"trials table lacks column(s): {', '.join(sorted(missing))}")
    frame = trials.reset_index(drop=True)
    scores = pd.to_numeric(frame["score"], errors="coerce")
    ranked = (frame["status"] == "completed") & scores.notna()
    sort_keys = ["_score", "trial_id"] if "trial_id" in frame.columns else ["_score"]
    best_first = (
        frame[ranked]
        .assign(_score=scores[ranked])
        .sort_values(sort_keys, ascending=[False] + [True] * (len(sort_keys) - 1), kind="stable")
        .drop(columns="_score")
    )
    best_first["rank"] = pd.array(np.arange(1, len(best_first) + 1), dtype="Int64")
    unranked = frame[~ranked].assign(rank=pd.array([pd.NA] * int((~ranked).sum()), dtype="Int64"))
    return pd.concat([best_first, unranked], ignore_index=True)
