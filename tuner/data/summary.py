"""The `data` command: what was read, how it was split, and what a naive split would have leaked."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

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
    train_patients = set(dataset.side("train")["patient_key"])
    shared = len(train_patients & set(dataset.side("validation")["patient_key"]))
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
        "class_weights": {CLASS_NAMES[label]: weight for label, weight in weights.items()},
        "cache": {"path": str(dataset.cache.directory), "size_bytes": dataset.cache.size_bytes,
                  "decoded_this_load": dataset.cache.decoded},
    }


def print_data_summary(summary: dict, console: Console) -> None:
    table = Table(title=f"Chest X-ray data · {summary['data_dir']} · {summary['image_size']} px")
    table.add_column("split")
    for class_name in CLASS_NAMES:
        table.add_column(f"{class_name}\nimages", justify="right")
        table.add_column(f"{class_name}\npatients", justify="right")
    table.add_column("total\nimages", justify="right")
    for side in SIDES:
        row = summary["counts"][side]
        cells = [f"{row[c][k]:,}" for c in CLASS_NAMES for k in ("images", "patients")]
        table.add_row(side, *cells, f"{row['total']['images']:,}")
    console.print(table)

    leak = summary["image_level_split_leak"]
    weights = summary["class_weights"]
    limit = f", at most {summary['limit']} images per class and split (--limit)" if summary["limit"] else ""
    lines = [
        f"Validation: {summary['val_fraction']:.0%} of train/, grouped by patient and stratified by class, "
        f"seed {summary['seed']}{limit}.",
        f"Patients shared by train and validation: [bold]{summary['shared_patients_train_validation']}[/].",
        f"An image-level split of the same fraction would put [bold]{leak['validation_images_sharing_a_patient_with_train']:,}"
        f"[/] of its {leak['validation_images']:,} validation images ({leak['fraction']:.0%}) beside another image of the "
        "same patient in training: validation scores from such a split are optimistic.",
        f"Byte-identical groups: {len(summary['duplicate_groups'])} (kept on one side of the split); "
        f"train/test leaks: [bold]{len(summary['train_test_leaks'])}[/].",
        f"Skipped unreadable files: {len(summary['skipped_files'])}; file names of no known naming "
        f"(each its own patient): {summary['unparsed_patient_names']}.",
        f"Class weights (balanced, from the training side): NORMAL {weights['NORMAL']:.3f}, "
        f"PNEUMONIA {weights['PNEUMONIA']:.3f}.",
        f"Image cache: {summary['cache']['path']} ({summary['cache']['size_bytes'] / 2**20:,.1f} MiB; "
        f"decoded {summary['cache']['decoded_this_load']:,} images this time).",
    ]
    for leak_group in summary["train_test_leaks"]:
        lines.append(f"  [yellow]leak:[/] {' = '.join(leak_group)}")
    for line in lines:
        console.print(line)
