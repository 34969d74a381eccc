"""Finding the data folder, reading its layouts and file namings, and refusing bad folders.

Every test generates its own tiny image folder in tmp_path and caches into tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load, make_chest_xray, run_cli, snapshot, write_image

from tuner.data.layout import CLASS_NAMES, patient_id


def summary_of(capsys, *args) -> dict:
    code, out, err = run_cli(capsys, "data", *args, "--format", "json", "--image-size", "32")
    assert code == 0, err
    return json.loads(out)


def train_pool_images(summary: dict, class_name: str) -> int:
    counts = summary["counts"]
    return counts["train"][class_name]["images"] + counts["validation"][class_name]["images"]


# --- layouts --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["a: train+test", "b: train+val+test", "c: chest_xray/ holding a",
                                    "c: chest_xray/ holding b"])
def test_layouts(tmp_path, capsys, layout):
    parent = tmp_path / "download"
    root = parent / "chest_xray" if layout.startswith("c") else parent
    data = make_chest_xray(root, with_val=layout.endswith("b"))
    summary = summary_of(capsys, "--data", parent, "--cache-dir", tmp_path / "cache")

    assert Path(summary["data_dir"]) == root.resolve()
    for class_name in CLASS_NAMES:
        # val/ (layout b) is merged into the train pool, never into test
        expected_pool = data.images("train", class_name) + data.images("val", class_name)
        assert train_pool_images(summary, class_name) == expected_pool
        assert summary["counts"]["test"][class_name]["images"] == data.images("test", class_name)
        assert summary["counts"]["test"][class_name]["patients"] == data.patient_count("test", class_name)
    assert summary["skipped_files"] == []
    assert summary["unparsed_patient_names"] == 0


def test_val_folder_is_merged_into_the_train_pool(tmp_path):
    data = make_chest_xray(tmp_path / "data", with_val=True)
    dataset = load(data.root, tmp_path / "cache")
    from_val = dataset.records[dataset.records["folder"] == "val"]
    assert len(from_val) == data.images("val", "NORMAL") + data.images("val", "PNEUMONIA") > 0
    assert set(from_val["side"]) <= {"train", "validation"}


def test_folder_names_any_case_and_upper_case_suffixes(tmp_path, capsys):
    root = tmp_path / "data"
    written = {
        "Train/normal/IM-0001-0001.JPEG": "L", "Train/normal/IM-0001-0002.jpg": "L",
        "Train/normal/IM-0002-0001.JPG": "RGB", "Train/normal/IM-0003-0001.PNG": "L",
        "Train/normal/IM-0004-0001.png": "RGB", "Train/normal/IM-0005-0001.jpeg": "L",
        "Train/Pneumonia/person1_virus_1.Jpeg": "L", "Train/Pneumonia/person2_bacteria_2.PNG": "RGB",
        "Train/Pneumonia/person3_bacteria_3.jpeg": "RGB", "Train/Pneumonia/person4_virus_4.JPG": "L",
        "Train/Pneumonia/person5_virus_5.png": "L", "Train/Pneumonia/person6_virus_6.jpg": "L",
        "TEST/NORMAL/IM-0001-0001.jpeg": "L", "TEST/NORMAL/IM-0009-0001.PNG": "L",
        "TEST/pneumonia/person1_virus_1.JPEG": "RGB", "TEST/pneumonia/person9_virus_2.png": "L",
    }
    for relpath, mode in written.items():
        write_image(root / relpath, mode=mode)
    # not images: ignored, neither counted nor reported as skipped
    (root / "Train" / "normal" / "notes.txt").write_text("not an image")
    (root / "Train" / "normal" / ".DS_Store").write_bytes(b"\0\1")

    summary = summary_of(capsys, "--data", root, "--cache-dir", tmp_path / "cache")
    assert train_pool_images(summary, "NORMAL") == 6
    assert train_pool_images(summary, "PNEUMONIA") == 6
    assert summary["counts"]["test"]["NORMAL"]["images"] == 2
    assert summary["counts"]["test"]["PNEUMONIA"]["images"] == 2
    assert summary["skipped_files"] == []


def test_pneumonia_is_label_one(tmp_path):
    data = make_chest_xray(tmp_path / "data", n_normal=4, n_pneumonia=4)
    dataset = load(data.root, tmp_path / "cache")
    records = dataset.all_records
    assert CLASS_NAMES.index("PNEUMONIA") == 1
    for _, record in records.iterrows():
        expected = 1 if "/PNEUMONIA/" in f"/{record['relpath']}" else 0
        assert record["label"] == expected
        assert record["class_name"] == CLASS_NAMES[expected]


# --- patients -------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name, patient", [
    ("person123_bacteria_456.jpeg", "person123"),
    ("person123_virus_7.jpeg", "person123"),
    ("person1_bacteria_1.JPEG", "person1"),
    ("IM-0115-0001.jpeg", "IM-0115"),
    ("IM-0608-0001-0001.jpeg", "IM-0608"),
    ("NORMAL2-IM-0135-0001.jpeg", "NORMAL2-IM-0135"),
    ("NORMAL2-IM-1116-0001-0002.jpeg", "NORMAL2-IM-1116"),
    ("NORMAL-1049278-0001.jpeg", "1049278"),
    ("BACTERIA-7422-0001.jpeg", "7422"),
    ("VIRUS-100-0002.jpeg", "100"),
    ("VIRUS-100-0002.png", "100"),
])
def test_patient_from_file_name(file_name, patient):
    assert patient_id(file_name) == patient


@pytest.mark.parametrize("file_name", ["scan.jpeg", "xray_0001.png", "person_bacteria_1.jpeg", "IM-abc-0001.jpeg"])
def test_file_name_of_no_known_naming_has_no_patient(file_name):
    assert patient_id(file_name) is None


def test_unparsed_names_are_patients_of_their_own_and_counted(tmp_path, capsys):
    data = make_chest_xray(tmp_path / "data")
    for name in ("scan_a.jpeg", "scan_b.png", "scan_c.jpg"):
        write_image(data.root / "train" / "NORMAL" / name)
    summary = summary_of(capsys, "--data", data.root, "--cache-dir", tmp_path / "cache")
    assert summary["unparsed_patient_names"] == 3
    patients = sum(summary["counts"][side]["NORMAL"]["patients"] for side in ("train", "validation"))
    assert patients == data.patient_count("train", "NORMAL") + 3


def test_patient_ids_are_namespaced_per_folder(tmp_path, capsys):
    # the generator restarts the numbering in test/: person0..person4 and IM-0000.. exist in both
    data = make_chest_xray(tmp_path / "data")
    dataset = load(data.root, tmp_path / "cache")
    records = dataset.records
    test_side = records[records["side"] == "test"]
    pool = records[records["side"] != "test"]
    assert set(test_side["patient"]) & set(pool["patient"])  # the same names ...
    assert not set(test_side["patient_key"]) & set(pool["patient_key"])  # ... are other children
    summary = summary_of(capsys, "--data", data.root, "--cache-dir", tmp_path / "cache")
    for class_name in CLASS_NAMES:
        assert summary["counts"]["test"][class_name]["patients"] == data.patient_count("test", class_name)
        pool_patients = sum(summary["counts"][side][class_name]["patients"] for side in ("train", "validation"))
        assert pool_patients == data.patient_count("train", class_name)


# --- bad folders: exit 2, one line, nothing written -----------------------------------------


def _no_train_folder(root: Path) -> None:
    make_chest_xray(root, n_normal=2, n_pneumonia=2)
    for path in sorted((root / "train").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "train").rmdir()


def _no_class_folders(root: Path) -> None:
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir(parents=True)


def _no_test_folder(root: Path) -> None:
    write_image(root / "train" / "NORMAL" / "IM-0001-0001.jpeg")
    write_image(root / "train" / "PNEUMONIA" / "person1_virus_1.jpeg")


def _empty_class_folder(root: Path) -> None:
    make_chest_xray(root, n_normal=2, n_pneumonia=2)
    for path in (root / "train" / "PNEUMONIA").iterdir():
        path.unlink()


BAD_FOLDERS = {  # how to make it, and the whole of stderr (`{root}`: the data folder)
    "data folder missing": (
        lambda root: None,
        'error: data folder {root} (--data) not found: download the Kaggle data set "labeled-chest-xray-images" '
        "(kaggle datasets download tolgadincer/labeled-chest-xray-images) and pass --data DIR, set XRAY_TUNER_DATA, "
        "or unpack it into ./data/chest_xray"),
    "no train folder": (
        _no_train_folder,
        "error: {root} has no train/ folder: expected {root}/train/{{NORMAL,PNEUMONIA}} and "
        "{root}/test/{{NORMAL,PNEUMONIA}} (the Kaggle labeled-chest-xray-images layout)"),
    "no class folders": (
        _no_class_folders,
        "error: {root}/train has no NORMAL/ folder: expected {root}/train/NORMAL and {root}/train/PNEUMONIA"),
    "no test folder": (
        _no_test_folder,
        "error: {root} has no test/ folder: expected {root}/test/{{NORMAL,PNEUMONIA}} beside train/"),
    "a class folder with no image file": (
        _empty_class_folder,
        "error: {root}/train/PNEUMONIA holds no image (.jpeg, .jpg, .png, DICOM): check the data folder"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_bad_folder_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    root = tmp_path / "data"
    make, message = BAD_FOLDERS[case]
    make(root)
    before = snapshot(root)
    cache = tmp_path / "cache"
    code, out, err = run_cli(capsys, "data", "--data", root, "--cache-dir", cache, "--format", "json")
    assert code == 2
    assert out == ""
    assert err == message.format(root=root) + "\n"
    assert not cache.exists()
    assert snapshot(root) == before


def test_class_folder_with_only_unreadable_files_exits_2_with_one_line(tmp_path, capsys):
    root = tmp_path / "data"
    make_chest_xray(root, n_normal=3, n_pneumonia=3)
    for path in (root / "test" / "NORMAL").iterdir():
        path.write_bytes(b"this is not an image")
    before = snapshot(root)
    code, out, err = run_cli(capsys, "data", "--data", root, "--cache-dir", tmp_path / "cache", "--format", "json")
    assert code == 2
    assert out == ""
    assert err == f"error: {root}/test/NORMAL holds no readable image: check the data folder\n"
    assert snapshot(root) == before
