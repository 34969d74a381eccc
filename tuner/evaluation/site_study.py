"""`test --site-study`: what site calibration recovers, measured on the test folder as if it were a site.

One counted look. Labelled calibration draws n images of whole patients, applies the run's rule to
them and scores the other images at that threshold; no image is ever scored at a threshold its own
label helped choose. Unlabelled alignment uses the folder's scores and a stated prevalence, no label.
Entry point: `run_site_study`; `site_study_figures` computes the figures of one labelled folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tuner.core.atomic import write_json
from tuner.core.runs import RunPaths
from tuner.engine.objective import OperatingRule, operating_point
from tuner.evaluation.calibration import unlabelled_operating_point

STUDY_SIZES = (25, 50, 100, 200)
STUDY_DRAWS = 300
PREVALENCE_OFFSETS = (-0.1, 0.0, 0.1)
STUDY_METRICS = ("recall", "specificity", "precision", "accuracy")


@dataclass(frozen=True)
class Fold:
    """One draw of labelled calibration: the images that chose the threshold, and the ones scored at it.

    Attributes:
        calibration: the indices of the images that chose the threshold (whole patients).
        scored: the indices of the other images, scored at it.
        threshold: the threshold the run's rule chose on the calibration images.
    """

    calibration: np.ndarray  # image indices
    scored: np.ndarray
    threshold: float


def metrics_at(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Recall, specificity, precision and accuracy at a threshold (0 where undefined).

    Args:
        labels: 0/1 labels, 1 = PNEUMONIA.
        probabilities: one PNEUMONIA probability per label.
        threshold: PNEUMONIA when `probability >= threshold`.

    Returns:
        {recall, specificity, precision, accuracy}.
    """
    called = probabilities >= threshold
    positive = labels.astype(bool)
    tp, fp = int((called & positive).sum()), int((called & ~positive).sum())
    fn, tn = int((~called & positive).sum()), int((~called & ~positive).sum())
    return {"recall": tp / max(tp + fn, 1), "specificity": tn / max(tn + fp, 1),
            "precision": tp / max(tp + fp, 1), "accuracy": (tp + tn) / labels.size}


def labelled_folds(labels: np.ndarray, probabilities: np.ndarray, patients: np.ndarray, size: int,
                   rule: OperatingRule, draws: int, seed: int) -> Iterator[Fold]:
    """Random folds of labelled calibration on one folder.

    Each fold takes patients in a random order until `size` images are reached (the last patient whole, so
    a fold may hold a few more), drawn again when they lack a class; the run's rule chooses the threshold
    on them (at their own prevalence unless the rule states one); the rest are scored.

    Args:
        labels: 0/1 labels, 1 = PNEUMONIA.
        probabilities: one PNEUMONIA probability per image.
        patients: one patient (or group) per image; never split between calibration and scoring.
        size: the calibration images a fold should hold.
        rule: the run's operating rule.
        draws: how many folds.
        seed: seeds the draws.

    Yields:
        `Fold`s, `draws` of them.

    Raises:
        ValueError: `size` leaves no image to score, or draws keep lacking a class.
    """
    if size >= labels.size:
        raise ValueError(f"{size} calibration images leave none of {labels.size} to score")
    rng = np.random.default_rng(seed)
    unique, unit = np.unique(patients, return_inverse=True)
    members = [np.flatnonzero(unit == index) for index in range(unique.size)]
    made, tries = 0, 0
    while made < draws:
        tries += 1
        if tries > 50 * draws:
            raise ValueError(f"draws of {size} images keep missing a class: too few NORMAL or PNEUMONIA patients")
        order = rng.permutation(unique.size)
        counts = np.cumsum([members[index].size for index in order])
        taken = order[: int(np.searchsorted(counts, size)) + 1]
        calibration = np.sort(np.concatenate([members[index] for index in taken]))
        if labels[calibration].min() == labels[calibration].max() or calibration.size >= labels.size:
            continue  # one class only: no threshold can be chosen on it
        scored = np.setdiff1d(np.arange(labels.size), calibration)
        threshold = operating_point(labels[calibration], probabilities[calibration], rule).threshold
        made += 1
        yield Fold(calibration, scored, threshold)


def _summary(rows: list[dict]) -> dict:
    return {name: {"mean": float(np.mean([row[name] for row in rows])),
                   "p5": float(np.percentile([row[name] for row in rows], 5))} for name in STUDY_METRICS}


def site_study_figures(labels: np.ndarray, probabilities: np.ndarray, patients: np.ndarray, strict_threshold: float,
                       validation_recall: float, validation_specificity: float, rule: OperatingRule,
                       sizes=STUDY_SIZES, draws: int = STUDY_DRAWS, seed: int = 0) -> dict:
    """The study's figures on one labelled folder (see the module docstring).

    Args:
        labels: 0/1 labels, 1 = PNEUMONIA.
        probabilities: the model's PNEUMONIA probability of each image.
        patients: one patient (or group) per image.
        strict_threshold: validation's threshold.
        validation_recall: validation's recall there, for the unlabelled alignment.
        validation_specificity: validation's specificity there.
        rule: the run's operating rule.
        sizes: the numbers of calibration images to try.
        draws: folds per size.
        seed: seeds the draws (each size its own stream).

    Returns:
        `strict` (metrics at validation's threshold), `labelled` ({n: {calibration_images (mean), draws,
        metric: {mean, p5}}}, for the sizes that leave at least half the folder to score), `unlabelled`
        ([{prevalence, threshold, metric values}] at the folder's prevalence and that ± 0.1, kept in
        [0.01, 0.99]), `prevalence` and `n_images` of the folder.

    Raises:
        ValueError: draws of some size keep lacking a class.
    """
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labelled = {}
    for size in sizes:
        if size > labels.size / 2:  # too few images left to score: not drawn
            continue
        rows, used = [], []
        for fold in labelled_folds(labels, probabilities, patients, size, rule, draws, seed + size):
            rows.append(metrics_at(labels[fold.scored], probabilities[fold.scored], fold.threshold))
            used.append(fold.calibration.size)
        labelled[str(size)] = {"calibration_images": float(np.mean(used)), "draws": draws, **_summary(rows)}
    prevalence = float(labels.mean())
    unlabelled = []
    for offset in PREVALENCE_OFFSETS:
        stated = round(min(max(prevalence + offset, 0.01), 0.99), 4)
        aligned = unlabelled_operating_point(probabilities, validation_recall, validation_specificity, stated)
        unlabelled.append({"prevalence": stated, "threshold": aligned["threshold"],
                           **metrics_at(labels, probabilities, aligned["threshold"])})
    return {"strict": {"threshold": strict_threshold, **metrics_at(labels, probabilities, strict_threshold)},
            "labelled": labelled, "unlabelled": unlabelled, "prevalence": prevalence, "n_images": int(labels.size)}


def run_site_study(run: RunPaths, trial_id: str | None = None, data_dir: str | None = None,
                   draws: int = STUDY_DRAWS) -> dict:
    """The study on the run's test folder, one counted look; written to test/site_study.json.

    Args:
        run: the run folder.
        trial_id: the trial to study, or None for the run's chosen model.
        data_dir: where the run's data folder is now, when it moved.
        draws: folds per size.

    Returns:
        `site_study_figures`' result with the run, trial, rule and the look's number (`test_evaluations`).

    Raises:
        ToolkitError: as `holdout.scored_test_folder`; a test folder too small to draw from.
    """
    from tuner.core.errors import ToolkitError
    from tuner.evaluation.holdout import scored_test_folder
    from tuner.evaluation.looks import count_test_look

    trial, settings, _, manifest, _, test, probabilities = scored_test_folder(run, trial_id, data_dir)
    if len(test) < 2 * STUDY_SIZES[0] or test["label"].nunique() < 2:
        raise ToolkitError(f"the test folder holds {len(test)} images: the site study needs both classes and at "
                           f"least {2 * STUDY_SIZES[0]} (a run made with --limit has too few)")
    point = trial.operating_point
    try:  # patients, and byte-identical images across patients (the split's groups), are never split
        figures = site_study_figures(test["label"].to_numpy(), probabilities, test["group"].to_numpy(),
                                     point.threshold, point.recall, point.specificity, OperatingRule.of(settings),
                                     draws=draws, seed=settings.data.seed)
    except ValueError as error:
        raise ToolkitError(f"the site study cannot draw from this test folder: {error}") from None
    result = {"run": run.name, "trial_id": trial.trial_id, "precision_floor": settings.precision_floor,
              "recall_target": settings.recall_target, **figures,
              "synthetic_data": bool(manifest.get("synthetic_data", False))}
    result["test_evaluations"] = count_test_look(run, trial.trial_id, site_study=True)
    write_json(run.test_dir / "site_study.json", result)
    return result
