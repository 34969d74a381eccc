"""A trial's probabilities for image files, and for the validation split (kept in the run).

Used by `predict` and `calibrate`: `collect_images` and `decode_files` read the files, `score_files` scores
them, and `validation_scores` gives the reference that the shift check compares them with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings
from tuner.data.dicom import UnreadableDicom, is_dicom_file
from tuner.data.image_cache import decode
from tuner.data.layout import is_image_file
from tuner.engine.records import TrialRecord, write_validation_scores

PREDICT_BATCH = 64


def collect_images(paths: list[str]) -> list[Path]:
    """The files named, and every image file under the folders named.

    Args:
        paths: files and folders (folders are searched recursively for .jpeg, .jpg, .png and DICOM files).

    Returns:
        The files, in the order named, each folder's sorted.

    Raises:
        ToolkitError: a path does not exist, or no image file was found.
    """
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        elif path.is_file():
            files.append(path)
        else:
            raise ToolkitError(f"{name} not found: pass image files or folders of images")
    if not files:
        raise ToolkitError(f"no image files (.jpeg, .jpg, .png, DICOM) in {', '.join(paths)}")
    return files


def shown_name(file: Path, paths: list[str]) -> str:
    """How outputs name an image: its path relative to the folder it was found in, as given; a file named
    directly, as named. Never anything read from the file (a DICOM header's patient name stays in the file)."""
    for name in paths:
        folder = Path(name)
        if folder.is_dir() and file.is_relative_to(folder):
            return file.relative_to(folder).as_posix()
    return str(file)


def decode_files(files: list[Path], image_size: int) -> tuple[np.ndarray, list[Path], list[dict]]:
    """Decode image files at the run's image size, skipping the unreadable ones.

    Args:
        files: the image files.
        image_size: the side S of the run's square images.

    Returns:
        (images uint8 (n, S, S, 3), the readable files, one {file, reason} per unreadable one).

    Raises:
        ToolkitError: none of the files is a readable image.
    """
    readable, images, skipped = [], [], []
    for file in files:
        try:
            images.append(decode(file.read_bytes(), image_size, dicom=is_dicom_file(file)))
            readable.append(file)
        except UnreadableDicom as error:
            skipped.append({"file": str(file), "reason": f"DICOM: {error}"})
        except Exception as error:  # noqa: BLE001 - whatever Pillow raises, it is not an image we can read
            skipped.append({"file": str(file), "reason": f"not a readable image ({type(error).__name__})"})
    if not images:
        raise ToolkitError(f"none of the {len(skipped)} file(s) is a readable image (.jpeg, .jpg, .png or DICOM "
                           f"expected; the first: {skipped[0]['reason']})")
    return np.stack(images), readable, skipped


def predict_probabilities(model, images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The model's PNEUMONIA probability of `images[rows]`, PREDICT_BATCH images at a time, as float64."""
    from tuner.data.sequences import make_sequence

    batches = make_sequence(images, rows, batch_size=PREDICT_BATCH)
    return np.asarray(model.predict(batches, verbose=0), dtype=np.float64).ravel()


def probabilities_of(model, images: np.ndarray) -> np.ndarray:
    """The model's PNEUMONIA probability of each image (float64), a batch at a time.

    Args:
        model: a model on images (`hypermodels.load_trial_model`).
        images: uint8 images (n, S, S, 3).

    Returns:
        An array of n probabilities.
    """
    return predict_probabilities(model, images, np.arange(len(images)))


def score_files(run: RunPaths, settings: SearchSettings, trial: TrialRecord,
                files: list[Path]) -> tuple[np.ndarray, list[Path], list[dict]]:
    """The trial's model on image files; the files are read before the model loads.

    Args:
        run: the run folder.
        settings: the run's settings.
        trial: the trial whose model scores them.
        files: the image files.

    Returns:
        (probabilities, readable files, one {file, reason} per unreadable file), as `decode_files`.

    Raises:
        ToolkitError: no file is a readable image, or the trial's weights are missing.
    """
    from tuner.engine.hypermodels import load_trial_model

    images, readable, skipped = decode_files(files, settings.data.image_size)
    return probabilities_of(load_trial_model(run, settings, trial), images), readable, skipped


def validation_scores(run: RunPaths, settings: SearchSettings, trial: TrialRecord,
                      model=None) -> pd.DataFrame | None:
    """The trial's validation scores, kept in the run, else computed and kept there.

    Computing them needs the run's data folder at hand, still holding the data the run was searched on.

    Args:
        run: the run folder.
        settings: the run's settings.
        trial: the trial.
        model: the trial's model when already loaded; None loads it if needed.

    Returns:
        A frame with columns file, patient, label and probability, or None where neither is possible.
    """
    path = run.validation_scores(trial.trial_id)
    if path.is_file():
        return pd.read_csv(path)
    if not Path(settings.data.data_dir).is_dir():
        return None
    from tuner.core.atomic import read_json
    from tuner.data.dataset import data_fingerprint, load_dataset
    from tuner.engine.hypermodels import load_trial_model
    try:
        dataset = load_dataset(settings.data)
    except ToolkitError:
        return None
    manifest = read_json(run.manifest) if run.manifest.is_file() else {}
    if manifest.get("data_fingerprint") and manifest["data_fingerprint"] != data_fingerprint(dataset):
        return None
    validation = dataset.split("validation")
    model = model or load_trial_model(run, settings, trial)
    probabilities = predict_probabilities(model, dataset.images, validation["row"].to_numpy())
    write_validation_scores(run, trial.trial_id, validation, probabilities)
    return pd.read_csv(path)
