"""Does a folder of new images look like validation? Two tests on the model's scores, no Keras.

1. The share called PNEUMONIA against what the operating point calls at the stated prevalence: a
   change of prevalence, or of the scores, moves it.
2. Whether the folder's scores fit a mixture of validation's NORMAL and PNEUMONIA scores at any
   prevalence: a change of prevalence alone never fails it. The statistic is the Kolmogorov-Smirnov
   distance to the best-fitting mixture; its p-value comes from a bootstrap that redraws both the
   folder (from that mixture) and validation's scores, since both are samples.

Images of one patient share their label and look alike, so both tests count patients where they are known:
the share test's variances grow by each share's design effect, and the bootstrap draws whole patients.

Entry points: `shift_check` (both tests) and `shift_warning` (its one line for `predict`).
Evidence (the false-alarm rate on held-out validation patients): docs/results.md ("The shift warning").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

from tuner.evaluation.calibration import expected_positive_share

MIN_IMAGES = 50  # fewer say too little about a folder's share or its score distribution
ALPHA = 0.01  # each test warns below this p-value
MIXTURE_GRID = np.linspace(0.0, 1.0, 101)  # the prevalences tried
BOOTSTRAP_RESAMPLES = 500
LOGIT_CLIP = 1e-7


def design_effect(values: ArrayLike, groups: ArrayLike | None) -> float:
    """How many times the variance of the share of true `values` grows because images of a group are alike.

    The cluster-robust (ratio-estimator) variance over the binomial one, at least 1.

    Args:
        values: one 0/1 (or bool) per image.
        groups: one key per image, e.g. its patient (None: every image its own group).

    Returns:
        The design effect: 1.0 for independent images; the number of images when they are one group.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if groups is None or values.size < 2:
        return 1.0
    codes = pd.factorize(np.asarray(groups).ravel())[0]
    n_groups, mean = codes.max() + 1, values.mean()
    binomial = mean * (1 - mean) / values.size
    if n_groups == 1:
        return float(values.size)  # one patient: as good as one image
    if n_groups == values.size or binomial == 0:
        return 1.0
    totals, sizes = np.bincount(codes, weights=values), np.bincount(codes)
    robust = n_groups / (n_groups - 1) * np.sum((totals - mean * sizes) ** 2) / values.size**2
    return float(max(1.0, robust / binomial))


def share_test(called: int, n_images: int, recall: float, specificity: float, prevalence: float,
               n_positives: int, n_negatives: int, folder_effect: float = 1.0, recall_effect: float = 1.0,
               specificity_effect: float = 1.0) -> dict:
    """Is the share called PNEUMONIA what the operating point predicts at `prevalence`?

    Args:
        called: the folder's images called PNEUMONIA.
        n_images: all the folder's images.
        recall: the operating point's recall, measured on `n_positives` validation images (its sampling
            error counts too).
        specificity: its specificity, measured on `n_negatives` validation images.
        prevalence: the folder's share of PNEUMONIA, as stated.
        n_positives: validation's PNEUMONIA images.
        n_negatives: validation's NORMAL images.
        folder_effect: the design effect (`design_effect`) of the folder's share called; 1 for independent
            images.
        recall_effect: the design effect of validation's recall.
        specificity_effect: the design effect of validation's specificity.

    Returns:
        `observed`, `expected` (shares), `prevalence`, `p_value` (two-sided, normal approximation),
        `shifted` (p_value < ALPHA).
    """
    expected = expected_positive_share(recall, specificity, prevalence)
    # Validation's figures as (k + 1/2) / (n + 1), so that a perfect recall still has a variance.
    smoothed_recall = (recall * n_positives + 0.5) / (n_positives + 1)
    smoothed_specificity = (specificity * n_negatives + 0.5) / (n_negatives + 1)
    variance = (folder_effect * expected * (1 - expected) / n_images
                + recall_effect * prevalence**2 * smoothed_recall * (1 - smoothed_recall) / max(n_positives, 1)
                + specificity_effect * (1 - prevalence) ** 2 * smoothed_specificity * (1 - smoothed_specificity)
                / max(n_negatives, 1))
    observed = called / n_images
    z = (observed - expected) / np.sqrt(max(variance, 1e-12))
    p_value = float(2 * norm.sf(abs(z)))
    return {"observed": observed, "expected": float(expected), "prevalence": float(prevalence),
            "p_value": p_value, "shifted": p_value < ALPHA}


def _logits(probabilities: ArrayLike) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def _cdf(sorted_reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_reference, points, side="right") / sorted_reference.size


def _best_mixture(folder: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float]:
    """(distance, prevalence): the least KS distance of the folder to a mixture, and its mixture's share."""
    points = np.concatenate([folder, positives, negatives])
    empirical = _cdf(np.sort(folder), points)
    positive_cdf, negative_cdf = _cdf(np.sort(positives), points), _cdf(np.sort(negatives), points)
    mixtures = MIXTURE_GRID[:, None] * positive_cdf + (1 - MIXTURE_GRID[:, None]) * negative_cdf
    distances = np.abs(empirical - mixtures).max(axis=1)
    best = int(np.argmin(distances))
    return float(distances[best]), float(MIXTURE_GRID[best])


@dataclass(frozen=True)
class _Grouped:
    """Values sorted by their group (a patient), with each group's start and size."""

    values: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray


def _grouped(values: np.ndarray, groups: ArrayLike | None) -> _Grouped:
    codes = np.arange(values.size) if groups is None else pd.factorize(np.asarray(groups).ravel())[0]
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=codes.max() + 1 if codes.size else 0)
    return _Grouped(values[order], np.cumsum(sizes) - sizes, sizes)


def _whole_groups(grouped: _Grouped, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` values drawn as whole groups, with replacement (the last group cut to fit)."""
    if count == 0:
        return np.empty(0)
    picked = rng.integers(grouped.sizes.size, size=count)  # every group holds a value at least: enough
    ends = np.cumsum(grouped.sizes[picked])
    picked = picked[: int(np.searchsorted(ends, count)) + 1]
    sizes = grouped.sizes[picked]
    index = np.repeat(grouped.starts[picked] - (np.cumsum(sizes) - sizes), sizes) + np.arange(sizes.sum())
    return grouped.values[index[:count]]


def _within_groups(grouped: _Grouped, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each size k, k different values of one group drawn at random among those of k values or more (the
    largest groups where none is that large, then with replacement)."""
    drawn = []
    for size in np.unique(sizes):
        count = int((sizes == size).sum())
        eligible = np.flatnonzero(grouped.sizes >= size)
        if eligible.size == 0:
            eligible = np.flatnonzero(grouped.sizes == grouped.sizes.max())
        for group in rng.choice(eligible, count):
            start, length = grouped.starts[group], grouped.sizes[group]
            offsets = rng.choice(length, size, replace=length < size) if length > 1 else np.zeros(size, int)
            drawn.append(grouped.values[start + offsets])
    return np.concatenate(drawn) if drawn else np.empty(0)


def mixture_test(probabilities: ArrayLike, validation_labels: ArrayLike, validation_probabilities: ArrayLike,
                 seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, groups: ArrayLike | None = None,
                 validation_groups: ArrayLike | None = None) -> dict:
    """Do the folder's scores fit validation's NORMAL and PNEUMONIA scores mixed at some prevalence?

    The bootstrap redraws validation by whole patients, and gives the null folder the folder's patients:
    each one's label drawn once, its k images from one validation patient of that label with k images or more.

    Args:
        probabilities: the model's PNEUMONIA probability of each image of the folder.
        validation_labels: validation's labels, 1 = PNEUMONIA.
        validation_probabilities: the model's probability of each validation image.
        seed: seeds the bootstrap.
        resamples: bootstrap resamples.
        groups: the patient of each image of the folder (None: images independent).
        validation_groups: the patient of each validation image (None: images independent).

    Returns:
        `distance` (KS, on logits), `fitted_prevalence` (the best mixture's share of PNEUMONIA),
        `p_value` (bootstrap), `shifted` (p_value < ALPHA).
    """
    folder = _logits(probabilities)
    labels = np.asarray(validation_labels).ravel().astype(bool)
    reference = _logits(validation_probabilities)
    positives, negatives = reference[labels], reference[~labels]
    distance, fitted = _best_mixture(folder, positives, negatives)
    validation_groups = None if validation_groups is None else np.asarray(validation_groups).ravel()
    positive_groups = _grouped(positives, None if validation_groups is None else validation_groups[labels])
    negative_groups = _grouped(negatives, None if validation_groups is None else validation_groups[~labels])
    folder_sizes = None
    if groups is not None:
        folder_sizes = np.bincount(pd.factorize(np.asarray(groups).ravel())[0])
        folder_sizes = folder_sizes if (folder_sizes > 1).any() else None  # one image a patient: images
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(resamples):
        # A folder drawn from the fitted mixture, judged against validation redrawn: both are samples. The folder's
        # patients keep their number of images, each patient's label drawn once and its images from one patient.
        if folder_sizes is None:
            n_positive = rng.binomial(folder.size, fitted)
            sample = np.concatenate([rng.choice(positives, n_positive),
                                     rng.choice(negatives, folder.size - n_positive)])
        else:
            positive = rng.random(folder_sizes.size) < fitted
            sample = np.concatenate([_within_groups(positive_groups, folder_sizes[positive], rng),
                                     _within_groups(negative_groups, folder_sizes[~positive], rng)])
        null_distance, _ = _best_mixture(sample, _whole_groups(positive_groups, positives.size, rng),
                                         _whole_groups(negative_groups, negatives.size, rng))
        exceed += null_distance >= distance
    p_value = (exceed + 1) / (resamples + 1)
    return {"distance": distance, "fitted_prevalence": fitted, "p_value": float(p_value), "shifted": p_value < ALPHA}


def shift_check(probabilities: ArrayLike, threshold: float, recall: float, specificity: float, prevalence: float,
                n_positives: int, n_negatives: int, validation_labels: ArrayLike | None = None,
                validation_probabilities: ArrayLike | None = None, seed: int = 0, groups: ArrayLike | None = None,
                validation_groups: ArrayLike | None = None) -> dict | None:
    """Both tests on a folder's probabilities (None for fewer than MIN_IMAGES images).

    Args:
        probabilities: the model's PNEUMONIA probability of each image of the folder.
        threshold: the operating point in use.
        recall: its recall, measured on `n_positives` images.
        specificity: its specificity, measured on `n_negatives` images.
        prevalence: the share of PNEUMONIA where the folder comes from, as stated (else the run's).
        n_positives: the PNEUMONIA images the recall was measured on.
        n_negatives: the NORMAL images the specificity was measured on.
        validation_labels: validation's labels, for the mixture test; without them it is skipped.
        validation_probabilities: the model's validation probabilities, for the mixture test.
        seed: seeds the mixture test's bootstrap.
        groups: the patient of each image of the folder (None: every image its own): both tests then count
            patients (`design_effect`, the bootstrap).
        validation_groups: the patient of each validation image (None: every image its own).

    Returns:
        `n_images`, `share` (`share_test`), `mixture` (`mixture_test` or None), `shifted` (either found it).
    """
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    if scores.size < MIN_IMAGES:
        return None
    effects = {"folder_effect": design_effect(scores >= threshold, groups)}
    if validation_labels is not None and validation_probabilities is not None and validation_groups is not None:
        labels = np.asarray(validation_labels).ravel().astype(bool)
        called = np.asarray(validation_probabilities, dtype=np.float64).ravel() >= threshold
        patients = np.asarray(validation_groups).ravel()
        effects["recall_effect"] = design_effect(called[labels], patients[labels])
        effects["specificity_effect"] = design_effect(~called[~labels], patients[~labels])
    share = share_test(int((scores >= threshold).sum()), scores.size, recall, specificity, prevalence,
                       n_positives, n_negatives, **effects)
    mixture = None
    if validation_labels is not None and validation_probabilities is not None:
        mixture = mixture_test(scores, validation_labels, validation_probabilities, seed=seed, groups=groups,
                               validation_groups=validation_groups)
    return {"n_images": int(scores.size), "share": share, "mixture": mixture,
            "shifted": share["shifted"] or bool(mixture and mixture["shifted"])}


def shift_warning(check: dict) -> str | None:
    """The one warning line for a `shift_check` that found a shift, else None.

    Args:
        check: `shift_check`'s result, or None.
    """
    if not check or not check["shifted"]:
        return None
    share, mixture = check["share"], check["mixture"]
    found = []
    if share["shifted"]:
        found.append(f"{share['observed']:.0%} were called pneumonia where the operating point calls "
                     f"{share['expected']:.0%} at prevalence {share['prevalence']:.3g} (p = {share['p_value']:.2g})")
    if mixture and mixture["shifted"]:
        found.append(f"their scores fit no mix of validation's NORMAL and PNEUMONIA scores at any prevalence (closest "
                     f"at {mixture['fitted_prevalence']:.2f}: p = {mixture['p_value']:.2g})")
    return (f"these {check['n_images']} images do not look like validation: {'; and '.join(found)}; the operating "
            "point may not hold here: calibrate one for this site (calibrate --labelled DIR or --images DIR "
            "--prevalence P, then --site NAME)")
