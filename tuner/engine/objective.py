"""The search objective: validation recall at a precision floor, as one scalar to maximise.

Pure NumPy / scikit-learn, no Keras: the search, the report and the tests all import it.
Prediction rule everywhere: an image is called PNEUMONIA (class 1) when
`probability >= threshold`. `operating_point` chooses the threshold under an `OperatingRule`,
`objective_score` packs the ranking into one number, `validation_metrics` reports an epoch, and
`rank_trials` orders a trials table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score

from tuner.core.settings import DEFAULT_RECALL_TARGET, check_operating_rule

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
class OperatingRule:
    """How a threshold is chosen on validation predictions (see `operating_point`).

    Attributes:
        precision_floor: the least acceptable precision, at `prevalence`.
        recall_target: the recall aimed at; where the floor allows more, the threshold is raised (and the
            specificity with it) until recall would fall below this target. 1.0 gives the bare "highest
            recall at the floor" rule.
        prevalence: the share of PNEUMONIA where the model will be used; precision is computed there from
            the validation sensitivity and specificity. None: the validation set's own share, where that
            precision is the literal TP / (TP + FP).

    Raises:
        ToolkitError: a floor outside (0, 1), a recall target outside (0, 1] or a prevalence outside (0, 1)
            (`check_operating_rule`, the same check as the flags').
    """

    precision_floor: float = 0.90
    recall_target: float = DEFAULT_RECALL_TARGET
    prevalence: float | None = None

    @classmethod
    def of(cls, settings) -> OperatingRule:
        """The rule a run's SearchSettings choose every threshold by."""
        return cls(settings.precision_floor, settings.recall_target, settings.prevalence)

    def __post_init__(self) -> None:
        check_operating_rule(self.precision_floor, self.recall_target, self.prevalence)


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold and the validation figures it gives (`operating_point`).

    Stored in every trial record; `test` and `predict` use its threshold.

    Attributes:
        threshold: the decision threshold; an image is called PNEUMONIA when `probability >= threshold`.
        recall: validation recall (sensitivity) at the threshold.
        precision: validation precision at the threshold, at `prevalence`.
        specificity: validation specificity at the threshold.
        prevalence: the share of PNEUMONIA the precision is at: the validation set's own unless the rule
            names another.
        reachable: some threshold gives precision >= the floor with recall > 0. When False, the point is
            the one of best precision the model reached (for the report).
    """

    threshold: float
    recall: float
    precision: float
    specificity: float
    prevalence: float
    reachable: bool


def precision_at_prevalence(recall, specificity, prevalence: float):
    """Precision implied by a sensitivity and specificity where a share `prevalence` is positive.

    That is recall * p / (recall * p + (1 - specificity) * (1 - p)), and 0 where nothing is called positive.

    Args:
        recall: a recall, or an array of them.
        specificity: the specificity of each recall (same shape).
        prevalence: the share p of positives, in [0, 1].

    Returns:
        A float for scalar inputs, else an array of the inputs' shape.
    """
    recall = np.asarray(recall, dtype=np.float64)
    true_share = recall * prevalence
    called_share = true_share + (1.0 - np.asarray(specificity, dtype=np.float64)) * (1.0 - prevalence)
    precision = np.divide(true_share, called_share, out=np.zeros_like(true_share), where=called_share > 0)
    return precision if precision.ndim else float(precision)


def validated_predictions(y_true: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert labels and probabilities to 1-D arrays (int 0/1, float64).

    Args:
        y_true: labels, 1 = PNEUMONIA.
        probabilities: one PNEUMONIA probability per label.

    Returns:
        (labels as int64, probabilities as float64), both flattened.

    Raises:
        ValueError: empty input, mismatched lengths, labels other than 0/1, or probabilities that are
            not finite.
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


def threshold_sweep(y_true: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct probability as a threshold, with its true- and false-positive counts.

    Every threshold predicts at least one positive (it is an observed probability), so precision is
    always defined.

    Args:
        y_true: labels, 1 = PNEUMONIA.
        probabilities: one PNEUMONIA probability per label.

    Returns:
        `(thresholds, true_positives, false_positives)`, thresholds ascending; the counts are for the
        rule `probability >= threshold`.

    Raises:
        ValueError: as `validated_predictions`.
    """
    labels, scores = validated_predictions(y_true, probabilities)
    thresholds, value_index = np.unique(scores, return_inverse=True)
    positives_at = np.bincount(value_index, weights=labels, minlength=thresholds.size)
    images_at = np.bincount(value_index, minlength=thresholds.size)
    # Counts at or above each threshold: a reversed cumulative sum.
    true_positives = np.cumsum(positives_at[::-1])[::-1].astype(np.int64)
    false_positives = np.cumsum(images_at[::-1])[::-1].astype(np.int64) - true_positives
    return thresholds, true_positives, false_positives


def target_true_positives(recall_target: float, n_positives: int) -> int:
    """The least number of found positives whose recall meets `recall_target` (on the k / n grid).

    Args:
        recall_target: the recall aimed at, in (0, 1].
        n_positives: how many positive images there are.

    Returns:
        ceil(recall_target * n_positives), with a small slack against rounding.
    """
    # The small slack keeps 0.97 * 100 from rounding up to 98.
    return int(np.ceil(recall_target * n_positives - 1e-9))


def operating_point(y_true: ArrayLike, probabilities: ArrayLike, rule: OperatingRule) -> OperatingPoint:
    """The validation operating point under `rule`.

    Among the thresholds (every distinct probability) whose precision at the rule's prevalence is
    at least the floor and that find at least one positive, let R be the highest recall. The point
    is the highest threshold whose recall is at least min(R, recall_target) and meets the floor:
    the highest specificity that keeps the recall the rule asks for.

    Why not simply the highest recall: the threshold that reaches recall 1.0 sits just under the single
    lowest-scored pneumonia image, so one image decides it. A target below 1.0 puts the threshold at the
    k-th highest positive score (k = ceil(target * positives)): one image more or less among the positives
    moves it by at most one rank among them. Evidence: docs/results.md ("The operating-point rule").

    When no threshold meets the floor, the point is the one with the highest precision (then
    recall, then threshold), with `reachable=False`. With no positive images at all: recall 0,
    precision 0, threshold the highest probability, `reachable=False`.

    Args:
        y_true: validation labels, 1 = PNEUMONIA.
        probabilities: the model's PNEUMONIA probability of each image.
        rule: the precision floor, recall target and prevalence.

    Returns:
        The chosen `OperatingPoint`.

    Raises:
        ValueError: as `validated_predictions`.
    """
    thresholds, true_positives, false_positives = threshold_sweep(y_true, probabilities)
    n_positives = int(true_positives[0])  # the lowest threshold predicts every image positive
    n_negatives = int(false_positives[0])
    prevalence = rule.prevalence if rule.prevalence is not None else n_positives / (n_positives + n_negatives)
    if n_positives == 0:
        return OperatingPoint(float(thresholds[-1]), 0.0, 0.0, 1.0, prevalence, False)
    recall = true_positives / n_positives
    specificity = 1.0 - false_positives / n_negatives if n_negatives else np.ones_like(recall)
    if rule.prevalence is None:  # exact counts: the literal precision, no rounding of the ratio
        precision = true_positives / (true_positives + false_positives)
    else:
        precision = precision_at_prevalence(recall, specificity, prevalence)
    finds_some = true_positives > 0
    meets_floor = finds_some & (precision >= rule.precision_floor)
    if meets_floor.any():
        goal = min(int(true_positives[meets_floor].max()), target_true_positives(rule.recall_target, n_positives))
        allowed = meets_floor & (true_positives >= goal)
        best = np.flatnonzero(allowed)[-1]  # thresholds ascend: the last allowed is the highest
        reachable = True
    else:
        order = np.lexsort((thresholds, recall, precision))
        best = order[finds_some[order]][-1]
        reachable = False
    return OperatingPoint(float(thresholds[best]), float(recall[best]), float(precision[best]),
                          float(specificity[best]), float(prevalence), reachable)


def objective_score(op: OperatingPoint, pr_auc: float, n_positives: int, recall_target: float = 1.0) -> float:
    """One scalar whose order is the lexicographic order (reachable, capped recall, tie, pr_auc).

    Keras Tuner's Hyperband maximises a single number, so the keys are packed as::

        reachable:   score = 1 + min(recall, goal) + (specificity + pr_auc * 2**-26) * 2**-16
        unreachable: score =                         (precision + pr_auc * 2**-26) * 2**-16

    where goal = ceil(recall_target * n_positives) / n_positives: recall counts up to the target
    and no further, so among trials that reach it the one with the higher specificity there (the
    margin between the classes at the operating point) ranks first, not the one whose lowest
    pneumonia image happens to score a little higher. An unreachable trial's recall counts as 0;
    it is ranked by the best precision it reached. A reachable score reads as 1 + recall.

    Guarantees, in IEEE double arithmetic, for trials scored on the same validation set with
    `n_positives <= MAX_EXACT_POSITIVES` (65535) positive and at most 2**24 negative images:

    1. Every reachable trial scores above every unreachable one (reachable >= 1 > 2**-15).
    2. Reachable, different capped recall: the higher scores strictly higher. Capped recalls are
       k / n_positives, so they differ by >= 1 / n_positives > 2**-16 + 2**-42 + 2**-50,
       which covers the whole tie term plus every rounding error.
    3. Reachable, equal capped recall, different specificity: the higher specificity scores strictly
       higher. Specificities are 1 - j / n_negatives and differ by >= 1 / n_negatives >= 2**-24,
       above the PR-AUC term plus rounding (2**-26 * (1 + 2**-9 + 2**-25)).
    4. Equal keys but PR-AUC: a PR-AUC higher by more than 0.002 (reachable; 2**-9 plus rounding
       slack) or 2**-25 (unreachable) scores strictly higher. Smaller PR-AUC differences may round
       to equal scores but never invert, since every floating-point step is monotone.
    5. Equal keys give equal scores.
    6. Unreachable trials: precisions at the validation prevalence are fractions with denominators
       <= N (the number of validation images); distinct ones differ by >= 1 / (N * (N - 1)), so the
       order by best precision is strict and exact for N <= 8192.

    Args:
        op: the trial's operating point on validation.
        pr_auc: its validation PR-AUC (average precision).
        n_positives: how many positive validation images there are.
        recall_target: the rule's recall target (1.0: recall counts in full).

    Returns:
        The score, to maximise.

    Raises:
        ValueError: `n_positives` is negative or above MAX_EXACT_POSITIVES, where guarantee 2 would no
            longer hold.
    """
    if not 0 <= n_positives <= MAX_EXACT_POSITIVES:
        raise ValueError(
            f"n_positives={n_positives}: the score keeps the recall order only for "
            f"0..{MAX_EXACT_POSITIVES} positive validation images"
        )
    if not op.reachable:
        return float((op.precision + pr_auc * PR_AUC_SCALE) * PRECISION_SCALE)
    found = round(op.recall * n_positives)
    capped_recall = min(found, target_true_positives(recall_target, n_positives)) / n_positives
    return float(1.0 + capped_recall + (op.specificity + pr_auc * PR_AUC_SCALE) * PRECISION_SCALE)


def _area_or_zero(area_function, labels: np.ndarray, scores: np.ndarray) -> float:
    # ROC-AUC and PR-AUC are undefined with one class; 0.0 keeps the output NaN-free and
    # JSON-safe, and ranks such a degenerate validation set last rather than crashing.
    if labels.min() == labels.max():
        return 0.0
    return float(area_function(labels, scores))


def binary_cross_entropy(y_true: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7] as Keras does.

    Args:
        y_true: labels, 1 = PNEUMONIA.
        probabilities: one PNEUMONIA probability per label.

    Returns:
        The mean loss, always finite.

    Raises:
        ValueError: as `validated_predictions`.
    """
    labels, scores = validated_predictions(y_true, probabilities)
    clipped = np.clip(scores, LOSS_EPSILON, 1.0 - LOSS_EPSILON)
    losses = -(labels * np.log(clipped) + (1 - labels) * np.log1p(-clipped))
    return float(losses.mean())


def validation_metrics(y_true: ArrayLike, probabilities: ArrayLike, rule: OperatingRule) -> dict:
    """Everything a trial reports on the validation set, as plain JSON-safe values.

    Args:
        y_true: validation labels, 1 = PNEUMONIA.
        probabilities: the model's PNEUMONIA probability of each image.
        rule: how the threshold is chosen.

    Returns:
        A dict with the keys `score` (see `objective_score`), `reachable`, `recall`, `precision`,
        `specificity`, `prevalence`, `threshold` (from `operating_point`), `roc_auc`, `pr_auc` (average
        precision), `accuracy` at the threshold, `loss` (mean binary cross-entropy, probabilities clipped
        to [1e-7, 1 - 1e-7]), `n_positives` and `n_negatives`. With only one class present `roc_auc` and
        `pr_auc` are 0.0 (they are undefined there), so no value is ever NaN.

    Raises:
        ValueError: as `validated_predictions`.
    """
    labels, scores = validated_predictions(y_true, probabilities)
    op = operating_point(labels, scores, rule)
    n_positives = int(labels.sum())
    pr_auc = _area_or_zero(average_precision_score, labels, scores)
    predicted = scores >= op.threshold
    return {
        "score": objective_score(op, pr_auc, n_positives, rule.recall_target),
        "reachable": op.reachable,
        "recall": op.recall,
        "precision": op.precision,
        "specificity": op.specificity,
        "prevalence": op.prevalence,
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

    Args:
        trials: one row per trial, with `status` and `score` columns (and `trial_id`, if any).

    Returns:
        A new frame with a nullable-integer `rank` column.

    Raises:
        ValueError: `trials` lacks the `status` or `score` column.
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
