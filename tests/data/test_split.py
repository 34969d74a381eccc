"""The patient-grouped, stratified validation split: patients and byte-identical images on one side,
the test folder never used, --limit, and the fractions that leave a class with few patients.
"""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import SMALL_SIZE, json_summary, load, make_chest_xray, run_cli, sides_by_path, write_image

from tuner.data.layout import CLASS_NAMES

# --- the patient-grouped, stratified validation split ---------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_no_patient_on_both_sides(generated, tmp_path, seed):
    dataset = load(generated.root, tmp_path / "cache", seed=seed)
    train, validation = dataset.split("train"), dataset.split("validation")
    assert not set(train["patient_key"]) & set(validation["patient_key"])
    for class_name in CLASS_NAMES:  # stratified: both classes on both sides
        assert (train["class_name"] == class_name).any()
        assert (validation["class_name"] == class_name).any()


@pytest.mark.parametrize("val_fraction", [0.2, 0.4])
def test_validation_share_of_each_class(tmp_path, val_fraction):
    data = make_chest_xray(tmp_path / "data", n_normal=30, n_pneumonia=40)
    dataset = load(data.root, tmp_path / "cache", val_fraction=val_fraction)
    pool = dataset.records[dataset.records["side"] != "test"]
    for class_name in CLASS_NAMES:
        in_class = pool[pool["class_name"] == class_name]
        share = (in_class["side"] == "validation").mean()
        assert abs(share - val_fraction) < 0.1, (class_name, share)
        patient_share = in_class.loc[in_class["side"] == "validation", "patient_key"].nunique() / in_class[
            "patient_key"].nunique()
        assert abs(patient_share - val_fraction) < 0.06, (class_name, patient_share)


def test_default_validation_fraction_is_a_fifth(tmp_path, capsys):
    """Without --val-fraction, validation holds a fifth of each class's patients of train/, whole patients."""
    data = make_chest_xray(tmp_path / "data", n_normal=30, n_pneumonia=40)
    summary = json_summary(capsys, "--data", data.root, "--cache-dir", tmp_path / "cache", "--image-size", SMALL_SIZE)
    dataset = load(data.root, tmp_path / "cache")  # the settings' own default, without the command line
    for counts in (summary["counts"], dataset_counts(dataset)):
        for class_name in CLASS_NAMES:
            patients, images = data.patient_count("train", class_name), data.images("train", class_name)
            validation = counts["validation"][class_name]
            assert validation["patients"] == round(patients / 5), (class_name, validation)
            # every patient on one side only: the two sides' patients add up to the folder's
            assert counts["train"][class_name]["patients"] + validation["patients"] == patients
            assert counts["train"][class_name]["images"] + validation["images"] == images
            assert abs(validation["images"] / images - 0.2) < 0.1, (class_name, validation)
    assert summary["shared_patients_train_validation"] == 0


def dataset_counts(dataset) -> dict:
    """Images and patients per side and class, as the `data` command's JSON counts them."""
    counts = {}
    for side in ("train", "validation"):
        records = dataset.split(side)
        counts[side] = {class_name: {"images": int((records["class_name"] == class_name).sum()),
                                     "patients": records.loc[records["class_name"] == class_name,
                                                             "patient_key"].nunique()}
                        for class_name in CLASS_NAMES}
    return counts


def test_split_is_deterministic_for_a_seed(generated, tmp_path):
    first = sides_by_path(load(generated.root, tmp_path / "cache", seed=7))
    again = sides_by_path(load(generated.root, tmp_path / "cache", seed=7))
    assert first == again
    assert sides_by_path(load(generated.root, tmp_path / "other-cache", seed=7)) == first


def test_another_seed_usually_gives_another_split(generated, tmp_path):
    seed_0 = sides_by_path(load(generated.root, tmp_path / "cache", seed=0))
    others = [sides_by_path(load(generated.root, tmp_path / "cache", seed=seed)) for seed in range(1, 6)]
    assert any(other != seed_0 for other in others)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_test_folder_is_never_in_train_or_validation(tmp_path, seed):
    data = make_chest_xray(tmp_path / "data", with_val=True)
    dataset = load(data.root, tmp_path / "cache", seed=seed)
    records = dataset.records
    assert ((records["folder"] == "test") == (records["side"] == "test")).all()
    assert (records["side"] == "test").sum() == data.images("test", "NORMAL") + data.images("test", "PNEUMONIA")


# --- byte-identical images ------------------------------------------------------------------


def test_duplicates_in_train_stay_on_one_side_even_under_other_patients(generated, tmp_path):
    pneumonia = generated.root / "train" / "PNEUMONIA"
    normal = generated.root / "train" / "NORMAL"
    original_p = sorted(pneumonia.glob("person2_*"))[0]
    copy_p = pneumonia / "person90_bacteria_900.jpeg"
    shutil.copyfile(original_p, copy_p)
    original_n = sorted(normal.glob("IM-0004-*"))[0]
    copy_n = normal / "IM-0091-0001.jpeg"
    shutil.copyfile(original_n, copy_n)
    pairs = [(f"train/PNEUMONIA/{original_p.name}", f"train/PNEUMONIA/{copy_p.name}"),
             (f"train/NORMAL/{original_n.name}", f"train/NORMAL/{copy_n.name}")]

    for seed in range(12):
        dataset = load(generated.root, tmp_path / "cache", seed=seed)
        sides = sides_by_path(dataset)
        for original, copy in pairs:
            assert sides[original] == sides[copy], (seed, original, copy)
        # and the two patients the copy joined travel together, whole
        pool = dataset.records[dataset.records["side"] != "test"]
        joined = pool[pool["patient"].isin(["person2", "person90"])]
        assert len(joined) == len(generated.patients["train"]["PNEUMONIA"]["person2"]) + 1
        assert joined["side"].nunique() == 1
    groups = dataset.duplicate_groups()
    for pair in pairs:
        assert sorted(pair) in groups
    assert dataset.train_test_leaks() == []


# --- --limit --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_limit_per_class_and_side_keeps_patients_whole(tmp_path, seed):
    data = make_chest_xray(tmp_path / "data", n_normal=20, n_pneumonia=20, n_test_normal=8, n_test_pneumonia=8)
    limit = 4  # no generated patient has more than 4 images
    limited = load(data.root, tmp_path / "cache", limit=limit, seed=seed)
    full = load(data.root, tmp_path / "cache", seed=seed)
    records = limited.records
    for side in ("train", "validation", "test"):
        for class_name in CLASS_NAMES:
            count = ((records["side"] == side) & (records["class_name"] == class_name)).sum()
            assert 0 < count <= limit, (side, class_name, count)
    full_counts = full.records.groupby(["side", "patient_key"]).size()
    limited_counts = records.groupby(["side", "patient_key"]).size()
    for key, count in limited_counts.items():
        assert count == full_counts[key], key
    # the limit subsamples each side; it does not move images between sides
    full_sides = sides_by_path(full)
    assert all(full_sides[relpath] == side for relpath, side in sides_by_path(limited).items())


def test_limit_is_an_upper_bound_when_small_patients_exist(tmp_path):
    root = tmp_path / "data"
    for folder in ("train", "test"):
        for patient in range(12):
            for image in range(5 if patient == 0 else 1):  # one patient of 5 images, the others of 1
                write_image(root / folder / "NORMAL" / f"IM-{patient:04d}-{image + 1:04d}.jpeg")
                write_image(root / folder / "PNEUMONIA" / f"person{patient}_virus_{image + 1}.jpeg")
    for seed in range(10):
        records = load(root, tmp_path / "cache", limit=3, seed=seed).records
        per_side_and_class = records.groupby(["side", "class_name"]).size()
        assert (per_side_and_class <= 3).all(), (seed, per_side_and_class.to_dict())


# --- fractions and folders that leave a class few patients ---------------------------------
# (reported bugs: these ended in a Python traceback). The split keeps at least one patient of each class
# on each side, however extreme the fraction; a class of a single patient cannot be split and trains.


def split_counts(capsys, data_dir, cache_dir, *flags) -> dict:
    code, out, err = run_cli(capsys, "data", "--data", data_dir, "--cache-dir", cache_dir,
                             "--image-size", SMALL_SIZE, "--format", "json", *flags)
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["shared_patients_train_validation"] == 0
    return {side: {class_name: summary["counts"][side][class_name]["patients"] for class_name in CLASS_NAMES}
            for side in ("train", "validation")}


@pytest.mark.parametrize("val_fraction", ["0.95", "0.99"])  # 0.99 of 12 or 16 patients rounds to all of them
def test_high_val_fraction_on_few_patients_leaves_one_patient_of_each_class_to_train(generated, tmp_path, capsys,
                                                                                     val_fraction):
    counts = split_counts(capsys, generated.root, tmp_path / "cache", "--val-fraction", val_fraction)
    for class_name in CLASS_NAMES:
        assert counts["train"][class_name] == 1
        assert counts["validation"][class_name] == generated.patient_count("train", class_name) - 1


def test_low_val_fraction_on_a_small_data_set_keeps_one_patient_of_each_class_in_validation(generated, tmp_path,
                                                                                            capsys):
    counts = split_counts(capsys, generated.root, tmp_path / "cache", "--val-fraction", "0.01")
    for class_name in CLASS_NAMES:
        assert counts["validation"][class_name] == 1
        assert counts["train"][class_name] == generated.patient_count("train", class_name) - 1


def test_a_train_class_with_one_readable_image_trains_and_is_not_in_validation(tmp_path, capsys):
    data = make_chest_xray(tmp_path / "data", n_normal=1, n_pneumonia=6)
    normal = data.root / "train" / "NORMAL"
    for path in sorted(normal.iterdir())[1:]:
        path.unlink()
    (normal / "IM-0040-0001.jpeg").write_bytes(b"")
    (normal / "IM-0041-0001.jpeg").write_text("not an image")
    code, out, err = run_cli(capsys, "data", "--data", data.root, "--cache-dir", tmp_path / "cache",
                             "--image-size", SMALL_SIZE, "--format", "json")
    assert code == 0
    assert err == ("warning: skipped 2 unreadable image file(s): train/NORMAL/IM-0040-0001.jpeg (empty file), "
                   "train/NORMAL/IM-0041-0001.jpeg (unreadable image (UnidentifiedImageError))\n")
    counts = json.loads(out)["counts"]
    assert counts["train"]["NORMAL"] == {"images": 1, "patients": 1}
    assert counts["validation"]["NORMAL"] == {"images": 0, "patients": 0}
    assert counts["validation"]["PNEUMONIA"]["patients"] == round(data.patient_count("train", "PNEUMONIA") / 5)
