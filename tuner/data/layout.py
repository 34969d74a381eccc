"""Find the image files of a chest X-ray folder and the patient each one belongs to.

Layouts read:
  (a) DIR/train/{NORMAL,PNEUMONIA} and DIR/test/{NORMAL,PNEUMONIA}  (Kaggle "labeled-chest-xray-images")
  (b) (a) plus DIR/val/{NORMAL,PNEUMONIA}, merged into train         (Kaggle "chest-xray-pneumonia")
  (c) DIR holding one chest_xray/ folder that holds (a) or (b).
Folder names are matched case-insensitively. Entry points: `find_root`, `list_images` and `patient_id`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tuner.core.errors import ToolkitError
from tuner.core.settings import GET_DATA_HINT
from tuner.data.dicom import dicom_patient, is_dicom_file

CLASS_NAMES = ("NORMAL", "PNEUMONIA")  # index = label; PNEUMONIA is the positive class
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
SPLIT_FOLDERS = ("train", "val", "test")

# Both namings of the same images: the original Kaggle file names and the
# "labeled-chest-xray-images" release's renamed ones.
_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_(?:bacteria|virus)_\d+", re.IGNORECASE),  # person123_bacteria_456
    re.compile(r"^(NORMAL2-IM-\d+)-\d+", re.IGNORECASE),  # NORMAL2-IM-0135-0001
    re.compile(r"^(IM-\d+)-\d+", re.IGNORECASE),  # IM-0115-0001
    re.compile(r"^(?:NORMAL|BACTERIA|VIRUS)-(\d+)-\d+", re.IGNORECASE),  # BACTERIA-7422-0001
)


def is_image_file(path: Path) -> bool:
    """Whether the toolkit reads `path` as an image: .jpeg, .jpg, .png, or DICOM (`dicom.is_dicom_file`)."""
    return path.suffix.lower() in IMAGE_SUFFIXES or is_dicom_file(path)


def patient_group(path: Path) -> str:
    """The patient an image file outside the data set belongs to, for counting patients (`predict`, `calibrate`):
    a DICOM header's (hashed) PatientID, else a Kaggle-style file name's patient within its folder, else the file."""
    if is_dicom_file(path):
        header = dicom_patient(path)
        if header is not None:
            return header
    return f"{path.parent}/{patient_id(path.name) or path.name}"


def patient_id(file_name: str) -> str | None:
    """The patient a file name belongs to, or None when it fits no known naming."""
    stem = Path(file_name).stem
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(stem)
        if match:
            return match.group(1)
    return None


@dataclass(frozen=True)
class ImageFile:
    """One image file of the data folder.

    Attributes:
        path: the file.
        relpath: its path relative to the data root: its identity in caches and reports.
        folder: "train", "val" or "test", as on disk.
        label: 0 (NORMAL) or 1 (PNEUMONIA), from its class folder.
    """

    path: Path
    relpath: str  # relative to the data root: the file's identity in caches and reports
    folder: str  # "train", "val" or "test", as on disk
    label: int


def _child(parent: Path, name: str) -> Path | None:
    """The sub-folder of `parent` called `name`, in any letter case."""
    for entry in sorted(parent.iterdir()):
        if entry.is_dir() and entry.name.lower() == name.lower():
            return entry
    return None


def find_root(data_dir: Path) -> Path:
    """The folder that holds train/ (and test/), looking one chest_xray/ level down.

    Raises:
        ToolkitError: the folder is missing or holds no train/ there.
    """
    if not data_dir.is_dir():
        raise ToolkitError(f"data folder {data_dir} not found: {GET_DATA_HINT}")
    if _child(data_dir, "train") is None:
        nested = _child(data_dir, "chest_xray")
        if nested is not None and _child(nested, "train") is not None:
            return nested
        raise ToolkitError(
            f"{data_dir} has no train/ folder: expected {data_dir}/train/{{NORMAL,PNEUMONIA}} and "
            f"{data_dir}/test/{{NORMAL,PNEUMONIA}} (the Kaggle labeled-chest-xray-images layout)"
        )
    return data_dir


def list_images(root: Path) -> list[ImageFile]:
    """Every image file under the root's split and class folders, sorted by relative path.

    Raises:
        ToolkitError: no test/, a class folder missing from train/ or test/, or one of them without images.
    """
    if _child(root, "test") is None:
        raise ToolkitError(f"{root} has no test/ folder: expected {root}/test/{{NORMAL,PNEUMONIA}} beside train/")
    files: list[ImageFile] = []
    for folder in SPLIT_FOLDERS:
        split_dir = _child(root, folder)
        if split_dir is None:
            continue  # val/ is optional
        for label, class_name in enumerate(CLASS_NAMES):
            class_dir = _child(split_dir, class_name)
            if class_dir is None:
                if folder == "val":
                    continue
                raise ToolkitError(
                    f"{split_dir} has no {class_name}/ folder: expected {split_dir}/NORMAL and {split_dir}/PNEUMONIA"
                )
            found = [
                ImageFile(path, path.relative_to(root).as_posix(), folder, label)
                for path in sorted(class_dir.iterdir())
                if path.is_file() and is_image_file(path)
            ]
            if not found and folder != "val":
                raise ToolkitError(f"{class_dir} holds no image (.jpeg, .jpg, .png, DICOM): check the data folder")
            files.extend(found)
    return sorted(files, key=lambda image: image.relpath)
