"""Site calibration's arithmetic: quantile alignment, labelled calibration, the recall that n images support."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.engine.objective import OperatingRule, operating_point
from tuner.evaluation.calibration import (
    aligned_threshold,
    expected_positive_share,
    labelled_operating_point,
    recall_lower_bound,
    supported_recall_text,
    unlabelled_operating_point,
)


def test_the_aligned_threshold_against_a_hand_computation():
    scores = [0.2, 0.9, 0.4, 0.8, 0.7]  # sorted down: 0.9 0.8 0.7 0.4 0.2
    assert aligned_threshold(scores, 0.4) == pytest.approx(0.75)  # 2 of 5 called: between 0.8 and 0.7
    assert aligned_threshold(scores, 0.5) == pytest.approx(0.55)  # 2.5 rounds up: 3 called, between 0.7 and 0.4
    assert aligned_threshold(scores, 1.0) == 0.2  # every image called
    above = aligned_threshold(scores, 0.0)
    assert above > 0.9 and np.mean(np.array(scores) >= above) == 0.0
    with pytest.raises(ValueError):
        aligned_threshold([], 0.5)


def test_unlabelled_calibration_calls_what_validation_predicts_at_the_stated_prevalence():
    # recall 0.9, specificity 0.8 at prevalence 0.5 call 0.9 * 0.5 + 0.2 * 0.5 = 55 % of images.
    assert expected_positive_share(0.9, 0.8, 0.5) == pytest.approx(0.55)
    scores = np.arange(1, 21) / 21  # 20 images: 11 called, between the 11th (10/21) and 12th (9/21) highest
    point = unlabelled_operating_point(scores, recall=0.9, specificity=0.8, prevalence=0.5)
    assert point["threshold"] == pytest.approx(9.5 / 21)
    assert point["share_called"] == pytest.approx(0.55) and point["expected_share"] == pytest.approx(0.55)
    # Precision at the prevalence: 0.45 / 0.55.
    assert point["estimates"]["precision"]["value"] == pytest.approx(0.45 / 0.55)


def _site(seed=0, n_negative=120, n_positive=300):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n_negative, int), np.ones(n_positive, int)]
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1.2, labels.size) + 4 * labels - 1.5)))
    patients = np.arange(labels.size) // 2  # two images a patient
    return labels, scores, patients


def test_labelled_calibration_applies_the_runs_rule_with_patient_intervals():
    # (That a site made of validation's own images gets validation's threshold: tests/cli/test_sites.py.)
    labels, scores, patients = _site()
    rule = OperatingRule(0.9, 0.98, None)
    result = labelled_operating_point(labels, scores, patients, rule)
    point = operating_point(labels, scores, rule)
    assert result["threshold"] == point.threshold
    assert result["estimates"]["recall"]["value"] == point.recall >= 0.98
    assert result["estimates"]["precision"]["value"] == pytest.approx(point.precision)
    assert result["prevalence"] == pytest.approx(300 / 420) and result["n_patients"] == 210
    for name in ("recall", "specificity", "precision"):
        estimate = result["estimates"][name]
        assert estimate["low"] <= estimate["value"] <= estimate["high"]
    with pytest.raises(ValueError, match="NORMAL and PNEUMONIA"):
        labelled_operating_point(np.ones(5), np.linspace(0, 1, 5), np.arange(5), rule)


def test_a_stated_prevalence_sets_the_floor_and_the_precision_reported():
    labels, scores, patients = _site()
    low = labelled_operating_point(labels, scores, patients, OperatingRule(0.9, 0.98, 0.2))
    assert low["prevalence"] == 0.2
    recall, specificity = (low["estimates"][name]["value"] for name in ("recall", "specificity"))
    assert low["estimates"]["precision"]["value"] == pytest.approx(recall * 0.2 / (recall * 0.2 + (1 - specificity)
                                                                                   * 0.8))


def test_the_recall_that_few_pneumonia_images_support():
    # No miss among n bounds recall at 0.05 ** (1 / n): about 1 - 3 / n.
    assert recall_lower_bound(100, 100) == pytest.approx(0.05 ** (1 / 100))
    assert recall_lower_bound(20, 20) == pytest.approx(0.05 ** (1 / 20)) and 0.05 ** (1 / 20) < 0.9
    labels, scores, patients = _site(n_positive=40)
    rule = OperatingRule(0.9, 0.98, None)
    result = labelled_operating_point(labels, scores, patients, rule)
    assert not result["target_supported"]
    assert "40 pneumonia images cannot show recall >= 0.98" in supported_recall_text(result, 0.98)
    # The conservative choice: 40 images can never show 0.98, so every site pneumonia is found.
    conservative = labelled_operating_point(labels, scores, patients, rule, conservative=True)
    assert conservative["threshold"] == scores[labels == 1].min()
    assert conservative["estimates"]["recall"]["value"] == 1.0
    # With 300 pneumonia images a target of 0.95 can be shown: the highest threshold whose bound reaches it.
    labels, scores, patients = _site(n_positive=300)
    rule = OperatingRule(0.9, 0.95, None)
    conservative = labelled_operating_point(labels, scores, patients, rule, conservative=True)
    assert conservative["target_supported"] and conservative["recall_supported"] >= 0.95
    found = int(round(conservative["estimates"]["recall"]["value"] * 300))
    assert recall_lower_bound(found - 1, 300) < 0.95  # one fewer found would not show it
