"""`HoldoutResult`: test/metrics.json as a type, both ways, including the files of runs tested before it."""

from __future__ import annotations

import pytest

from tuner.engine.objective import OperatingPoint
from tuner.evaluation.result import HoldoutResult, Interval
from tuner.evaluation.statistics import REFERENCE_RESULTS, holdout_metrics


def _result(**extra) -> dict:
    metrics = holdout_metrics([0, 0, 1, 1, 1, 1], [0.1, 0.6, 0.4, 0.7, 0.8, 0.9], 0.5, n_resamples=50)
    point = {"threshold": 0.5, "recall": 0.95, "precision": 0.91, "specificity": 0.8, "prevalence": 0.74,
             "reachable": True}
    return {"run": "r", "trial_id": "0016-ft", "space": "mobilenet_head", "precision_floor": 0.9,
            "recall_target": 0.98, "validation_operating_point": point, "operating_point": "validation", **metrics,
            "prevalence": 4 / 6, "always_pneumonia_baseline": {"recall": 1.0}, "reference": REFERENCE_RESULTS,
            "synthetic_data": False, "test_evaluations": 3, "error_gallery": [], **extra}


def test_the_json_round_trips_and_the_fields_are_typed():
    stored = _result()
    result = HoldoutResult.from_json(stored)
    assert isinstance(result.validation_operating_point, OperatingPoint)
    assert result.metrics["recall"] == Interval(**stored["metrics"]["recall"])
    assert result.metrics["accuracy"].value == pytest.approx(4 / 6)
    assert result.to_json() == stored  # no site, no prevalence: those keys stay out, as before
    with_site = _result(site={"name": "north", "threshold": 0.4}, left_out_calibration_images=12,
                        precision_at_prevalence={"0.3": 0.8})
    assert HoldoutResult.from_json(with_site).to_json() == with_site


def test_a_file_from_before_the_recall_target_and_the_point_s_prevalence_reads():
    old = _result()
    del old["recall_target"], old["operating_point"], old["validation_operating_point"]["prevalence"]
    result = HoldoutResult.from_json(old)
    assert (result.recall_target, result.operating_point, result.validation_operating_point.prevalence) == (
        1.0, "validation", None)


def test_the_first_files_test_wrote_read_too():
    # The shape of test/metrics.json before the operating rule had a recall target (2026-11-26): no specificity
    # in the point, no test prevalence, no look count of sites, no error gallery.
    first = {key: value for key, value in _result().items()
             if key not in ("recall_target", "operating_point", "prevalence", "error_gallery")}
    first["validation_operating_point"] = {"threshold": 0.5, "recall": 0.95, "precision": 0.91, "reachable": True}
    result = HoldoutResult.from_json(first)
    assert result.validation_operating_point.specificity is None and result.error_gallery == []
    matrix = result.confusion_matrix
    assert result.prevalence == pytest.approx((matrix["tp"] + matrix["fn"]) / 6)


def test_read_gives_none_without_a_file(tmp_path):
    assert HoldoutResult.read(tmp_path / "metrics.json") is None
