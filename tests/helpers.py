"""What tests in several folders share: the repository's paths, small generated chest X-ray folders
(Pillow, in tmp_path), the `data` command in-process, and small model helpers for the search spaces.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

import cli
from tuner.core.settings import DataSettings
from tuner.data.dataset import Dataset, load_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]  # cli.py, tuner/, notebooks/
SHARED_DIR = REPO_ROOT.parent / "shared"  # the real data and weights, read-only
SMALL_SIZE = 32  # the smallest --image-size allowed: fastest decoding


def write_image(path: Path, *, mode: str = "L", size: int = 40, fill=None) -> Path:
    """An image at `path`, its format from the suffix (.jpeg/.jpg: JPEG, else PNG).

    Without `fill` it is noise seeded by the path, so every generated file has its own bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fill is None:
        rng = np.random.default_rng(zlib.crc32(str(path).encode()))
        shape = (size, size) if mode == "L" else (size, size, 3)
        image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    else:
        image = Image.new(mode, (size, size), fill)
    image_format = "JPEG" if path.suffix.lower() in (".jpeg", ".jpg") else "PNG"
    image.save(path, format=image_format)
    return path


@dataclass
class GeneratedData:
    root: Path
    # folder on disk ("train", "val", "test") -> class name -> patient id -> image paths
    patients: dict[str, dict[str, dict[str, list[Path]]]] = field(default_factory=dict)

    def images(self, folder: str, class_name: str) -> int:
        return sum(len(paths) for paths in self.patients.get(folder, {}).get(class_name, {}).values())

    def patient_count(self, folder: str, class_name: str) -> int:
        return len(self.patients.get(folder, {}).get(class_name, {}))

    def all_paths(self) -> list[Path]:
        return [path for classes in self.patients.values() for by_patient in classes.values()
                for paths in by_patient.values() for path in paths]

    def add(self, folder: str, class_name: str, patient: str, path: Path) -> None:
        self.patients.setdefault(folder, {}).setdefault(class_name, {}).setdefault(patient, []).append(path)


def _add_patients(data: GeneratedData, folder: str, folder_dir: Path, n_normal: int, n_pneumonia: int,
                  first_patient: int = 0, class_dirs=("NORMAL", "PNEUMONIA")) -> None:
    normal_dir, pneumonia_dir = folder_dir / class_dirs[0], folder_dir / class_dirs[1]
    for number in range(first_patient, first_patient + n_normal):
        # 1-3 images per patient; old Kaggle namings; greyscale JPEG and greyscale PNG
        for image_number in range(1, 2 + number % 3):
            if number % 2:
                patient, name, mode = f"NORMAL2-IM-{number:04d}", f"NORMAL2-IM-{number:04d}-{image_number:04d}.png", "L"
            else:
                patient, name, mode = f"IM-{number:04d}", f"IM-{number:04d}-{image_number:04d}.jpeg", "L"
            data.add(folder, "NORMAL", patient, write_image(normal_dir / name, mode=mode))
    serial = 1
    for number in range(first_patient, first_patient + n_pneumonia):
        # 1-4 images per patient; RGB JPEG (bacteria) and greyscale PNG (virus)
        for _ in range(1 + number % 4):
            kind, suffix, mode = ("bacteria", ".jpeg", "RGB") if number % 2 == 0 else ("virus", ".png", "L")
            name = f"person{number}_{kind}_{serial}{suffix}"
            serial += 1
            data.add(folder, "PNEUMONIA", f"person{number}", write_image(pneumonia_dir / name, mode=mode))


def make_chest_xray(root: Path, *, n_normal: int = 12, n_pneumonia: int = 16, n_test_normal: int = 4,
                    n_test_pneumonia: int = 5, with_val: bool = False) -> GeneratedData:
    """Layout (a) (or (b) with `with_val`): root/train, root/test (and root/val), each {NORMAL,PNEUMONIA}.

    Patient numbering restarts in test/ (person0 of test/ is another child than person0 of train/).
    """
    data = GeneratedData(root)
    _add_patients(data, "train", root / "train", n_normal, n_pneumonia)
    _add_patients(data, "test", root / "test", n_test_normal, n_test_pneumonia)
    if with_val:
        _add_patients(data, "val", root / "val", 2, 2, first_patient=500)
    return data


def load(data_dir: Path, cache_dir: Path, **settings) -> Dataset:
    settings.setdefault("image_size", SMALL_SIZE)
    return load_dataset(DataSettings(data_dir=Path(data_dir), cache_dir=Path(cache_dir), **settings))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`cli.main` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop anything printed before
    code = cli.main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, tuple[int, int]] | None:
    """Every file under `folder` with its size and mtime; None when the folder does not exist."""
    if not folder.exists():
        return None
    return {path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


def json_summary(capsys, *args) -> dict:
    """`data ARGS --format json` in-process; it must succeed, and the whole of stdout is one JSON object."""
    code, out, err = run_cli(capsys, "data", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def sides_by_path(dataset: Dataset) -> dict[str, str]:
    return dict(zip(dataset.records["relpath"], dataset.records["side"]))


def pixels(dataset: Dataset, relpath: str) -> np.ndarray:
    row = dataset.records.set_index("relpath").loc[relpath, "row"]
    return np.asarray(dataset.images[int(row)])


# --- search spaces ---------------------------------------------------------------------------


def layers_of(model, layer_type: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, layer_type)]


def fixed_hp(space_class: type, values: dict):
    """Keras Tuner hyperparameters of `space_class`, set to `values`."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    space_class.declare(hp)
    hp.values = dict(values)
    return hp


# --- trial records ---------------------------------------------------------------------------


def trial_row(trial_id, rank, recall, specificity=0.9, reachable=True, stage="search", parent=None,
              status="completed") -> dict:
    """One row of a run's trials.json."""
    return {"trial_id": trial_id, "rank": rank, "status": status, "recall": recall, "specificity": specificity,
            "reachable": reachable, "stage": stage, "parent_trial": parent, "precision": 0.95, "threshold": 0.5,
            "roc_auc": 0.99, "pr_auc": 0.99, "accuracy": 0.95, "score": 1 + recall, "epochs": 3, "initial_epoch": 0,
            "best_epoch": 3, "seconds": 12.0, "hyperparameters": {"units": 32}}




def write_run(results: Path, name: str, trials: list[dict], manifest: dict | None = None, **settings) -> Path:
    """A run folder as `report` reads it, without training: settings.json (a small cnn_depth search's, with
    `settings` over it), trials.json (`trials` as given: ranked, best first) and, if given, manifest.json."""
    run = results / name
    run.mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps({"space": "cnn_depth", "precision_floor": 0.9, "recall_target": 0.98,
                                                   "data_dir": "data", "image_size": 32, "seed": 0, **settings}))
    (run / "trials.json").write_text(json.dumps(trials))
    if manifest is not None:
        (run / "manifest.json").write_text(json.dumps(manifest))
    return run
