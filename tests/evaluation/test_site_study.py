"""The site study on a labelled folder: no image is scored at a threshold its own label helped choose."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.engine.objective import OperatingRule, operating_point
from tuner.evaluation.site_study import labelled_folds, metrics_at, site_study_figures


def _folder(seed=0):
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(150), rng.integers(1, 4, 150))  # 1-3 images a patient
    labels = (patients % 8 < 5).astype(int)  # a patient's images share a label; prevalence about 0.62
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1.5, labels.size) + 4 * labels - 1)))
    return labels, scores, patients


@pytest.mark.parametrize("size", [25, 100])
def test_no_image_is_scored_at_a_threshold_its_label_chose(size):
    labels, scores, patients = _folder()
    rule = OperatingRule(0.9, 0.98, None)
    folds = list(labelled_folds(labels, scores, patients, size, rule, draws=50, seed=3))
    assert len(folds) == 50
    for fold in folds:
        assert not set(fold.calibration) & set(fold.scored)
        assert len(fold.calibration) + len(fold.scored) == labels.size
        # Whole patients: none of the calibration's patients has an image among the scored.
        assert not set(patients[fold.calibration]) & set(patients[fold.scored])
        assert size <= len(fold.calibration) <= size + 2
        # The threshold is the rule's on the calibration images alone.
        chosen = operating_point(labels[fold.calibration], scores[fold.calibration], rule).threshold
        assert fold.threshold == chosen
    assert len({tuple(fold.calibration) for fold in folds}) > 45  # different draws


def test_the_study_figures():
    labels, scores, patients = _folder(1)
    rule = OperatingRule(0.9, 0.98, None)
    figures = site_study_figures(labels, scores, patients, strict_threshold=0.2, validation_recall=0.98,
                                 validation_specificity=0.9, rule=rule, sizes=(25, 50), draws=30, seed=0)
    assert figures["strict"] == {"threshold": 0.2, **metrics_at(labels, scores, 0.2)}
    assert set(figures["labelled"]) == {"25", "50"}
    for row in figures["labelled"].values():
        assert row["draws"] == 30
        for name in ("recall", "specificity", "precision", "accuracy"):
            assert 0 <= row[name]["p5"] <= 1 and 0 <= row[name]["mean"] <= 1
    prevalences = [row["prevalence"] for row in figures["unlabelled"]]
    assert prevalences == pytest.approx([labels.mean() - 0.1, labels.mean(), labels.mean() + 0.1], abs=1e-4)
    # At a higher stated prevalence more images are called pneumonia: recall up, specificity down.
    low, _, high = figures["unlabelled"]
    assert high["threshold"] < low["threshold"] and high["recall"] >= low["recall"]
