"""The shift check: a changed share called pneumonia, and scores that fit no mix of validation's."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.evaluation.shift import design_effect, mixture_test, share_test, shift_check, shift_warning


def _scores(rng, n_negative, n_positive, negative_shift=0.0):
    negatives = rng.normal(-3 + negative_shift, 1.0, n_negative)
    positives = rng.normal(3, 1.0, n_positive)
    logits = np.r_[negatives, positives]
    return np.r_[np.zeros(n_negative, int), np.ones(n_positive, int)], 1 / (1 + np.exp(-logits))


def test_the_share_test():
    # recall 0.98, specificity 0.9 at prevalence 0.6 call 0.628: 63 of 100 is what it predicts, 80 is not.
    assert not share_test(63, 100, 0.98, 0.9, 0.6, 700, 300)["shifted"]
    found = share_test(80, 100, 0.98, 0.9, 0.6, 700, 300)
    assert found["shifted"] and found["expected"] == 0.98 * 0.6 + 0.1 * 0.4 and found["observed"] == 0.8


def test_a_prevalence_change_alone_fits_a_mixture_and_a_score_shift_does_not():
    rng = np.random.default_rng(0)
    validation_labels, validation_scores = _scores(rng, 270, 740)
    _, other_prevalence = _scores(rng, 300, 150)  # prevalence 0.33 instead of 0.73, the same scores
    fitted = mixture_test(other_prevalence, validation_labels, validation_scores, seed=1)
    assert not fitted["shifted"] and abs(fitted["fitted_prevalence"] - 1 / 3) < 0.06
    _, shifted = _scores(rng, 230, 390, negative_shift=2.0)  # normal images score higher, as on the test folder
    assert mixture_test(shifted, validation_labels, validation_scores, seed=1)["shifted"]


def test_shift_check_and_its_warning_line():
    rng = np.random.default_rng(2)
    validation_labels, validation_scores = _scores(rng, 270, 740)
    threshold = 0.5
    called = validation_scores >= threshold
    recall, specificity = called[validation_labels == 1].mean(), (~called[validation_labels == 0]).mean()
    _, folder = _scores(rng, 230, 390, negative_shift=2.5)
    assert shift_check(folder[:49], threshold, recall, specificity, 0.625, 740, 270) is None  # too few images
    check = shift_check(folder, threshold, recall, specificity, 0.625, 740, 270, validation_labels, validation_scores)
    assert check["shifted"] and check["share"]["shifted"] and check["mixture"]["shifted"]
    line = shift_warning(check)
    assert "\n" not in line and "called pneumonia" in line and "fit no mix" in line and "calibrate" in line
    _, alike = _scores(rng, 100, 170)
    quiet = shift_check(alike, threshold, recall, specificity, 0.63, 740, 270, validation_labels, validation_scores)
    assert not quiet["shifted"] and shift_warning(quiet) is None


def test_the_design_effect_of_a_patients_alike_images():
    values = np.array([1, 0, 1, 1, 0, 0, 1, 0] * 10)
    assert design_effect(values, None) == 1.0
    assert design_effect(values, np.arange(values.size)) == 1.0  # one image a patient
    patients = np.repeat(np.arange(values.size), 3)  # three identical images a patient
    assert 2.9 < design_effect(np.repeat(values, 3), patients) < 3.1
    assert design_effect([1, 0, 1, 1], ["a", "a", "a", "a"]) == 4  # one patient: as good as one image


def _patients_scores(rng, n_patients, images_per_patient=4, positive_share=0.7):
    """Patients whose images share their label and, up to a little noise, their score."""
    labels = rng.random(n_patients) < positive_share
    logits = np.where(labels, rng.normal(2.0, 1.5, n_patients), rng.normal(-2.0, 1.5, n_patients))
    images = np.repeat(logits, images_per_patient) + rng.normal(0, 0.1, n_patients * images_per_patient)
    return (np.repeat(labels.astype(int), images_per_patient), 1 / (1 + np.exp(-images)),
            np.repeat(np.arange(n_patients), images_per_patient))


def test_folders_like_validation_are_flagged_at_the_nominal_rate_when_patients_are_counted():
    """Folders of whole patients from validation's population: counting images as independent flags many of
    them; counting patients, about ALPHA of them."""
    rng = np.random.default_rng(3)
    labels, scores, patients = _patients_scores(rng, 250)
    called = scores >= 0.5
    recall, specificity = called[labels == 1].mean(), (~called[labels == 0]).mean()
    prevalence, counts = labels.mean(), (int(labels.sum()), int((labels == 0).sum()))
    flagged = {"patients": 0, "images": 0}
    for _ in range(300):
        _, folder_scores, folder_patients = _patients_scores(rng, 75, positive_share=prevalence)
        folder_called = folder_scores >= 0.5
        effects = {"folder_effect": design_effect(folder_called, folder_patients),
                   "recall_effect": design_effect(called[labels == 1], patients[labels == 1]),
                   "specificity_effect": design_effect(~called[labels == 0], patients[labels == 0])}
        arguments = (int(folder_called.sum()), folder_called.size, recall, specificity, prevalence, *counts)
        flagged["patients"] += share_test(*arguments, **effects)["shifted"]
        flagged["images"] += share_test(*arguments)["shifted"]
    assert effects["folder_effect"] > 3
    assert flagged["patients"] / 300 <= 0.04 < 0.1 <= flagged["images"] / 300, flagged


@pytest.mark.slow  # builds or runs a real MobileNetV2, or resamples at length
def test_the_mixture_test_counting_patients_keeps_its_rate_on_folders_like_validation():
    """Folders of whole patients from validation's population, at prevalences from 0.3 to 0.8: the bootstrap that
    draws whole patients flags about ALPHA of them; drawing images as independent flags many."""
    rng = np.random.default_rng(4)
    labels, scores, patients = _patients_scores(rng, 250)
    flagged = {"patients": 0, "images": 0}
    for folder in range(30):
        _, folder_scores, folder_patients = _patients_scores(rng, 40, positive_share=rng.uniform(0.3, 0.8))
        flagged["patients"] += mixture_test(folder_scores, labels, scores, seed=folder, resamples=100,
                                            groups=folder_patients, validation_groups=patients)["shifted"]
        flagged["images"] += mixture_test(folder_scores, labels, scores, seed=folder, resamples=100)["shifted"]
    assert flagged["patients"] <= 2 and flagged["images"] >= 6, flagged
