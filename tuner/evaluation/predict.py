"""`predict`: the chosen model's probability and label for image files and folders, and a shift check.

Entry point: `predict_files`; `shift.py` says whether the images look like validation.
"""

from __future__ import annotations

from pathlib import Path

from tuner.core.runs import RunPaths
from tuner.data.layout import CLASS_NAMES, patient_group
from tuner.evaluation.looks import choose_trial
from tuner.evaluation.scoring import collect_images, decode_files, probabilities_of, shown_name, validation_scores
from tuner.evaluation.shift import MIN_IMAGES, shift_check


def predict_files(run: RunPaths, paths: list[str], trial_id: str | None = None, explain_dir: Path | None = None,
                  site: str | None = None, prevalence: float | None = None) -> dict:
    """The trial's predictions for image files and folders, at validation's operating point or a site's.

    Args:
        run: the run folder.
        paths: image files and folders of images (searched recursively).
        trial_id: the trial to use, or None for the run's chosen model.
        explain_dir: where to write a Grad-CAM picture of each image; None for none.
        site: the name of a site point of the run (`calibrate`), whose threshold is used.
        prevalence: the share of PNEUMONIA where the images come from, for the shift check (default:
            the site point's, else the run's).

    Returns:
        {"predictions": one row per readable image (file as `scoring.shown_name` names it, probability,
        threshold, label, trial, and with `explain_dir` its Grad-CAM picture, `explanation`), "skipped": one
        {file, reason} per unreadable file, "operating_point": "validation" or the site's name, "shift_check":
        `shift.shift_check`'s result, or None (under 50 images, or neither the run nor its data folder holds
        validation's scores)}.

    Raises:
        ToolkitError: a missing path, no readable image, an unknown trial or site, a site calibrated for
            another trial, or missing model weights.
    """
    from tuner.core.settings import settings_from_run
    from tuner.engine.hypermodels import load_trial_model

    files = collect_images(paths)  # the paths first: a typo is named before anything else
    trial = choose_trial(run, trial_id)
    settings = settings_from_run(run)
    point = trial.operating_point
    threshold, recall, specificity = point.threshold, point.recall, point.specificity
    folder_prevalence = prevalence if prevalence is not None else point.prevalence
    site_point = None
    if site is not None:
        from tuner.evaluation.sites import site_threshold

        site_point = site_threshold(run, site, trial.trial_id)
        estimates = site_point["estimates"]
        threshold = site_point["threshold"]
        recall, specificity = estimates["recall"]["value"], estimates["specificity"]["value"]
        folder_prevalence = prevalence if prevalence is not None else site_point["prevalence"]
    images, readable, skipped = decode_files(files, settings.data.image_size)  # read before the model loads
    skipped = [{**row, "file": shown_name(Path(row["file"]), paths)} for row in skipped]
    model = load_trial_model(run, settings, trial)
    probabilities = probabilities_of(model, images)
    rows = [{"file": shown_name(file, paths), "probability": float(p), "threshold": threshold,
             "label": CLASS_NAMES[int(p >= threshold)], "trial": trial.trial_id}
            for file, p in zip(readable, probabilities)]
    check = None
    if len(rows) >= MIN_IMAGES:
        reference = validation_scores(run, settings, trial, model)
        if site_point is not None and site_point["method"] == "labelled":
            counts = site_point["n_positives"], site_point["n_negatives"]
        elif reference is not None:
            counts = int(reference["label"].sum()), int((reference["label"] == 0).sum())
        else:
            counts = None  # validation's size unknown: no check
        if counts is not None:
            # A site point differs from validation by design: only its share is checked against it.
            compare = reference is not None and site_point is None
            # Images of one patient (DICOM headers, Kaggle-style file names) count as one patient's, not as many.
            patients = [patient_group(file) for file in readable]
            check = shift_check(probabilities, threshold, recall, specificity, folder_prevalence, *counts,
                                reference["label"].to_numpy() if compare else None,
                                reference["probability"].to_numpy() if compare else None, seed=settings.data.seed,
                                groups=patients, validation_groups=reference["patient"].to_numpy() if compare else None)
    if explain_dir is not None:
        from tuner.evaluation.explain import explain_images

        names = [shown_name(file, paths) for file in readable]
        pictures = explain_images(model, images.astype("float32"), names, threshold, explain_dir)
        for row, picture in zip(rows, pictures):
            row["explanation"] = str(picture)
    return {"predictions": rows, "skipped": skipped, "operating_point": site or "validation", "shift_check": check}
