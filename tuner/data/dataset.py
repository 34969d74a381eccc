"""The data set as the searches see it: records, decoded images, the split and class weights.

`load_dataset` scans a data folder, decodes it once (`image_cache.py`) and splits it by patient
(`split.py`); `data_fingerprint` names what a run was searched on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from tuner.core.errors import ToolkitError
from tuner.core.progress import stderr_console
from tuner.core.settings import DataSettings
from tuner.data.image_cache import ImageCache, load_image_cache
from tuner.data.layout import CLASS_NAMES, find_root, list_images, patient_id
from tuner.data.split import grouped_validation_mask, image_level_leak, leakage_groups, limit_per_class

SIDES = ("train", "validation", "test")


# One PatientID on at least this many DICOM files is a placeholder (an anonymised export), not one patient.
PLACEHOLDER_MINIMUM = 10

@dataclass(frozen=True)
class Dataset:
    """A loaded data set (`load_dataset`).

    Attributes:
        settings: the data settings it was loaded with.
        root: the folder holding train/ and test/.
        records: one row per readable image kept (after --limit), in cache-row order; columns relpath,
            folder, label, class_name, patient, patient_parsed, patient_key, sha256, row (in `images`),
            group (patients and byte-identical copies joined) and side ("train", "validation" or "test").
        all_records: the same for every readable image, before --limit.
        skipped: the unreadable files (relpath, problem).
        cache: the decoded images.
        image_level_leak: what an image-level split would leak (`split.image_level_leak`).
    """

    settings: DataSettings
    root: Path
    records: pd.DataFrame  # one row per readable image kept (see `columns` below), in cache-row order
    all_records: pd.DataFrame  # every readable image before --limit
    skipped: pd.DataFrame  # relpath, problem
    cache: ImageCache
    image_level_leak: dict

    # records columns: relpath, folder, label, class_name, patient, patient_parsed, patient_key,
    # sha256, row, group, side

    @property
    def images(self) -> np.ndarray:
        """Every decoded image, uint8 (rows, S, S, 3), memory-mapped; `records["row"]` indexes it."""
        return self.cache.images

    def split(self, name: str) -> pd.DataFrame:
        """The records of one split: "train", "validation" or "test" (`records["side"]` names it)."""
        return self.records[self.records["side"] == name]

    def class_weights(self) -> dict[int, float]:
        """'Balanced' weights from the training side of the split."""
        labels = self.split("train")["label"].to_numpy()
        weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
        return {0: float(weights[0]), 1: float(weights[1])}

    def duplicate_groups(self) -> list[list[str]]:
        """Groups of byte-identical images (relative paths), across all folders."""
        frame = self.all_records
        return [sorted(group["relpath"]) for _, group in frame.groupby("sha256") if len(group) > 1]

    def train_test_leaks(self) -> list[list[str]]:
        """Duplicate groups with a copy in training data and a copy in test: a leak."""
        return [group for group in self.duplicate_groups()
                if any(not path.lower().startswith("test/") for path in group)
                and any(path.lower().startswith("test/") for path in group)]


def load_dataset(settings: DataSettings) -> Dataset:
    """Scan, decode (once, cached), split and, with --limit, subsample the data set.

    Validation is drawn from train/ (and val/), grouped by patient and stratified by class; test/ stays
    the test side. Unreadable files are skipped with a warning on stderr.

    Args:
        settings: the data folder, image size, cache folder, validation fraction, seed and limit.

    Returns:
        The loaded data set.

    Raises:
        ToolkitError: the folder or its layout is missing, or a class of train/ or test/ has no readable image.
    """
    root = find_root(settings.data_dir)
    files = list_images(root)
    cache = load_image_cache(files, root, settings.image_size, settings.cache_dir)

    headers = [cache.entries[image_file.relpath].patient for image_file in files]
    from_headers = [patient for patient in headers if patient is not None]
    if len(from_headers) >= PLACEHOLDER_MINIMUM and len(set(from_headers)) == 1:
        stderr_console.print(f"[yellow]warning:[/] all {len(from_headers)} DICOM files carry the same PatientID (an "
                             "anonymised export?): their patients are taken from their file names instead",
                             soft_wrap=True)
        headers = [None] * len(files)
    rows = []
    for image_file, header in zip(files, headers):
        entry = cache.entries[image_file.relpath]
        # A DICOM header's PatientID (hashed) names the patient in every folder; file-name ids restart in each
        # folder (person1 of test/ is not person1 of train/), and val/ is train's.
        patient = header or patient_id(image_file.path.name)
        namespace = "header" if header else "test" if image_file.folder == "test" else "train"
        rows.append({
            "relpath": image_file.relpath, "folder": image_file.folder, "label": image_file.label,
            "class_name": CLASS_NAMES[image_file.label],
            "patient": patient or Path(image_file.relpath).stem, "patient_parsed": patient is not None,
            "patient_from_header": header is not None,
            "patient_key": f"{namespace}:{patient or image_file.relpath}",
            "sha256": entry.sha256, "row": entry.row, "problem": entry.problem,
        })
    frame = pd.DataFrame(rows)
    skipped = frame.loc[frame["row"].isna(), ["relpath", "problem"]].reset_index(drop=True)
    records = frame[frame["row"].notna()].drop(columns="problem").reset_index(drop=True)
    records["row"] = records["row"].astype(int)
    _require_every_class(records, root)
    if len(skipped):
        listed = ", ".join(f"{row.relpath} ({row.problem})" for row in skipped.head(5).itertuples())
        listed += " …" if len(skipped) > 5 else ""
        stderr_console.print(f"[yellow]warning:[/] skipped {len(skipped)} unreadable image file(s): {listed}",
                             soft_wrap=True)

    records["group"] = leakage_groups(records["patient_key"], records["sha256"])
    is_test = records["folder"] == "test"
    pool = records[~is_test]
    validation = grouped_validation_mask(pool["label"].to_numpy(), pool["group"].to_numpy(),
                                         settings.val_fraction, settings.seed)
    records["side"] = "test"
    records.loc[pool.index, "side"] = np.where(validation, "validation", "train")
    leak = image_level_leak(pool["label"].to_numpy(), pool["patient_key"].to_numpy(),
                            settings.val_fraction, settings.seed)

    all_records = records
    if settings.limit is not None:
        records = records[limit_per_class(records, settings.limit, settings.seed)].reset_index(drop=True)
    return Dataset(settings, root, records, all_records, skipped, cache, leak)


def _require_every_class(records: pd.DataFrame, root: Path) -> None:
    for folder in ("train", "test"):
        for label, class_name in enumerate(CLASS_NAMES):
            if not ((records["folder"] == folder) & (records["label"] == label)).any():
                raise ToolkitError(f"{root}/{folder}/{class_name} holds no readable image: check the data folder")


def data_fingerprint(dataset: Dataset) -> dict[str, str]:
    """Per side, a hash of its file list and contents: any moved, added, removed or changed image shows.

    Returns:
        {side: SHA-256 hex digest} for "train", "validation" and "test".
    """
    import hashlib

    fingerprint = {}
    for side in SIDES:
        part = dataset.split(side).sort_values("relpath")
        listing = "\n".join(f"{path} {sha}" for path, sha in zip(part["relpath"], part["sha256"]))
        fingerprint[side] = hashlib.sha256(listing.encode()).hexdigest()
    return fingerprint
