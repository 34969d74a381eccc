"""Thresholds for a site, from its labelled or unlabelled images: the arithmetic, no Keras.

Prediction rule as everywhere: PNEUMONIA when `probability >= threshold`. `labelled_operating_point`
applies the run's rule to a site's labelled images; `unlabelled_operating_point` aligns the threshold to a
stated prevalence. `sites.py` records the results.

Evidence: docs/results.md ("The current defaults", its site-calibration rows).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest

from tuner.engine.objective import OperatingRule, operating_point, precision_at_prevalence, validated_predictions
from tuner.evaluation.statistics import holdout_metrics

CONFIDENCE = 0.95  # of the one-sided lower bound on recall


def expected_positive_share(recall: float, specificity: float, prevalence: float) -> float:
    """The share of images an operating point calls PNEUMONIA where a share `prevalence` has it.

    That is recall * prevalence + (1 - specificity) * (1 - prevalence).

    Args:
        recall: the operating point's recall.
        specificity: its specificity.
        prevalence: the share of PNEUMONIA among the images.

    Returns:
        The expected share called PNEUMONIA.
    """
    return recall * prevalence + (1.0 - specificity) * (1.0 - prevalence)


def aligned_threshold(probabilities: ArrayLike, share: float) -> float:
    """The threshold that calls a share `share` of these images PNEUMONIA (quantile alignment).

    With n images sorted from the highest probability down, k = floor(share * n + 1/2) are called: the
    threshold lies halfway between the k-th and the (k+1)-th highest probability (just above the highest
    when k = 0, at the lowest when k = n). Ties can make the share called larger than k / n.

    Args:
        probabilities: the images' PNEUMONIA probabilities.
        share: the share of them to call PNEUMONIA, in [0, 1].

    Returns:
        The threshold.

    Raises:
        ValueError: no probabilities, or `share` outside [0, 1].
    """
    scores = np.sort(np.asarray(probabilities, dtype=np.float64).ravel())[::-1]
    if scores.size == 0:
        raise ValueError("no probabilities to align")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    called = int(np.floor(share * scores.size + 0.5))  # halves round up
    if called == 0:
        return float(np.nextafter(scores[0], np.inf))
    if called == scores.size:
        return float(scores[-1])
    return float((scores[called - 1] + scores[called]) / 2)


def recall_lower_bound(found: int, positives: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson lower bound on recall after `found` of `positives` were found.

    With no miss among n it is (1 - confidence) ** (1 / n), about 1 - 3 / n at 95 %.

    Args:
        found: the positives found.
        positives: all positives.
        confidence: the bound's one-sided confidence level.

    Returns:
        The lower bound; 0.0 when there is no positive.
    """
    if positives == 0:
        return 0.0
    return float(binomtest(found, positives).proportion_ci(confidence_level=2 * confidence - 1).low)


def labelled_operating_point(labels: ArrayLike, probabilities: ArrayLike, patients: ArrayLike,
                             rule: OperatingRule, conservative: bool = False, seed: int = 0) -> dict:
    """The search's rule applied to a site's labelled images, with patient-resampled intervals.

    Args:
        labels: one label per site image, 1 = PNEUMONIA.
        probabilities: the model's PNEUMONIA probability of each image.
        patients: each image's patient, so that the bootstrap resamples whole patients.
        rule: the run's rule; its prevalence is the site's (None: the images' own share).
        conservative: take instead the highest threshold whose one-sided 95 % lower bound on recall
            reaches the recall target (or, where none does, the one that finds every site pneumonia).
        seed: seeds the bootstrap.

    Returns:
        `threshold`, `prevalence`, `recall_supported` (the lower bound at the threshold), `target_supported`
        (whether it reaches the target), `meets_floor`, `conservative`, `n_images`, `n_positives`,
        `n_negatives`, `n_patients`, and `estimates`: {recall, specificity, precision (at the prevalence),
        accuracy} each {value, low, high}, 95 % intervals from resampling whole patients. Where the
        prevalence is stated, the precision interval is the one of recall and specificity carried through
        `precision_at_prevalence` (monotone in both), so at least as wide as the truth.

    Raises:
        ValueError: the images lack one of the two classes.
    """
    labels, scores = validated_predictions(labels, probabilities)
    n_positives = int(labels.sum())
    if n_positives == 0 or n_positives == labels.size:
        raise ValueError("labelled calibration needs NORMAL and PNEUMONIA images")
    point = operating_point(labels, scores, rule)
    threshold = point.threshold
    if conservative:
        threshold = _conservative_threshold(labels, scores, rule.recall_target)
    prevalence = rule.prevalence if rule.prevalence is not None else n_positives / labels.size
    measured = holdout_metrics(labels, scores, threshold, patients=patients, seed=seed)
    metrics = measured["metrics"]
    estimates = {name: metrics[name] for name in ("recall", "specificity", "precision", "accuracy")}
    if rule.prevalence is not None:
        recall, specificity = metrics["recall"], metrics["specificity"]
        estimates["precision"] = {key: precision_at_prevalence(recall[key], specificity[key], prevalence)
                                  for key in ("value", "low", "high")}
    found = measured["confusion_matrix"]["tp"]
    supported = recall_lower_bound(found, n_positives)
    return {
        "threshold": float(threshold), "prevalence": float(prevalence), "conservative": conservative,
        "recall_supported": supported, "target_supported": supported >= rule.recall_target - 1e-9,
        "meets_floor": estimates["precision"]["value"] >= rule.precision_floor - 1e-9,
        "n_images": int(labels.size), "n_positives": n_positives, "n_negatives": int(labels.size - n_positives),
        "n_patients": measured["n_patients"], "estimates": estimates,
    }


def _conservative_threshold(labels: np.ndarray, scores: np.ndarray, recall_target: float) -> float:
    """The highest threshold whose recall lower bound reaches the target; else the lowest pneumonia score."""
    positive_scores = np.sort(scores[labels == 1])[::-1]  # the k-th highest finds k (ties aside)
    for found in range(1, positive_scores.size + 1):
        if recall_lower_bound(found, positive_scores.size) >= recall_target:
            return float(positive_scores[found - 1])
    return float(positive_scores[-1])


def supported_recall_text(result: dict, recall_target: float) -> str | None:
    """A plain sentence when the site's pneumonia images cannot show the recall target, else None.

    Args:
        result: `labelled_operating_point`'s result.
        recall_target: the run's recall target.
    """
    if result["target_supported"]:
        return None
    n = result["n_positives"]
    return (f"{n} pneumonia images cannot show recall >= {recall_target:.2f}: at this threshold they support recall >= "
            f"{result['recall_supported']:.3f} only (95 % one-sided; no miss among {n} bounds it at "
            f"{recall_lower_bound(n, n):.3f}); label more pneumonia images, or use --conservative")


def site_rule(rule: OperatingRule, prevalence: float | None) -> OperatingRule:
    """The run's rule with the site's prevalence.

    Args:
        rule: the run's rule.
        prevalence: the site's share of PNEUMONIA; None: the site images' own share.

    Returns:
        A copy of `rule` with that prevalence.
    """
    return replace(rule, prevalence=prevalence)


def unlabelled_operating_point(probabilities: ArrayLike, recall: float, specificity: float,
                               prevalence: float) -> dict:
    """The threshold at which a site's unlabelled images are called PNEUMONIA as often as an operating
    point of validation's `recall` and `specificity` would call them at `prevalence`.

    It assumes that the site's shift moves the scores but keeps their ranking; then the site's recall and
    specificity at this threshold are validation's.

    Args:
        probabilities: the model's PNEUMONIA probability of each site image.
        recall: validation's recall at its operating point.
        specificity: validation's specificity there.
        prevalence: the site's share of PNEUMONIA, as stated.

    Returns:
        `threshold`, `prevalence`, `expected_share` (what validation's point calls at the prevalence),
        `share_called` (what the threshold calls of these images), `n_images`, and `estimates`: {recall,
        specificity, precision} {value}, validation's carried over (no interval: no site label was read).
    """
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    share = expected_positive_share(recall, specificity, prevalence)
    threshold = aligned_threshold(scores, share)
    precision = precision_at_prevalence(recall, specificity, prevalence)
    return {
        "threshold": threshold, "prevalence": float(prevalence), "expected_share": float(share),
        "share_called": float(np.mean(scores >= threshold)), "n_images": int(scores.size),
        "estimates": {"recall": {"value": float(recall)}, "specificity": {"value": float(specificity)},
                      "precision": {"value": float(precision)}},
    }
