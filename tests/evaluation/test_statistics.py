"""Test-set statistics: point metrics, bootstrap intervals (image and patient), the baseline."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from tuner.evaluation import statistics as evaluation
from tuner.evaluation.statistics import METRIC_NAMES, always_positive_baseline


def simulated_test_set(seed: int = 0, n_images: int = 624, n_patients: int = 600):
    """A test set shaped like the real one: ~62 % pneumonia, a few patients with several images."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_images) < 0.625).astype(int)
    probabilities = np.clip(rng.normal(0.3 + 0.45 * labels, 0.2), 0, 1).round(3)
    patients = np.array([f"person{index}" for index in rng.integers(0, n_patients, n_images)])
    return labels, probabilities, patients


def test_known_example_point_values():
    # At 0.5: tp 3, fn 1, fp 1, tn 5.
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    probabilities = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.1, 0.05])
    result = evaluation.holdout_metrics(labels, probabilities, 0.5, n_resamples=200)
    assert result["confusion_matrix"] == {"tn": 5, "fp": 1, "fn": 1, "tp": 3}
    values = {name: metric["value"] for name, metric in result["metrics"].items()}
    predicted = (probabilities >= 0.5).astype(int)
    assert values == {
        "recall": recall_score(labels, predicted),
        "specificity": recall_score(labels, predicted, pos_label=0),
        "precision": precision_score(labels, predicted),
        "accuracy": 0.8,
        "f1": f1_score(labels, predicted),
        "roc_auc": roc_auc_score(labels, probabilities),
        "pr_auc": average_precision_score(labels, probabilities),
    }
    by_hand = (values["recall"], values["specificity"], values["precision"], values["f1"])
    assert by_hand == (0.75, 5 / 6, 0.75, 0.75)
    assert values["roc_auc"] == pytest.approx(21 / 24)  # 3 of 24 pairs misordered: 0.6 < 0.7, 0.3 < 0.7 and 0.4
    assert result["threshold"] == 0.5 and result["n_images"] == 10 and result["n_patients"] is None
    json.dumps(result, allow_nan=False)


def test_threshold_is_inclusive():
    result = evaluation.holdout_metrics([1, 0], [0.5, 0.49], 0.5, n_resamples=50)
    assert result["confusion_matrix"] == {"tn": 1, "fp": 0, "fn": 0, "tp": 1}


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_resample_metrics_equal_sklearn_on_repeated_images(seed):
    rng = np.random.default_rng(seed)
    n_images = 40
    labels = (rng.random(n_images) < 0.5).astype(int)
    labels[:2] = [0, 1]
    probabilities = rng.integers(0, 8, n_images) / 8  # coarse, so many ties
    threshold = 0.5
    weights = rng.integers(0, 3, size=(6, n_images)).astype(float)
    weights[0] = 1.0  # the original sample
    weights[1] = np.where(labels == 1, 2.0, 0.0)  # positives only: areas are 0 by convention
    computed = evaluation._WeightedMetrics(labels, probabilities, threshold)(weights)
    assert computed.shape == (len(METRIC_NAMES), len(weights))
    for column, row in enumerate(weights):
        repeat = row.astype(int)
        repeated_labels, repeated_probabilities = np.repeat(labels, repeat), np.repeat(probabilities, repeat)
        expected = evaluation._point_metrics(repeated_labels, repeated_probabilities, threshold)
        expected_values = [expected[name] for name in METRIC_NAMES]
        np.testing.assert_allclose(computed[:, column], expected_values, rtol=1e-12, atol=1e-12)


def test_intervals_contain_point_values():
    labels, probabilities, patients = simulated_test_set()
    for unit in (None, patients):
        result = evaluation.holdout_metrics(labels, probabilities, 0.5, patients=unit)
        for name, metric in result["metrics"].items():
            assert metric["low"] <= metric["value"] <= metric["high"], name
            assert 0.0 < metric["high"] - metric["low"] < 0.2, name  # a real, finite spread
        json.dumps(result, allow_nan=False)


def test_patient_bootstrap_resamples_whole_patients():
    # Every patient has exactly two identical images. Resampling patients must then give the
    # same intervals as resampling single images of the de-duplicated set with the same seed;
    # resampling images of the doubled set would not.
    labels, probabilities, _ = simulated_test_set(seed=3, n_images=150)
    doubled_labels = np.repeat(labels, 2)
    doubled_probabilities = np.repeat(probabilities, 2)
    doubled_patients = np.repeat(np.arange(150), 2)
    by_patient = evaluation.holdout_metrics(
        doubled_labels, doubled_probabilities, 0.5, patients=doubled_patients, seed=7
    )
    single = evaluation.holdout_metrics(labels, probabilities, 0.5, seed=7)
    by_image = evaluation.holdout_metrics(doubled_labels, doubled_probabilities, 0.5, seed=7)
    assert by_patient["n_patients"] == 150 and by_patient["n_images"] == 300
    assert by_patient["bootstrap"]["unit"] == "patient" and by_image["bootstrap"]["unit"] == "image"
    for name in METRIC_NAMES:
        for bound in ("low", "high"):
            assert by_patient["metrics"][name][bound] == pytest.approx(single["metrics"][name][bound], abs=1e-12)
    widths = {
        label: result["metrics"]["accuracy"]["high"] - result["metrics"]["accuracy"]["low"]
        for label, result in (("patient", by_patient), ("image", by_image))
    }
    assert widths["patient"] > 1.2 * widths["image"]  # treating duplicates as independent is overconfident


def test_bootstrap_is_deterministic_for_a_seed():
    labels, probabilities, patients = simulated_test_set(seed=1, n_images=200, n_patients=120)
    first = evaluation.holdout_metrics(labels, probabilities, 0.4, patients=patients, n_resamples=500, seed=5)
    again = evaluation.holdout_metrics(labels, probabilities, 0.4, patients=patients, n_resamples=500, seed=5)
    other = evaluation.holdout_metrics(labels, probabilities, 0.4, patients=patients, n_resamples=500, seed=6)
    assert first == again
    assert first["metrics"]["roc_auc"]["low"] != other["metrics"]["roc_auc"]["low"]
    assert first["bootstrap"] == {
        "method": "percentile",
        "confidence_level": 0.95,
        "n_resamples": 500,
        "seed": 5,
        "unit": "patient",
    }


@pytest.mark.filterwarnings("error")
def test_degenerate_test_sets_do_not_crash():
    perfect = evaluation.holdout_metrics([0, 0, 1, 1, 1], [0.1, 0.2, 0.7, 0.8, 0.9], 0.5, n_resamples=300)
    for name in METRIC_NAMES:
        low, high = perfect["metrics"][name]["low"], perfect["metrics"][name]["high"]
        assert perfect["metrics"][name]["value"] == 1.0 and high == 1.0, name
        assert 0.0 <= low <= 1.0, name  # resamples with one class score 0 on the areas
    assert perfect["metrics"]["recall"]["low"] == 1.0  # recall is 1 in every resample
    one_class = evaluation.holdout_metrics(
        [1, 1, 1], [0.2, 0.6, 0.9], 0.5, patients=["a", "a", "b"], n_resamples=100
    )
    assert one_class["metrics"]["roc_auc"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    assert one_class["metrics"]["specificity"]["value"] == 0.0
    assert one_class["n_patients"] == 2
    json.dumps(one_class, allow_nan=False)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(y_true=[0, 1], probabilities=[0.5], threshold=0.5),
        dict(y_true=[0, 1], probabilities=[0.5, 0.6], threshold=float("nan")),
        dict(y_true=[0, 1], probabilities=[0.5, 0.6], threshold=0.5, patients=["a"]),
        dict(y_true=[0, 1], probabilities=[0.5, 0.6], threshold=0.5, n_resamples=0),
    ],
)
def test_bad_inputs_raise(arguments):
    with pytest.raises(ValueError):
        evaluation.holdout_metrics(**arguments)


def test_full_size_run_is_fast():
    labels, probabilities, patients = simulated_test_set()
    started = time.perf_counter()
    evaluation.holdout_metrics(labels, probabilities, 0.5, patients=patients, n_resamples=2000)
    assert time.perf_counter() - started < 2.0


def test_always_positive_baseline():
    baseline = always_positive_baseline([1, 1, 1, 0, 0, 1, 1, 0, 1, 0])  # prevalence 0.6
    assert baseline == pytest.approx(
        {
            "recall": 1.0,
            "specificity": 0.0,
            "precision": 0.6,
            "accuracy": 0.6,
            "f1": 0.75,  # 2 * 0.6 / 1.6
            "roc_auc": 0.5,
            "pr_auc": 0.6,
        },
        abs=1e-12,
    )

