"""What the `data` command shows: what was read, how it was split, what a naive split would have leaked."""

from __future__ import annotations

from tuner.data.dataset import SIDES, Dataset
from tuner.data.layout import CLASS_NAMES


def data_summary(dataset: Dataset) -> dict:
    """Everything `cli.py data` shows, as plain JSON-ready values with stable names."""
    records = dataset.records
    counts = {}
    for side in SIDES:
        part = records[records["side"] == side]
        counts[side] = {
            class_name: {"images": int((part["label"] == label).sum()),
                         "patients": int(part.loc[part["label"] == label, "patient_key"].nunique())}
            for label, class_name in enumerate(CLASS_NAMES)
        }
        counts[side]["total"] = {"images": int(len(part)), "patients": int(part["patient_key"].nunique())}
    train_patients = set(dataset.split("train")["patient_key"])
    shared = len(train_patients & set(dataset.split("validation")["patient_key"]))
    weights = dataset.class_weights()
    settings = dataset.settings
    return {
        "data_dir": str(dataset.root),
        "image_size": settings.image_size,
        "val_fraction": settings.val_fraction,
        "seed": settings.seed,
        "limit": settings.limit,
        "counts": counts,
        "shared_patients_train_validation": shared,
        "image_level_split_leak": dataset.image_level_leak,
        "duplicate_groups": dataset.duplicate_groups(),
        "train_test_leaks": dataset.train_test_leaks(),
        "skipped_files": dataset.skipped.to_dict("records"),
        "unparsed_patient_names": int((~dataset.all_records["patient_parsed"]).sum()),
        "patients_from_dicom_headers": int(dataset.all_records["patient_from_header"].sum()),
        "class_weights": {CLASS_NAMES[label]: weight for label, weight in weights.items()},
        "cache": {"path": str(dataset.cache.directory), "size_bytes": dataset.cache.size_bytes,
                  "decoded_this_load": dataset.cache.decoded},
    }
