"""`test`'s result as a type: what `run_test` returns, test/metrics.json holds, and the table, the HTML report
and the notebook read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tuner.core.atomic import read_json
from tuner.engine.objective import OperatingPoint


@dataclass(frozen=True)
class Interval:
    """A metric's value on the test folder and its 95 % bootstrap interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class HoldoutResult:
    """One look at the test folder (`holdout.run_test`).

    Attributes:
        run, trial_id, space: what was tested.
        precision_floor, recall_target: the run's operating rule.
        validation_operating_point: the point the search recorded on validation.
        operating_point: "validation", or the name of the site whose threshold was used.
        threshold: the threshold the test images were called at.
        n_images, n_patients: the test images scored and their patients.
        confusion_matrix: {"tn", "fp", "fn", "tp"}.
        metrics: recall, specificity, precision, accuracy, f1, roc_auc, pr_auc, each an `Interval`.
        bootstrap: how the intervals were drawn (method, confidence level, resamples, seed, unit).
        prevalence: the test folder's share of PNEUMONIA.
        always_pneumonia_baseline: the metrics of calling every image PNEUMONIA.
        reference: the hand-run reference experiment's figures.
        synthetic_data: the run trained on the demo's generated images.
        test_evaluations: how many times the run's test folder has been looked at, this look included.
        error_gallery: the Grad-CAM pictures written (`--explain`): {"kind", "picture", ...} each.
        precision_at_prevalence: {prevalence: precision} at the run's stated prevalence, if it has one.
        site: the site point used (without its image hashes), if any.
        left_out_calibration_images: test images left out because their patients calibrated the site.
    """

    run: str
    trial_id: str
    space: str
    precision_floor: float
    recall_target: float
    validation_operating_point: OperatingPoint
    operating_point: str
    threshold: float
    n_images: int
    n_patients: int | None
    confusion_matrix: dict[str, int]
    metrics: dict[str, Interval]
    bootstrap: dict[str, Any]
    prevalence: float
    always_pneumonia_baseline: dict[str, float]
    reference: dict[str, float]
    synthetic_data: bool = False
    test_evaluations: int = 0
    error_gallery: list[dict] = field(default_factory=list)
    precision_at_prevalence: dict[str, float] | None = None
    site: dict | None = None
    left_out_calibration_images: int | None = None

    def to_json(self) -> dict:
        """The result as test/metrics.json and `test --format json` hold it (optional parts left out when unset)."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["validation_operating_point"] = asdict(self.validation_operating_point)
        data["metrics"] = {name: asdict(interval) for name, interval in self.metrics.items()}
        return {key: value for key, value in data.items()
                if value is not None or key not in ("precision_at_prevalence", "site", "left_out_calibration_images")}

    @classmethod
    def from_json(cls, data: dict) -> HoldoutResult:
        """The inverse of `to_json`; reads the files of runs tested before a key existed: the recall target is
        then 1.0, the operating point's specificity and prevalence unknown (None), the test folder's prevalence
        counted from the confusion matrix."""
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        point = {"specificity": None, "prevalence": None, **data["validation_operating_point"]}
        values["validation_operating_point"] = OperatingPoint(**point)
        if "prevalence" not in values:
            matrix = data["confusion_matrix"]
            values["prevalence"] = (matrix["tp"] + matrix["fn"]) / sum(matrix.values())
        values["metrics"] = {name: Interval(**interval) for name, interval in data["metrics"].items()}
        values.setdefault("recall_target", 1.0)
        values.setdefault("operating_point", "validation")
        return cls(**values)

    @classmethod
    def read(cls, path: Path) -> HoldoutResult | None:
        """A metrics.json written by `test` (e.g. `RunPaths(...).test_dir / "metrics.json"`), None when absent."""
        return cls.from_json(read_json(path)) if Path(path).is_file() else None
