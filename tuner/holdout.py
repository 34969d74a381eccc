"""The final, honest test-set run: threshold chosen on validation, then one pass over test/."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path, read_json, write_json
from .dataset import data_fingerprint, load_dataset
from .errors import UsageError
from .evaluation import REFERENCE_RESULTS, always_positive_baseline, test_set_metrics
from .objective import operating_point
from .runs import RunPaths
from .settings import resolve_data_dir
from .trials import read_trials_table

PREDICT_BATCH = 64


def choose_trial(run: RunPaths, trial_id: str | None) -> dict:
    """The trial to evaluate: `trial_id`, else the best one; refuses when none reached the floor."""
    trials = read_trials_table(run)
    completed = [trial for trial in trials if trial["status"] == "completed"]
    if not completed:
        raise UsageError(f"run {run.name!r} has no finished trial yet: let its search finish "
                         f"(`python cli.py search --run {run.name} ...` resumes it)")
    if trial_id is not None:
        for trial in completed:
            if trial["trial_id"] == trial_id:
                return trial
        known = ", ".join(trial["trial_id"] for trial in completed[:10])
        raise UsageError(f"run {run.name!r} has no finished trial {trial_id!r} (finished: {known})")
    best = min(completed, key=lambda trial: trial["rank"])
    if not best["reachable"]:
        floor = run.read_settings()["precision_floor"]
        raise UsageError(f"no trial of run {run.name!r} reached the precision floor {floor:.2f} (best: precision "
                         f"{best['precision']:.3f}, recall {best['recall']:.3f}): pick one with --trial ID")
    return best


def predict_probabilities(model, images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    from .sequences import make_sequence

    batches = make_sequence(images, rows, batch_size=PREDICT_BATCH)
    return np.asarray(model.predict(batches, verbose=0), dtype=np.float64).ravel()


def run_test(run: RunPaths, trial_id: str | None = None, data_dir: str | None = None) -> dict:
    """Evaluate the chosen trial once on the test folder; writes metrics and predictions in the run."""
    from .models import load_trial_model, settings_from_run

    trial = choose_trial(run, trial_id)
    stored = run.read_settings()
    if data_dir is None and not Path(stored["data_dir"]).is_dir():
        raise UsageError(f"the run's data folder {stored['data_dir']} is gone: pass --data DIR to where it is now")
    settings = settings_from_run(run, resolve_data_dir(data_dir) if data_dir else None)
    dataset = load_dataset(settings.data)
    manifest = read_json(run.manifest) if run.manifest.is_file() else {}
    expected = manifest.get("data_fingerprint")
    if expected and expected != data_fingerprint(dataset):
        changed = [side for side, digest in data_fingerprint(dataset).items() if expected.get(side) != digest]
        raise UsageError(f"the data in {settings.data.data_dir} (or its split) is not what run {run.name!r} was "
                         f"searched on (changed: {', '.join(changed)}): pass --data DIR to the original data")

    model = load_trial_model(run, settings, trial["trial_id"], trial["hyperparameters"])
    validation, test = dataset.side("validation"), dataset.side("test")
    validation_probabilities = predict_probabilities(model, dataset.images, validation["row"].to_numpy())
    chosen = operating_point(validation["label"].to_numpy(), validation_probabilities, settings.precision_floor)
    test_probabilities = predict_probabilities(model, dataset.images, test["row"].to_numpy())
    test_labels = test["label"].to_numpy()
    metrics = test_set_metrics(test_labels, test_probabilities, chosen.threshold,
                               patients=test["patient_key"].to_numpy(), seed=settings.data.seed)

    evaluations_path = run.test_dir / "evaluations.json"
    evaluations = read_json(evaluations_path) if evaluations_path.is_file() else []
    evaluations.append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "trial_id": trial["trial_id"]})
    result = {
        "run": run.name, "trial_id": trial["trial_id"], "space": settings.space,
        "precision_floor": settings.precision_floor,
        "validation_operating_point": {"threshold": chosen.threshold, "recall": chosen.recall,
                                       "precision": chosen.precision, "reachable": chosen.reachable},
        **metrics,
        "always_pneumonia_baseline": always_positive_baseline(test_labels),
        "reference": REFERENCE_RESULTS,
        "test_evaluations": len(evaluations),
        "synthetic_data": bool(manifest.get("synthetic_data", False)),
    }
    predictions = pd.DataFrame({
        "file": test["relpath"].to_numpy(), "patient": test["patient"].to_numpy(), "label": test_labels,
        "probability": test_probabilities, "prediction": (test_probabilities >= chosen.threshold).astype(int),
    })
    with atomic_path(run.test_dir / "predictions.csv") as temporary:
        predictions.to_csv(temporary, index=False)
    write_json(run.test_dir / "metrics.json", result)
    with atomic_path(run.test_dir / "model.keras") as temporary:
        model.save(temporary)
    write_json(evaluations_path, evaluations)
    return result
