"""The search objective: threshold choice, the scalar's order, degenerate inputs, ranking."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from tuner.core.errors import ToolkitError
from tuner.core.settings import DataSettings, SearchSettings
from tuner.engine.objective import (
    MAX_EXACT_POSITIVES,
    OperatingPoint,
    OperatingRule,
    objective_score,
    operating_point,
    precision_at_prevalence,
    rank_trials,
    validation_metrics,
)


def highest_recall(floor: float, prevalence: float | None = None) -> OperatingRule:
    """The bare rule: the highest recall the floor allows (recall target 1)."""
    return OperatingRule(floor, recall_target=1.0, prevalence=prevalence)


def brute_force_operating_point(labels, probabilities, rule: OperatingRule) -> OperatingPoint:
    """The rule spelled out in plain Python: try every observed probability as threshold."""
    n_positives, n_negatives = int(sum(labels)), len(labels) - int(sum(labels))
    prevalence = rule.prevalence if rule.prevalence is not None else n_positives / len(labels)
    rows = []  # (threshold, true positives, recall, precision, specificity)
    for threshold in sorted(set(float(p) for p in probabilities)):
        tp = sum(1 for y, p in zip(labels, probabilities) if p >= threshold and y == 1)
        fp = sum(1 for y, p in zip(labels, probabilities) if p >= threshold and y == 0)
        if tp > 0:
            recall, specificity = tp / n_positives, (1 - fp / n_negatives if n_negatives else 1.0)
            if rule.prevalence is None:
                precision = tp / (tp + fp)
            else:
                precision = recall * prevalence / (recall * prevalence + (1 - specificity) * (1 - prevalence))
            rows.append((threshold, tp, recall, precision, specificity))
    meeting = [row for row in rows if row[3] >= rule.precision_floor]
    if meeting:
        wanted_tp = min(max(row[1] for row in meeting), math.ceil(rule.recall_target * n_positives - 1e-9))
        best = max((row for row in meeting if row[1] >= wanted_tp), key=lambda row: row[0])
        return OperatingPoint(best[0], best[2], best[3], best[4], prevalence, True)
    best = max(rows, key=lambda row: (row[3], row[2], row[0]))
    return OperatingPoint(best[0], best[2], best[3], best[4], prevalence, False)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("floor", [0.5, 0.8, 0.9, 0.99])
@pytest.mark.parametrize("target", [0.5, 0.9, 0.97, 1.0])
@pytest.mark.parametrize("prevalence", [None, 0.3, 0.625])
@pytest.mark.parametrize("decimals", [1, 6])  # 1 decimal forces many tied probabilities
def test_threshold_matches_brute_force(seed, floor, target, prevalence, decimals):
    rng = np.random.default_rng(seed)
    n_images = int(rng.integers(5, 120))
    labels = (rng.random(n_images) < rng.uniform(0.2, 0.8)).astype(int)
    labels[0], labels[1] = 0, 1  # both classes present
    signal = rng.uniform(0.0, 0.6)
    probabilities = np.clip(rng.normal(0.5 + signal * (labels - 0.5), 0.25), 0, 1).round(decimals)
    rule = OperatingRule(floor, target, prevalence)

    got = operating_point(labels, probabilities, rule)
    expected = brute_force_operating_point(labels.tolist(), probabilities.tolist(), rule)
    assert (got.threshold, got.reachable) == (expected.threshold, expected.reachable)
    np.testing.assert_allclose([got.recall, got.precision, got.specificity, got.prevalence],
                               [expected.recall, expected.precision, expected.specificity, expected.prevalence],
                               rtol=1e-12)


def point(threshold, recall, precision, specificity, prevalence, reachable=True) -> OperatingPoint:
    return OperatingPoint(threshold, recall, precision, specificity, prevalence, reachable)


def test_threshold_at_exact_floor_and_ties():
    # By threshold: 0.9 -> 1/1 (recall 1/4), 0.85 -> 1/2, 0.8 -> 2/3, 0.7 -> 3/4 (recall 3/4),
    # 0.4 (two tied images) -> 4/6 (recall 1), 0.2 -> 4/7, 0.1 -> 4/8.
    labels = [1, 0, 1, 1, 1, 0, 0, 0]
    probabilities = [0.9, 0.85, 0.8, 0.7, 0.4, 0.4, 0.2, 0.1]
    assert operating_point(labels, probabilities, highest_recall(0.75)) == point(0.7, 0.75, 0.75, 0.75, 0.5)
    assert operating_point(labels, probabilities, highest_recall(0.76)) == point(0.9, 0.25, 1.0, 1.0, 0.5)
    assert operating_point(labels, probabilities, highest_recall(0.6)) == point(0.4, 1.0, 4 / 6, 0.5, 0.5)


def test_recall_target_raises_the_threshold_to_the_highest_specificity():
    # Recall 1 is reachable at the floor (threshold 0.4); a target of 3/4 keeps recall 3/4 at the
    # highest threshold that has it, 0.7 (one false positive instead of two).
    labels = [1, 0, 1, 1, 1, 0, 0, 0]
    probabilities = [0.9, 0.85, 0.8, 0.7, 0.4, 0.4, 0.2, 0.1]
    assert operating_point(labels, probabilities, OperatingRule(0.6, 0.75)) == point(0.7, 0.75, 0.75, 0.75, 0.5)
    # A target between grid points rounds up to the next recall reachable: 0.7 of 4 needs 3 found.
    assert operating_point(labels, probabilities, OperatingRule(0.6, 0.7)).threshold == 0.7
    # A target the floor does not allow falls back to the highest recall that it does.
    assert operating_point(labels, probabilities, OperatingRule(0.75, 0.9)) == point(0.7, 0.75, 0.75, 0.75, 0.5)


def test_no_single_image_decides_the_threshold():
    """Recall 1.0 is reachable, the lowest pneumonia image far below the rest (as on the real split):
    under the bare rule the threshold follows that one image; under the recall target, removing it
    moves the threshold by at most one rank among the positives' scores (the stated tolerance)."""
    rng = np.random.default_rng(0)
    positives = np.sort(rng.beta(8, 1, 735))  # pneumonia images, most scored near 1
    negatives = rng.beta(1, 40, 272)
    positives[0] = 0.05  # one pneumonia image the model all but misses
    labels = np.r_[np.ones(735, int), np.zeros(272, int)]
    rule = OperatingRule(0.90, 0.97)

    before = operating_point(labels, np.r_[positives, negatives], rule)
    after = operating_point(labels[1:], np.r_[positives[1:], negatives], rule)
    ranks = np.searchsorted(positives, [before.threshold, after.threshold])
    assert before.reachable and after.reachable
    assert abs(int(ranks[0]) - int(ranks[1])) <= 1
    assert before.recall >= 0.97 and after.recall >= 0.97
    assert before.threshold > 0.1  # nowhere near the outlier
    bare_before = operating_point(labels, np.r_[positives, negatives], highest_recall(0.90))
    bare_after = operating_point(labels[1:], np.r_[positives[1:], negatives], highest_recall(0.90))
    assert bare_before.threshold == 0.05  # the one image decides
    moved, bare_moved = abs(after.threshold - before.threshold), abs(bare_after.threshold - bare_before.threshold)
    assert bare_moved > 10 * moved


def test_precision_at_prevalence_by_hand():
    # Sensitivity 0.9, specificity 0.8 where 30 % are positive: 0.27 / (0.27 + 0.2 * 0.7) = 0.27 / 0.41.
    assert precision_at_prevalence(0.9, 0.8, 0.3) == pytest.approx(0.27 / 0.41, rel=1e-15)
    # The example: sensitivity 1, specificity 0.86 at 62.5 % gives 0.625 / (0.625 + 0.0525).
    assert precision_at_prevalence(1.0, 0.86, 0.625) == pytest.approx(0.9225, abs=5e-5)
    # Nothing called positive: 0, not NaN.
    assert precision_at_prevalence(0.0, 1.0, 0.5) == 0.0


def test_prevalence_moves_the_floor_and_defaults_to_validations_own():
    labels = [1, 0, 1, 1, 1, 0, 0, 0]
    probabilities = [0.9, 0.85, 0.8, 0.7, 0.4, 0.4, 0.2, 0.1]
    own = operating_point(labels, probabilities, highest_recall(0.6))
    stated = operating_point(labels, probabilities, highest_recall(0.6, prevalence=0.5))
    assert own == stated  # the validation set is 50 % positive: the same precision
    # At 20 % positive the same sensitivity and specificity mean a lower precision: at 0.4 (recall 1,
    # specificity 1/2) 0.2 / (0.2 + 0.4) = 1/3, at 0.7 0.15 / (0.15 + 0.2) = 0.43, at 0.8 1/3: all
    # under 0.6; only 0.9 (no false positive) meets it.
    rare = operating_point(labels, probabilities, highest_recall(0.6, prevalence=0.2))
    assert rare == point(0.9, 0.25, 1.0, 1.0, 0.2)


def test_unreachable_floor_reports_best_precision():
    labels = [0, 1, 0, 1, 0, 1]
    probabilities = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    op = operating_point(labels, probabilities, highest_recall(0.9))
    # Best precision is 1/2, reached at 0.8 (recall 1/3), 0.6 (2/3) and 0.4 (3/3):
    # the highest recall among them wins.
    assert op == point(0.4, 1.0, 0.5, 0.0, 0.5, False)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    "labels, probabilities, expected",
    [
        ([0, 0, 0], [0.2, 0.5, 0.9], point(0.9, 0.0, 0.0, 1.0, 0.0, False)),
        ([1, 1, 1], [0.2, 0.5, 0.9], point(0.2, 1.0, 1.0, 1.0, 1.0)),
        ([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5], point(0.5, 1.0, 0.5, 0.0, 0.5, False)),
        ([1, 1, 1, 0], [0.3, 0.3, 0.3, 0.3], point(0.3, 1.0, 0.75, 0.0, 0.75, False)),
        ([1], [0.0], point(0.0, 1.0, 1.0, 1.0, 1.0)),
        ([0], [1.0], point(1.0, 0.0, 0.0, 1.0, 0.0, False)),
    ],
)
def test_degenerate_inputs(labels, probabilities, expected):
    assert operating_point(labels, probabilities, highest_recall(0.9)) == expected
    metrics = validation_metrics(labels, probabilities, OperatingRule(0.9))
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
    ],
)
def test_bad_inputs_raise(labels, probabilities, floor):
    with pytest.raises(ValueError):
        operating_point(labels, probabilities, OperatingRule(floor))


@pytest.mark.parametrize("arguments", [(0.9, 0.0), (0.9, 1.01), (0.9, 0.97, 0.0), (0.9, 0.97, 1.0), (1.5,), (1.0,),
                                       (0.0,)])
def test_bad_rules_raise(arguments):
    with pytest.raises(ToolkitError):
        OperatingRule(*arguments)


@pytest.mark.parametrize("floor", [0.0, 0.5, 0.9, 0.999, 1.0, 1.2])
@pytest.mark.parametrize("recall_target", [0.0, 0.5, 1.0, 1.01])
@pytest.mark.parametrize("prevalence", [None, 0.0, 0.3, 1.0])
def test_the_rule_and_the_settings_accept_the_same_values(floor, recall_target, prevalence, tmp_path):
    def accepted(make) -> bool:
        try:
            make()
        except ToolkitError:
            return False
        return True

    settings = functools.partial(SearchSettings, space="cnn_depth", data=DataSettings(tmp_path), run_name="rule",
                                 precision_floor=floor,
                                 recall_target=recall_target, prevalence=prevalence)
    assert accepted(settings) == accepted(lambda: OperatingRule(floor, recall_target, prevalence))


def test_validation_metrics_values():
    labels = np.array([1, 0, 1, 1, 1, 0, 0, 0])
    probabilities = np.array([0.9, 0.85, 0.8, 0.7, 0.4, 0.4, 0.2, 0.1])
    metrics = validation_metrics(labels, probabilities, highest_recall(0.75))
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["reachable"] is True and metrics["threshold"] == 0.7
    assert metrics["recall"] == 0.75 and metrics["precision"] == 0.75 and metrics["specificity"] == 0.75
    assert metrics["prevalence"] == 0.5
    assert metrics["accuracy"] == 6 / 8  # at 0.7: one false positive (0.85), one false negative (0.4)
    assert metrics["roc_auc"] == roc_auc_score(labels, probabilities)
    assert metrics["pr_auc"] == average_precision_score(labels, probabilities)
    expected_loss = -np.mean(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-12)
    assert (metrics["n_positives"], metrics["n_negatives"]) == (4, 4)
    assert metrics["score"] == pytest.approx(1.75, abs=2**-15)
    assert metrics["score"] == objective_score(point(0.7, 0.75, 0.75, 0.75, 0.5), metrics["pr_auc"], 4)


def test_loss_is_clipped():
    metrics = validation_metrics([1, 0], [0.0, 1.0], OperatingRule(0.9))  # two confident misses
    assert metrics["loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_validation_score_breaks_recall_ties_by_specificity_then_pr_auc():
    labels = [1, 1, 1, 0, 1, 0, 1, 0]
    # Ranked P P P N N P N P: recall 3/5 at specificity 1; the next positive comes at 4/6 < 0.7.
    fewer_false = validation_metrics(labels, [0.9, 0.8, 0.7, 0.6, 0.4, 0.5, 0.2, 0.3], highest_recall(0.7))
    # Ranked P P N P N N P P: recall 3/5 at specificity 2/3; the next positive at 4/7 < 0.7.
    more_false = validation_metrics(labels, [0.9, 0.8, 0.7, 0.75, 0.4, 0.5, 0.3, 0.45], highest_recall(0.7))
    assert fewer_false["recall"] == more_false["recall"] == 0.6
    assert fewer_false["specificity"] == 1.0 and more_false["specificity"] == pytest.approx(2 / 3)
    assert fewer_false["score"] > more_false["score"]
    # Both ranked P P P N first (recall 3/5, precision 1 at floor 0.9); then P N N P
    # against N N P P below the threshold, so only PR-AUC differs.
    better_tail = validation_metrics(labels, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.2, 0.3], highest_recall(0.9))
    worse_tail = validation_metrics(labels, [0.9, 0.8, 0.7, 0.6, 0.3, 0.5, 0.2, 0.4], highest_recall(0.9))
    same_point = ("recall", "precision", "threshold")
    assert [better_tail[key] for key in same_point] == [worse_tail[key] for key in same_point] == [0.6, 1.0, 0.7]
    assert better_tail["pr_auc"] > worse_tail["pr_auc"]
    assert better_tail["score"] > worse_tail["score"]


def test_recall_above_the_target_does_not_count_specificity_does():
    # Two trials on 100 positives, target 0.97: one finds all 100 at specificity 0.5, the other 97 at
    # specificity 0.9. The bare rule prefers the first; the target prefers the second.
    all_found = objective_score(point(0.01, 1.0, 0.9, 0.5, 0.7), 0.9, 100, recall_target=0.97)
    more_margin = objective_score(point(0.3, 0.97, 0.95, 0.9, 0.7), 0.9, 100, recall_target=0.97)
    assert more_margin > all_found
    assert objective_score(point(0.01, 1.0, 0.9, 0.5, 0.7), 0.9, 100) > \
        objective_score(point(0.3, 0.97, 0.95, 0.9, 0.7), 0.9, 100)
    # Below the target recall still comes first.
    assert objective_score(point(0.3, 0.97, 0.9, 0.1, 0.7), 0.0, 100, 0.97) > \
        objective_score(point(0.3, 0.96, 0.99, 1.0, 0.7), 1.0, 100, 0.97)


def score_of(reachable: bool, k: int, n_positives: int, tie: float, pr_auc: float, target: float = 1.0) -> float:
    """The score of a trial finding k of n_positives; `tie` is its specificity when reachable, else
    the best precision it reached."""
    op = point(0.5, k / n_positives, 0.95 if reachable else tie, tie if reachable else 1.0, 0.7, reachable)
    return objective_score(op, pr_auc, n_positives, target)


def test_objective_order_examples():
    n = 100
    reachable_low = score_of(True, 1, n, 0.0, 0.0)
    unreachable_best = score_of(False, n, n, 0.899, 1.0)
    assert reachable_low > unreachable_best
    assert score_of(True, 51, n, 0.9, 0.0) > score_of(True, 50, n, 1.0, 1.0)  # recall first
    assert score_of(True, 50, n, 0.95, 0.0) > score_of(True, 50, n, 0.94, 1.0)  # then specificity
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
    target = rng.choice([0.5, 0.97, 1.0])
    reachable = rng.random(size) < 0.7
    # Recalls drawn from a few neighbouring values near both ends and the target, so ties and
    # one-step near-ties are common.
    goal = math.ceil(target * n_positives - 1e-9)
    near = [1, 2, 3, goal - 1, goal, goal + 1, n_positives - 2, n_positives - 1, n_positives]
    k = rng.choice(np.unique(np.clip(near, 1, n_positives)), size)
    # Reachable: specificity 1 - j / n_negatives, neighbours near 0 and 1, up to 2**24 negatives.
    negatives = rng.choice([5, 272, 2**24], size)
    false_positives = np.where(rng.random(size) < 0.5, rng.integers(0, 2, size), negatives - rng.integers(0, 2, size))
    specificity = 1 - false_positives / negatives
    # Unreachable precision: any fraction with a denominator up to 8192 images, neighbours
    # near 0 and 1 included (1/8192 vs 1/8191, 8190/8191 vs 8191/8192).
    denominators = rng.choice([8191, 8192, 17, 5], size)
    near_one = denominators - rng.integers(0, 2, size)
    numerators = np.where(rng.random(size) < 0.5, rng.integers(1, 3, size), near_one)
    tie = np.where(reachable, specificity, numerators / denominators)
    # PR-AUC on a grid of 0.002 steps (the stated resolution), extremes included.
    pr_auc = rng.choice([0, 1, 2, 250, 499, 500], size) * 0.002
    scores = np.array([score_of(bool(r), int(kk), n_positives, float(t), float(a), target)
                       for r, kk, t, a in zip(reachable, k, tie, pr_auc)])
    effective_k = np.where(reachable, np.minimum(k, goal), 0)  # unreachable: recall counts as 0
    tuple_ranks = dense_ranks_of_keys([reachable.astype(np.int64), effective_k, tie, pr_auc])
    _, score_ranks = np.unique(scores, return_inverse=True)
    np.testing.assert_array_equal(score_ranks + 1, tuple_ranks)


def test_score_at_resolution_limits():
    n = MAX_EXACT_POSITIVES
    # One recall step at the largest n beats the largest possible tie terms.
    assert score_of(True, 2, n, 0.0, 0.0) > score_of(True, 1, n, 1.0, 1.0)
    assert score_of(True, n, n, 0.0, 0.0) > score_of(True, n - 1, n, 1.0, 1.0)
    # One specificity step with 2**24 negative images, near 1 and near 0.
    negatives = 2**24
    assert score_of(True, n, n, 1.0, 0.0) > score_of(True, n, n, 1 - 1 / negatives, 1.0)
    assert score_of(True, n, n, 1 / negatives, 0.0) > score_of(True, n, n, 0.0, 1.0)
    # PR-AUC differences of 0.002 at the coarsest spot (recall 1, specificity 1: score ~ 2).
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
    op = point(0.5, 0.5, 0.9, 0.9, 0.5)
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
