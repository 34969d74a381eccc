"""`calibrate`: operating points for a site, recorded in the run as sites/<name>.json.

A site point belongs to one trial (the run's chosen model unless `--trial`); `test --site` and
`predict --site` use its threshold instead of validation's, which stays the default. Entry points:
`calibrate_site`, `site_threshold` and `site_points`; the arithmetic is in `calibration.py`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from tuner.core.atomic import read_json, write_json
from tuner.core.errors import ToolkitError, command
from tuner.core.runs import RUN_NAME, RunPaths
from tuner.core.settings import check_prevalence, settings_from_run
from tuner.data.layout import CLASS_NAMES, is_image_file, patient_group
from tuner.engine.objective import OperatingRule
from tuner.evaluation.calibration import labelled_operating_point, supported_recall_text, unlabelled_operating_point
from tuner.evaluation.looks import choose_trial, count_test_look
from tuner.evaluation.scoring import collect_images, score_files, shown_name

VALIDATION = "validation"  # the name of the search's own operating point in reports


def check_site_name(run: RunPaths, name: str, must_exist: bool) -> str:
    """Check a site's name.

    Args:
        run: the run folder.
        name: the site's name (`--name`, `--site`).
        must_exist: the run must have a point of that name.

    Returns:
        `name`.

    Raises:
        ToolkitError: not a plain file name, the reserved name "validation", or (`must_exist`) no such site.
    """
    if not RUN_NAME.fullmatch(name) or name in (".", ".."):
        raise ToolkitError(f"site name {name!r} is not allowed: use letters, digits, '-', '_' and '.' only")
    if name == VALIDATION:
        raise ToolkitError(f"site name {VALIDATION!r} is the search's own operating point: choose another --name")
    if must_exist and not run.site(name).is_file():
        known = ", ".join(site["name"] for site in site_points(run)) or "none"
        raise ToolkitError(f"run {run.name!r} has no site {name!r} (sites: {known}): calibrate one with "
                           f"{command(f'calibrate --run {run.name} --name {name} --labelled DIR')}")
    return name


def site_points(run: RunPaths) -> list[dict]:
    """The run's recorded site points (sites/*.json), sorted by name; [] without any."""
    if not run.sites.is_dir():
        return []
    return [read_json(path) for path in sorted(run.sites.glob("*.json"), key=lambda path: path.stem)]


def read_site_point(run: RunPaths, name: str) -> dict:
    """One recorded site point.

    Raises:
        ToolkitError: as `check_site_name` (an unknown or malformed name).
    """
    return read_json(run.site(check_site_name(run, name, must_exist=True)))


def labelled_files(folder: Path) -> tuple[list[Path], np.ndarray]:
    """The images under `folder`'s NORMAL/ and PNEUMONIA/ (any letter case, searched recursively).

    Args:
        folder: a folder holding NORMAL/ and PNEUMONIA/.

    Returns:
        (files, labels): NORMAL's files then PNEUMONIA's, each sorted; labels 0/1.

    Raises:
        ToolkitError: a missing folder, or a class without images.
    """
    if not folder.is_dir():
        raise ToolkitError(f"--labelled {folder} not found: pass a folder holding NORMAL/ and PNEUMONIA/")
    files, labels = [], []
    for label, class_name in enumerate(CLASS_NAMES):
        class_dirs = [entry for entry in folder.iterdir()
                      if entry.is_dir() and entry.name.lower() == class_name.lower()]
        found = sorted(path for class_dir in class_dirs for path in class_dir.rglob("*")
                       if path.is_file() and is_image_file(path))
        if not found:
            raise ToolkitError(f"--labelled {folder} has no {class_name} images: a threshold needs both classes, in "
                               f"{folder}/NORMAL and {folder}/PNEUMONIA")
        files += found
        labels += [label] * len(found)
    return files, np.array(labels)


def calibrate_site(run: RunPaths, name: str, labelled: str | None = None, images: str | None = None,
                   prevalence: float | None = None, trial_id: str | None = None, conservative: bool = False,
                   overwrite: bool = False) -> dict:
    """Calibrate and record a site point.

    Writes sites/<name>.json. Labelled images that are the run's own test images count as a look at the
    test folder.

    Args:
        run: the run folder.
        name: the site's name.
        labelled: a folder of NORMAL/ and PNEUMONIA/ site images: the run's rule applied to them, at
            `prevalence` or their own share.
        images: a folder of unlabelled site images: quantile alignment at `prevalence` (required).
        prevalence: the site's share of PNEUMONIA, in (0, 1).
        trial_id: the trial to calibrate, or None for the run's chosen model.
        conservative: (labelled) the highest threshold whose recall lower bound reaches the target.
        overwrite: replace a site point of the same name.

    Returns:
        The stored point (threshold, estimates, method, what it was calibrated on), with `test_evaluations`
        added when it counted a look.

    Raises:
        ToolkitError: both or neither folder, a bad or existing name, a missing or bad prevalence,
            `conservative` without labels, empty or one-class folders, no readable image, no usable trial.
            Nothing is written then.
    """
    if (labelled is None) == (images is None):
        raise ToolkitError("calibrate needs one of --labelled DIR (NORMAL/ and PNEUMONIA/) or --images DIR "
                           "(unlabelled)")
    check_site_name(run, name, must_exist=False)
    if run.site(name).is_file() and not overwrite:
        raise ToolkitError(f"run {run.name!r} already has a site {name!r}: choose another --name, or pass --overwrite "
                           "to replace it")
    check_prevalence(prevalence, "at the site")
    if images is not None and prevalence is None:
        raise ToolkitError("calibrate --images needs --prevalence P, the share of PNEUMONIA among the site's images: "
                           "unlabelled images cannot tell it")
    if images is not None and conservative:
        raise ToolkitError("--conservative goes with --labelled: unlabelled images hold no recall to bound")
    if labelled is not None:
        files, labels = labelled_files(Path(labelled))
    else:
        files, labels = collect_images([images]), None
    trial = choose_trial(run, trial_id)
    settings = settings_from_run(run)
    probabilities, readable, skipped = score_files(run, settings, trial, files)
    folder = [str(labelled or images)]  # the site's files are named relative to it, never by their headers
    skipped = [{**row, "file": shown_name(Path(row["file"]), folder)} for row in skipped]
    kept = np.array([files.index(path) for path in readable])
    rule = OperatingRule.of(settings)
    point = {"name": name, "trial_id": trial.trial_id, "method": "labelled" if labelled else "unlabelled",
             "folder": str(Path(labelled or images).resolve()), "calibrated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "precision_floor": rule.precision_floor, "recall_target": rule.recall_target,
             "skipped": skipped, "image_sha256": [_sha256(path) for path in readable]}
    if labelled is not None:
        site_labels = labels[kept]
        if site_labels.min() == site_labels.max():
            raise ToolkitError(f"--labelled {labelled}: only {CLASS_NAMES[int(site_labels[0])]} images could be read; "
                               "a threshold needs both classes")
        patients = [patient_group(path) for path in readable]
        result = labelled_operating_point(site_labels, probabilities, patients,
                                          OperatingRule(rule.precision_floor, rule.recall_target, prevalence),
                                          conservative=conservative, seed=settings.data.seed)
        result["note"] = supported_recall_text(result, rule.recall_target)
    else:
        validation = trial.operating_point
        result = unlabelled_operating_point(probabilities, validation.recall, validation.specificity, prevalence)
        result["note"] = ("assumes that the site's shift moves the scores but keeps their ranking: recall and "
                          "specificity are validation's")
    point.update(result)
    if labelled is not None:
        # Labels of the run's own test images read here are a look at the test folder, and counted as one.
        test_hashes = _test_folder_hashes(settings)
        point["test_images"] = None if test_hashes is None else len(test_hashes & set(point["image_sha256"]))
    write_json(run.site(name), point)
    if point.get("test_images"):
        point["test_evaluations"] = count_test_look(run, trial.trial_id, calibrate=name, images=point["test_images"])
    return point


def site_threshold(run: RunPaths, name: str, trial_id: str) -> dict:
    """The site point `name` for the trial in use.

    Args:
        run: the run folder.
        name: the site's name.
        trial_id: the trial that `test` or `predict` uses.

    Returns:
        The stored site point (sites/<name>.json).

    Raises:
        ToolkitError: an unknown name, or a point calibrated for another trial.
    """
    point = read_site_point(run, name)
    if point["trial_id"] != trial_id:
        raise ToolkitError(f"site {name!r} was calibrated for trial {point['trial_id']}, not {trial_id}: pass "
                           f"--trial {point['trial_id']}, or calibrate {trial_id} for the site")
    return point


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _test_folder_hashes(settings) -> set[str] | None:
    """The SHA-256 of the run's test images, or None where its data folder is not at hand."""
    from tuner.data.dataset import load_dataset

    if not Path(settings.data.data_dir).is_dir():
        return None
    try:
        records = load_dataset(settings.data).all_records  # before --limit: every test image
        return set(records.loc[records["folder"] == "test", "sha256"])
    except ToolkitError:
        return None
