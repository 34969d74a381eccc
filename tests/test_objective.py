"""The search objective: threshold choice, the scalar's order, degenerate inputs, ranking."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from tuner.objective import (
    MAX_EXACT_POSITIVES,
    OperatingPoint,
    objective_score,
    operating_point,
    rank_trials,
    validation_metrics,
)


def brute_force_operating_point(labels, probabilities, floor) -> OperatingPoint:
    """The rule spelled out in plain Python: try every observed probability as threshold."""
    n_positives = int(sum(labels))
    rows = []  # (threshold, recall, precision)
    for threshold in sorted(set(float(p) for p in probabilities)):
        tp = sum(1 for y, p in zip(labels, probabilities) if p >= threshold and y == 1)
        fp = sum(1 for y, p in zip(labels, probabilities) if p >= threshold and y == 0)
        if tp > 0:
            rows.append((threshold, tp / n_positives, tp / (tp + fp)))
    meeting = [row for row in rows if row[2] >= floor]
    if meeting:
        best = max(meeting, key=lambda row: (row[1], row[2], row[0]))
        return OperatingPoint(best[0], best[1], best[2], True)
    best = max(rows, key=lambda row: (row[2], row[1], row[0]))
    return OperatingPoint(best[0], best[1], best[2], False)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("floor", [0.5, 0.75, 0.8, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("decimals", [1, 2, 6])  # 1 and 2 decimals force many tied probabilities
def test_threshold_matches_brute_force(seed, floor, decimals):
    rng = np.random.default_rng(seed)
    n_images = int(rng.integers(5, 120))
    labels = (rng.random(n_images) < rng.uniform(0.2, 0.8)).astype(int)
    labels[0], labels[1] = 0, 1  # both classes present
    signal = rng.uniform(0.0, 0.6)
    probabilities = np.clip(rng.normal(0.5 + signal * (labels - 0.5), 0.25), 0, 1).round(decimals)

    expected = brute_force_operating_point(labels.tolist(), probabilities.tolist(), floor)
    assert operating_point(labels, probabilities, floor) == expected


def test_threshold_at_exact_floor_and_ties():
    # By threshold: 0.9 -> 1/1 (recall 1/4), 0.85 -> 1/2, 0.8 -> 2/3, 0.7 -> 3/4 (recall 3/4),
    # 0.4 (two tied images) -> 4/6 (recall 1), 0.2 -> 4/7, 0.1 -> 4/8.
    labels = [1, 0, 1, 1, 1, 0, 0, 0]
    probabilities = [0.9, 0.85, 0.8, 0.7, 0.4, 0.4, 0.2, 0.1]
    assert operating_point(labels, probabilities, 0.75) == OperatingPoint(0.7, 0.75, 0.75, True)
    assert operating_point(labels, probabilities, 0.76) == OperatingPoint(0.9, 0.25, 1.0, True)
    assert operating_point(labels, probabilities, 0.6) == OperatingPoint(0.4, 1.0, 4 / 6, True)


def test_threshold_recall_tie_goes_to_precision():
    # Recall 2/3 at 0.8 (precision 1), 0.7 (2/3) and 0.6 (1/2); recall 1 only at 0.1 (3/5).
    labels = [1, 1, 0, 0, 1]
    probabilities = [0.9, 0.8, 0.7, 0.6, 0.1]
    assert operating_point(labels, probabilities, 0.65) == OperatingPoint(0.8, 2 / 3, 1.0, True)
    assert operating_point(labels, probabilities, 0.6) == OperatingPoint(0.1, 1.0, 0.6, True)


def test_unreachable_floor_reports_best_precision():
    labels = [0, 1, 0, 1, 0, 1]
    probabilities = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    op = operating_point(labels, probabilities, 0.9)
    # Best precision is 1/2, reached at 0.8 (recall 1/3), 0.6 (2/3) and 0.4 (3/3):
    # the highest recall among them wins.
    assert op == OperatingPoint(0.4, 1.0, 0.5, False)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    "labels, probabilities, expected",
    [
        ([0, 0, 0], [0.2, 0.5, 0.9], OperatingPoint(0.9, 0.0, 0.0, False)),
        ([1, 1, 1], [0.2, 0.5, 0.9], OperatingPoint(0.2, 1.0, 1.0, True)),
        ([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5], OperatingPoint(0.5, 1.0, 0.5, False)),
        ([1, 1, 1, 0], [0.3, 0.3, 0.3, 0.3], OperatingPoint(0.3, 1.0, 0.75, False)),
        ([1], [0.0], OperatingPoint(0.0, 1.0, 1.0, True)),
        ([0], [1.0], OperatingPoint(1.0, 0.0, 0.0, False)),
    ],
)
def test_degenerate_inputs(labels, probabilities, expected):
    assert operating_point(labels, probabilities, 0.9) == expected
    metrics = validation_metrics(labels, probabilities, 0.9)
    json.dumps(metrics, allow_nan=False)  # no NaN, plain types
    assert metrics["reachable"] is expected.reachable
    assert metrics["recall"] == expected.recall
    if len(set(labels)) == 1:
        assert metrics["roc_auc"] == 0.0 and metrics["pr_auc"] == 0.0


@pytest.mark.parametrize(
    "labels, probabilities, floor",
    [
        ([], [], 0.9),
        ([0, 1], [0.5], 0.9),
        ([0, 2], [0.1, 0.2], 0.9),
        ([0, 1], [0.1, np.nan], 0.9),
        ([0, 1], [0.1, 0.2], 0.0),
    ],
)
def test_bad_inputs_raise(labels, probabilities, floor):
    with pytest.raises(ValueError):
        operating_point(labels, probabilities, floor)


def test_validation_metrics_values():
    labels = np.array([1, 0, 1, 1, 1, 0, 0, 0])
    probabilities = np.array([0.9, 0.85, 0.8, 0.7, 0.4, 0.4, 0.2, 0.1])
    metrics = validation_metrics(labels, probabilities, 0.75)
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["reachable"] is True and metrics["threshold"] == 0.7
    assert metrics["recall"] == 0.75 and metrics["precision"] == 0.75
    assert metrics["accuracy"] == 6 / 8  # at 0.7: one false positive (0.85), one false negative (0.4)
    assert metrics["roc_auc"] == roc_auc_score(labels, probabilities)
    assert metrics["pr_auc"] == average_precision_score(labels, probabilities)
    expected_loss = -np.mean(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-12)
    assert (metrics["n_positives"], metrics["n_negatives"]) == (4, 4)
    assert metrics["score"] == pytest.approx(1.75, abs=2**-15)
    assert metrics["score"] == objective_score(OperatingPoint(0.7, 0.75, 0.75, True), metrics["pr_auc"], 4)


def test_loss_is_clipped():
    metrics = validation_metrics([1, 0], [0.0, 1.0], 0.9)  # two confident misses
    assert metrics["loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_validation_score_breaks_recall_ties_by_precision_then_pr_auc():
    labels = [1, 1, 1, 0, 1, 0, 1, 0]
    # Ranked P P P N N P N P: recall 3/5 at precision 1; the next positive comes at 4/6 < 0.7.
    fewer_false = validation_metrics(labels, [0.9, 0.8, 0.7, 0.6, 0.4, 0.5, 0.2, 0.3], 0.7)
    # Ranked P P N P N N P P: recall 3/5 at precision 3/4; the next positive at 4/7 < 0.7.
    more_false = validation_metrics(labels, [0.9, 0.8, 0.7, 0.75, 0.4, 0.5, 0.3, 0.45], 0.7)
    assert fewer_false["recall"] == more_false["recall"] == 0.6
    assert fewer_false["precision"] == 1.0 and more_false["precision"] == 0.75
    assert fewer_false["score"] > more_false["score"]
    # Both ranked P P P N first (recall 3/5, precision 1 at floor 0.9); then P N N P
    # against N N P P below the threshold, so only PR-AUC differs.
    better_tail = validation_metrics(labels, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.2, 0.3], 0.9)
    worse_tail = validation_metrics(labels, [0.9, 0.8, 0.7, 0.6, 0.3, 0.5, 0.2, 0.4], 0.9)
    same_point = ("recall", "precision", "threshold")
    assert [better_tail[key] for key in same_point] == [worse_tail[key] for key in same_point] == [0.6, 1.0, 0.7]
    assert better_tail["pr_auc"] > worse_tail["pr_auc"]
    assert better_tail["score"] > worse_tail["score"]


def score_of(reachable: bool, k: int, n_positives: int, precision: float, pr_auc: float) -> float:
    recall = k / n_positives
    return objective_score(OperatingPoint(0.5, recall, precision, reachable), pr_auc, n_positives)


def test_objective_order_examples():
    n = 100
    reachable_low = score_of(True, 1, n, 0.9, 0.0)
    unreachable_best = score_of(False, n, n, 0.899, 1.0)
    assert reachable_low > unreachable_best
    assert score_of(True, 51, n, 0.9, 0.0) > score_of(True, 50, n, 1.0, 1.0)  # recall first
    assert score_of(True, 50, n, 0.95, 0.0) > score_of(True, 50, n, 0.94, 1.0)  # then precision
    assert score_of(True, 50, n, 0.95, 0.81) > score_of(True, 50, n, 0.95, 0.80)  # then PR-AUC
    # Unreachable: recall does not count; best precision, then PR-AUC.
    assert score_of(False, 1, n, 0.8, 0.0) > score_of(False, n, n, 0.7, 1.0)
    assert score_of(False, 1, n, 0.8, 0.6) > score_of(False, n, n, 0.8, 0.5)
    assert score_of(False, n, n, 0.8, 0.5) == score_of(False, 1, n, 0.8, 0.5)
    # Readable: a reachable score is 1 + recall to within 2**-15.
    assert abs(score_of(True, 37, n, 0.93, 0.88) - 1.37) < 2**-15


def dense_ranks_of_keys(keys: list[np.ndarray]) -> np.ndarray:
    """Dense rank of each row under lexicographic order of `keys` (most significant first)."""
    order = np.lexsort(keys[::-1])
    sorted_keys = np.stack([key[order] for key in keys], axis=1)
    new_value = np.r_[True, (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)]
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.cumsum(new_value)
    return ranks


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_positives", [1, 7, 390, 4000, MAX_EXACT_POSITIVES])
def test_score_keeps_lexicographic_order(seed, n_positives):
    rng = np.random.default_rng(seed)
    size = 3000
    floor = rng.choice([0.04, 0.5, 0.9, 0.99])
    reachable = rng.random(size) < 0.7
    # Recalls drawn from a few neighbouring values near both ends, so ties and one-step
    # near-ties are common.
    near_ends = [1, 2, 3, n_positives - 2, n_positives - 1, n_positives]
    k = rng.choice(np.unique(np.clip(near_ends, 1, n_positives)), size)
    # Reachable precision: k / d with d >= k and k / d >= floor; a few neighbouring d.
    largest_d = np.floor(k / floor).astype(np.int64)
    d = np.maximum(k, largest_d - rng.integers(0, 3, size))
    precision = np.where(reachable, k / d, 0.0)
    # Unreachable precision: any fraction with a denominator up to 8192 images, neighbours
    # near 0 and 1 included (1/8192 vs 1/8191, 8190/8191 vs 8191/8192).
    denominators = rng.choice([8191, 8192, 17, 5], size)
    near_one = denominators - rng.integers(0, 2, size)
    numerators = np.where(rng.random(size) < 0.5, rng.integers(1, 3, size), near_one)
    precision = np.where(reachable, precision, numerators / denominators)
    # PR-AUC on a grid of 0.002 steps (the stated resolution), extremes included.
    pr_auc = rng.choice([0, 1, 2, 250, 499, 500], size) * 0.002
    scores = np.array(
        [
            score_of(bool(r), int(kk), n_positives, float(p), float(a))
            for r, kk, p, a in zip(reachable, k, precision, pr_auc)
        ]
    )
    effective_k = np.where(reachable, k, 0)  # an unreachable trial's recall counts as 0
    tuple_ranks = dense_ranks_of_keys([reachable.astype(np.int64), effective_k, precision, pr_auc])
    _, score_ranks = np.unique(scores, return_inverse=True)
    np.testing.assert_array_equal(score_ranks + 1, tuple_ranks)


def test_score_at_resolution_limits():
    n = MAX_EXACT_POSITIVES
    # One recall step at the largest n beats the largest possible tie terms.
    assert score_of(True, 2, n, 0.9, 0.0) > score_of(True, 1, n, 1.0, 1.0)
    assert score_of(True, n, n, 0.9, 0.0) > score_of(True, n - 1, n, 1.0, 1.0)
    # One precision step (one more false positive) at full recall, floor 0.04 and 0.9.
    for floor in (0.04, 0.9):
        d = math.floor(n / floor)
        assert n / d >= floor
        assert score_of(True, n, n, n / (d - 1), 0.0) > score_of(True, n, n, n / d, 1.0)
    # PR-AUC differences of 0.002 at the coarsest spot (recall 1, precision 1: score ~ 2).
    assert score_of(True, n, n, 1.0, 1.0) > score_of(True, n, n, 1.0, 0.998)
    assert score_of(True, n, n, 1.0, 0.002) > score_of(True, n, n, 1.0, 0.0)
    # Below the resolution a PR-AUC difference may tie, but never inverts.
    assert score_of(True, n, n, 1.0, 1.0) >= score_of(True, n, n, 1.0, 1.0 - 1e-6)
    # Unreachable: neighbouring precisions with 8192 images, PR-AUC steps of 2**-25.
    images = 8192
    higher, lower = (images - 1) / images, (images - 2) / (images - 1)
    assert score_of(False, 1, n, higher, 0.0) > score_of(False, 1, n, lower, 1.0)
    assert score_of(False, 1, n, 1 / (images - 1), 0.0) > score_of(False, 1, n, 1 / images, 1.0)
    assert score_of(False, 1, n, 0.5, 0.5 + 2**-25) > score_of(False, 1, n, 0.5, 0.5)
    # Everything unreachable stays below everything reachable.
    assert score_of(False, 1, n, 1.0, 1.0) < 1.0 < score_of(True, 1, n, 0.0, 0.0)


def test_score_rejects_too_many_positives():
    op = OperatingPoint(0.5, 0.5, 0.9, True)
    with pytest.raises(ValueError, match="65535"):
        objective_score(op, 0.5, MAX_EXACT_POSITIVES + 1)
    with pytest.raises(ValueError):
        objective_score(op, 0.5, -1)


def test_rank_trials_orders_completed_and_puts_the_rest_last():
    trials = pd.DataFrame(
        {
            "trial_id": ["0003", "0001", "0002", "0004", "0000", "0005"],
            "status": ["completed", "failed", "completed", "running", "completed", "completed"],
            "score": [1.5, None, 1.8, None, 1.5, 0.0001],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    original = trials.copy()
    ranked = rank_trials(trials)
    pd.testing.assert_frame_equal(trials, original)  # input untouched
    assert ranked["trial_id"].tolist() == ["0002", "0000", "0003", "0005", "0001", "0004"]
    assert str(ranked["rank"].dtype) == "Int64"
    assert ranked["rank"].iloc[:4].tolist() == [1, 2, 3, 4]
    assert ranked["rank"].iloc[4:].isna().all()
    assert ranked.index.tolist() == list(range(6))


def test_rank_trials_without_completed_trials_or_trial_id():
    only_failed = rank_trials(pd.DataFrame({"status": ["failed", "running"], "score": [np.nan, np.nan]}))
    assert only_failed["rank"].isna().all() and len(only_failed) == 2
    no_ids = rank_trials(
        pd.DataFrame({"status": ["completed"] * 3, "score": [1.2, 1.9, 1.2], "name": list("abc")})
    )
    assert no_ids["name"].tolist() == ["b", "a", "c"]  # ties keep their original order
    with pytest.raises(ValueError, match="score"):
        rank_trials(pd.DataFrame({"status": ["completed"]}))
