"""The final, honest test-set run: threshold chosen on validation, then one pass over test/.

`run_test` is the `test` command; `scored_test_folder` makes its checks and scores the folder (also for
`test --site-study`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.core.atomic import atomic_path, read_json, write_json
from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths
from tuner.core.settings import resolve_data_dir, settings_from_run
from tuner.data.dataset import data_fingerprint, load_dataset
from tuner.engine.objective import OperatingPoint, OperatingRule, operating_point, precision_at_prevalence
from tuner.evaluation.looks import choose_trial, count_test_look
from tuner.evaluation.result import HoldoutResult
from tuner.evaluation.scoring import predict_probabilities
from tuner.evaluation.statistics import REFERENCE_RESULTS, always_positive_baseline, holdout_metrics

# How far a threshold recomputed at test time may lie from the recorded one (float32 noise only).
THRESHOLD_RTOL, THRESHOLD_ATOL = 1e-3, 1e-6


def check_operating_point(recorded: OperatingPoint, labels: np.ndarray, probabilities: np.ndarray,
                          rule: OperatingRule, what: str) -> None:
    """Refuse a model whose validation predictions, rescored now, give another threshold than the recorded one.

    Another threshold means that the weights, the data or the code changed since the search. Thresholds within
    THRESHOLD_RTOL / THRESHOLD_ATOL count as the same (float32 noise of other batch sizes).

    Args:
        recorded: the trial's recorded operating point.
        labels: validation's labels.
        probabilities: the model's validation probabilities now.
        rule: the run's operating rule.
        what: the model in words, for the message ("trial 0012 of run 'x'").

    Raises:
        ToolkitError: the threshold differs.
    """
    now = operating_point(labels, probabilities, rule)
    # Predictions on other batch sizes differ in the last bits (float32); a threshold is a prediction.
    if not np.isclose(now.threshold, recorded.threshold, rtol=THRESHOLD_RTOL, atol=THRESHOLD_ATOL):
        raise ToolkitError(f"{what} recorded threshold {recorded.threshold:.6g} on validation, but its model now gives "
                         f"{now.threshold:.6g} there (recall {now.recall:.3f}, precision {now.precision:.3f}): the "
                         "model, the data or the toolkit changed since the search; search again, or test another "
                         "trial with --trial ID")


def scored_test_folder(run: RunPaths, trial_id: str | None = None, data_dir: str | None = None):
    """The trial's model on the test folder, after the checks `test` makes: the data is the run's, and
    the model gives its recorded threshold on validation again. Writes validation's scores into the
    run when they are not there yet.

    Args:
        run: the run folder.
        trial_id: the trial to test, or None for the run's chosen model (`choose_trial`).
        data_dir: where the run's data folder is now, when it moved; None: where the run was searched.

    Returns:
        (trial, settings, dataset, manifest, model, test rows, test probabilities).

    Raises:
        ToolkitError: no usable trial, the data folder gone or changed, another threshold on validation.
    """
    from tuner.engine.hypermodels import load_trial_model
    from tuner.engine.records import write_validation_scores

    trial = choose_trial(run, trial_id)
    settings = settings_from_run(run, resolve_data_dir(data_dir) if data_dir else None)
    if not settings.data.data_dir.is_dir():
        raise ToolkitError(f"the run's data folder {settings.data.data_dir} is gone: pass --data DIR to where it is "
                           "now")
    dataset = load_dataset(settings.data)
    manifest = read_json(run.manifest) if run.manifest.is_file() else {}
    expected = manifest.get("data_fingerprint")
    if expected and expected != data_fingerprint(dataset):
        changed = [side for side, digest in data_fingerprint(dataset).items() if expected.get(side) != digest]
        raise ToolkitError(f"the data in {settings.data.data_dir} (or its split) is not what run {run.name!r} was "
                         f"searched on (changed: {', '.join(changed)}): pass --data DIR to the original data")

    model = load_trial_model(run, settings, trial)
    validation, test = dataset.split("validation"), dataset.split("test")
    validation_probabilities = predict_probabilities(model, dataset.images, validation["row"].to_numpy())
    check_operating_point(trial.operating_point, validation["label"].to_numpy(), validation_probabilities,
                          OperatingRule.of(settings), f"trial {trial.trial_id} of run {run.name!r}")
    if not run.validation_scores(trial.trial_id).is_file():
        write_validation_scores(run, trial.trial_id, validation, validation_probabilities)
    test_probabilities = predict_probabilities(model, dataset.images, test["row"].to_numpy())
    return trial, settings, dataset, manifest, model, test, test_probabilities


def run_test(run: RunPaths, trial_id: str | None = None, data_dir: str | None = None, explain: int = 0,
             site: str | None = None) -> HoldoutResult:
    """Evaluate the chosen trial once on the test folder; writes metrics and predictions in the run.

    Writes test/metrics.json, test/predictions.csv and test/model.keras (with `site`, test/sites/<site>/ and
    no model), and counts the look before anything else can fail.

    Args:
        run: the run folder.
        trial_id: the trial to test, or None for the run's chosen model.
        data_dir: where the run's data folder is now, when it moved.
        explain: N, also the Grad-CAM pictures of its N most confident false positives and negatives.
        site: use this site point's threshold (`calibrate`) instead of validation's; test images whose
            bytes calibrated it, and their patients, are left out. Written to test/sites/<site>/.

    Returns:
        The result, as test/metrics.json (or test/sites/<site>/metrics.json) now holds it.

    Raises:
        ToolkitError: as `scored_test_folder`; an unknown site, or one calibrated for another trial; no test
            image left once the site's calibration images are left out.
    """
    site_point = None
    if site is not None:  # refused before anything is scored or written
        from tuner.evaluation.sites import site_threshold

        site_point = site_threshold(run, site, choose_trial(run, trial_id).trial_id)
    trial, settings, dataset, manifest, model, test, test_probabilities = scored_test_folder(run, trial_id, data_dir)
    chosen = trial.operating_point
    threshold, left_out, out_dir = chosen.threshold, 0, run.test_dir
    if site_point is not None:
        threshold, out_dir = site_point["threshold"], run.test_dir / "sites" / site
        calibrated_on = set(site_point.get("image_sha256", []))
        # Their patients (and byte-identical copies: the split's groups) go with them.
        groups_used = set(test.loc[test["sha256"].isin(calibrated_on), "group"])
        keep = ~test["group"].isin(groups_used).to_numpy()
        left_out = int((~keep).sum())
        test, test_probabilities = test[keep], test_probabilities[keep]
        if test.empty:
            raise ToolkitError(f"every test image calibrated site {site!r}: nothing is left to test it on")
    test_labels = test["label"].to_numpy()
    metrics = holdout_metrics(test_labels, test_probabilities, threshold,
                               patients=test["patient_key"].to_numpy(), seed=settings.data.seed)

    at_prevalence = None
    if settings.prevalence is not None:  # the precision where the user said the model will be used
        at_prevalence = {str(settings.prevalence): precision_at_prevalence(
            metrics["metrics"]["recall"]["value"], metrics["metrics"]["specificity"]["value"], settings.prevalence)}
    site_fields = {}
    if site_point:
        shown = {key: value for key, value in site_point.items() if key not in ("image_sha256", "skipped")}
        site_fields = {"site": shown, "left_out_calibration_images": left_out}
    predictions = pd.DataFrame({
        "file": test["relpath"].to_numpy(), "patient": test["patient"].to_numpy(), "label": test_labels,
        "probability": test_probabilities, "prediction": (test_probabilities >= threshold).astype(int),
    })
    with atomic_path(out_dir / "predictions.csv") as temporary:
        predictions.to_csv(temporary, index=False)
    # The look is counted before anything else can fail.
    looks = count_test_look(run, trial.trial_id, **({"site": site} if site else {}))
    gallery = _error_gallery(run, out_dir, model, dataset.images, test, test_probabilities, threshold, explain)
    result = HoldoutResult.from_json({
        "run": run.name, "trial_id": trial.trial_id, "space": settings.space,
        "precision_floor": settings.precision_floor, "recall_target": settings.recall_target,
        "validation_operating_point": asdict(chosen), "operating_point": site or "validation", **metrics,
        "prevalence": float(test_labels.mean()), "always_pneumonia_baseline": always_positive_baseline(test_labels),
        "reference": REFERENCE_RESULTS, "synthetic_data": bool(manifest.get("synthetic_data", False)),
        "test_evaluations": looks, "error_gallery": gallery, "precision_at_prevalence": at_prevalence,
        **site_fields})
    write_json(out_dir / "metrics.json", result.to_json())
    if site is None:
        with atomic_path(run.test_dir / "model.keras") as temporary:
            model.save(temporary)
    return result


def _error_gallery(run: RunPaths, out_dir: Path, model, images: np.ndarray, test: pd.DataFrame,
                   probabilities: np.ndarray,
                   threshold: float, count: int) -> list[dict]:
    """Grad-CAM pictures of the `count` most confident false positives and false negatives."""
    import shutil

    from tuner.data.layout import CLASS_NAMES
    from tuner.evaluation.explain import explain_images

    labels = test["label"].to_numpy()
    called = probabilities >= threshold
    false_positives = np.flatnonzero(called & (labels == 0))
    false_negatives = np.flatnonzero(~called & (labels == 1))
    most_confident_positives = false_positives[np.argsort(-probabilities[false_positives])][:count]
    most_confident_negatives = false_negatives[np.argsort(probabilities[false_negatives])][:count]
    chosen = [("false positive", index) for index in most_confident_positives]
    chosen += [("false negative", index) for index in most_confident_negatives]
    folder = out_dir / "errors"
    shutil.rmtree(folder, ignore_errors=True)  # this test run's gallery only, none without --explain
    if not chosen:
        return []
    positions = np.array([index for _, index in chosen])
    names = test["relpath"].to_numpy()[positions].tolist()
    pictures = explain_images(model, np.asarray(images[test["row"].to_numpy()[positions]]), names, threshold, folder,
                              truths=[CLASS_NAMES[int(labels[index])] for _, index in chosen],
                              prefixes=[f"fp{rank:02d}-" for rank in range(len(most_confident_positives))]
                              + [f"fn{rank:02d}-" for rank in range(len(most_confident_negatives))])
    # Pictures are named relative to test/, so that the run folder can move.
    return [{"kind": kind, "file": name, "probability": float(probabilities[index]),
             "picture": str(picture.relative_to(run.test_dir))}
            for (kind, index), name, picture in zip(chosen, names, pictures)]
