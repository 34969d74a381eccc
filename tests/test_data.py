"""The data set as the searches see it: cached decoding, the patient-grouped split, duplicates,
class weights, --limit, the `data` command's output and its bad-input handling.

The first part generates tiny image folders in tmp_path. The last part (`real_data` marker,
`TestRealData*` classes) reads the real data set in ../shared in place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL_SIZE, load, make_chest_xray, run_cli, snapshot, write_image
from PIL import Image
from sklearn.utils.class_weight import compute_class_weight

from tuner.core.settings import CACHE_ENV, DATA_ENV
from tuner.data.layout import CLASS_NAMES

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def generated(tmp_path):
    return make_chest_xray(tmp_path / "data")


def sides_by_path(dataset) -> dict[str, str]:
    return dict(zip(dataset.records["relpath"], dataset.records["side"]))


def pixels(dataset, relpath: str) -> np.ndarray:
    row = dataset.records.set_index("relpath").loc[relpath, "row"]
    return np.asarray(dataset.images[int(row)])


def json_summary(capsys, *args) -> dict:
    code, out, err = run_cli(capsys, "data", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # the whole of stdout is one JSON object


# --- the patient-grouped, stratified validation split ---------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_no_patient_on_both_sides(generated, tmp_path, seed):
    dataset = load(generated.root, tmp_path / "cache", seed=seed)
    train, validation = dataset.side("train"), dataset.side("validation")
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


def test_default_validation_fraction_is_a_fifth(generated, tmp_path, capsys):
    summary = json_summary(capsys, "--data", generated.root, "--cache-dir", tmp_path / "cache",
                           "--image-size", SMALL_SIZE)
    assert summary["val_fraction"] == 0.2
    assert summary["seed"] == 0


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


def test_train_test_duplicate_is_reported_as_a_leak(generated, tmp_path, capsys):
    train_file = sorted((generated.root / "train" / "NORMAL").iterdir())[0]
    leaked = generated.root / "test" / "NORMAL" / "IM-0077-0001.jpeg"
    shutil.copyfile(train_file, leaked)
    # a duplicate inside test/ alone is a duplicate group, not a leak
    test_file = sorted((generated.root / "test" / "PNEUMONIA").iterdir())[0]
    shutil.copyfile(test_file, generated.root / "test" / "PNEUMONIA" / "person77_virus_77.png")

    summary = json_summary(capsys, "--data", generated.root, "--cache-dir", tmp_path / "cache",
                           "--image-size", SMALL_SIZE)
    leak = sorted([f"train/NORMAL/{train_file.name}", "test/NORMAL/IM-0077-0001.jpeg"])
    assert summary["train_test_leaks"] == [leak]
    assert leak in summary["duplicate_groups"]
    assert sorted([f"test/PNEUMONIA/{test_file.name}", "test/PNEUMONIA/person77_virus_77.png"]) in summary[
        "duplicate_groups"]
    assert len(summary["duplicate_groups"]) == 2


# --- the image cache ------------------------------------------------------------------------


def test_images_are_decoded_to_three_channel_uint8_memory_maps(tmp_path):
    root = tmp_path / "data"
    make_chest_xray(root, n_normal=3, n_pneumonia=3)
    write_image(root / "train" / "NORMAL" / "IM-0050-0001.png", mode="L", fill=77)
    write_image(root / "train" / "PNEUMONIA" / "person50_virus_1.png", mode="RGB", fill=(10, 200, 30))
    write_image(root / "train" / "NORMAL" / "IM-0051-0001.jpeg", mode="L")  # grey JPEG noise
    write_image(root / "train" / "PNEUMONIA" / "person51_bacteria_1.jpeg", mode="RGB")  # colour JPEG noise

    dataset = load(root, tmp_path / "cache", image_size=48)
    assert isinstance(dataset.images, np.memmap)
    assert dataset.images.dtype == np.uint8
    assert dataset.images.shape == (len(dataset.records), 48, 48, 3)

    grey_png = pixels(dataset, "train/NORMAL/IM-0050-0001.png")
    assert (grey_png == 77).all()
    colour_png = pixels(dataset, "train/PNEUMONIA/person50_virus_1.png")
    assert (colour_png == np.array([10, 200, 30], dtype=np.uint8)).all()
    grey_jpeg = pixels(dataset, "train/NORMAL/IM-0051-0001.jpeg")
    assert (grey_jpeg[..., 0] == grey_jpeg[..., 1]).all() and (grey_jpeg[..., 0] == grey_jpeg[..., 2]).all()
    assert grey_jpeg.std() > 0
    colour_jpeg = pixels(dataset, "train/PNEUMONIA/person51_bacteria_1.jpeg")
    assert (colour_jpeg[..., 0] != colour_jpeg[..., 1]).any()

    # every greyscale ("L") file, JPEG or PNG, has three equal channels; RGB noise does not
    for relpath in dataset.records["relpath"]:
        with Image.open(root / relpath) as source:
            mode = source.mode
        image = pixels(dataset, relpath)
        grey = (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
        assert grey == (mode == "L"), (relpath, mode)


def test_second_load_decodes_nothing(generated, tmp_path):
    first = load(generated.root, tmp_path / "cache")
    assert first.cache.decoded == len(generated.all_paths())
    second = load(generated.root, tmp_path / "cache")
    assert second.cache.decoded == 0
    assert np.array_equal(np.asarray(first.images), np.asarray(second.images))
    assert list(first.records["relpath"]) == list(second.records["relpath"])


def test_changed_added_and_removed_files_are_picked_up(generated, tmp_path):
    cache = tmp_path / "cache"
    first = load(generated.root, cache)
    before = {relpath: pixels(first, relpath) for relpath in first.records["relpath"]}
    normal = generated.root / "train" / "NORMAL"

    # changed: other content and size, later mtime
    changed = sorted(normal.glob("IM-*.jpeg"))[0]
    changed_rel = f"train/NORMAL/{changed.name}"
    old_stat = changed.stat()
    new_fill = 200
    write_image(changed, mode="L", size=60, fill=new_fill)
    os.utime(changed, ns=(old_stat.st_atime_ns, old_stat.st_mtime_ns + 5_000_000_000))
    after_change = load(generated.root, cache)
    assert after_change.cache.decoded == 1
    assert abs(int(pixels(after_change, changed_rel).mean()) - new_fill) <= 2
    for relpath, image in before.items():
        if relpath != changed_rel:
            assert np.array_equal(pixels(after_change, relpath), image), relpath

    # added
    added = write_image(normal / "IM-0099-0001.png", mode="L", fill=33)
    after_add = load(generated.root, cache)
    assert after_add.cache.decoded == 1
    assert (pixels(after_add, "train/NORMAL/IM-0099-0001.png") == 33).all()

    # removed
    removed = sorted((generated.root / "train" / "PNEUMONIA").iterdir())[0]
    removed_rel = f"train/PNEUMONIA/{removed.name}"
    removed.unlink()
    after_remove = load(generated.root, cache)
    assert after_remove.cache.decoded == 0
    assert removed_rel not in set(after_remove.records["relpath"])
    assert removed_rel not in after_remove.cache.entries
    assert len(after_remove.records) == len(after_add.records) - 1
    for relpath, image in before.items():
        if relpath not in (changed_rel, removed_rel):
            assert np.array_equal(pixels(after_remove, relpath), image), relpath

    assert load(generated.root, cache).cache.decoded == 0
    assert added.exists()


def test_another_image_size_decodes_again_and_keeps_the_first(generated, tmp_path):
    cache = tmp_path / "cache"
    count = len(generated.all_paths())
    assert load(generated.root, cache, image_size=32).cache.decoded == count
    other = load(generated.root, cache, image_size=40)
    assert other.cache.decoded == count
    assert other.images.shape[1:] == (40, 40, 3)
    assert load(generated.root, cache, image_size=32).cache.decoded == 0
    assert load(generated.root, cache, image_size=40).cache.decoded == 0


def _add_unreadable_files(root: Path) -> list[str]:
    truncated = write_image(root / "train" / "NORMAL" / "IM-0070-0001.jpeg", mode="L", size=200)
    content = truncated.read_bytes()
    truncated.write_bytes(content[: len(content) // 2])  # cut a JPEG in half
    (root / "train" / "PNEUMONIA" / "person70_virus_1.jpeg").write_bytes(b"")  # zero bytes
    (root / "train" / "PNEUMONIA" / "person71_virus_2.jpeg").write_text("a text file renamed .jpeg\n")
    (root / "test" / "NORMAL" / "IM-0070-0001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return sorted(["train/NORMAL/IM-0070-0001.jpeg", "train/PNEUMONIA/person70_virus_1.jpeg",
                   "train/PNEUMONIA/person71_virus_2.jpeg", "test/NORMAL/IM-0070-0001.png"])


def test_unreadable_files_are_skipped_with_one_warning(generated, tmp_path, capsys):
    unreadable = _add_unreadable_files(generated.root)
    code, out, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", tmp_path / "cache",
                             "--image-size", SMALL_SIZE, "--format", "json")
    assert code == 0, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert sorted(item["relpath"] for item in summary["skipped_files"]) == unreadable
    assert all(item["problem"] for item in summary["skipped_files"])
    assert err.count("warning") == 1
    for relpath in unreadable:
        assert relpath in err
    readable = len(generated.all_paths())
    assert sum(summary["counts"][side]["total"]["images"] for side in ("train", "validation", "test")) == readable

    dataset = load(generated.root, tmp_path / "cache")
    assert dataset.cache.decoded == 0  # unreadable files are not tried again either
    assert sorted(dataset.skipped["relpath"]) == unreadable
    assert not set(unreadable) & set(dataset.records["relpath"])


# --- class weights --------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [None, 4])
def test_balanced_class_weights_from_the_training_side(generated, tmp_path, capsys, limit):
    dataset = load(generated.root, tmp_path / "cache", limit=limit)
    labels = dataset.side("train")["label"].to_numpy()
    n_images = len(labels)
    expected = {label: n_images / (2 * int((labels == label).sum())) for label in (0, 1)}
    weights = dataset.class_weights()
    assert weights == pytest.approx(expected)
    assert [weights[0], weights[1]] == pytest.approx(list(compute_class_weight("balanced", classes=np.array([0, 1]),
                                                                               y=labels)))
    args = ["--data", generated.root, "--cache-dir", tmp_path / "cache", "--image-size", SMALL_SIZE]
    if limit:
        args += ["--limit", limit]
    summary = json_summary(capsys, *args)
    assert summary["class_weights"] == pytest.approx({"NORMAL": expected[0], "PNEUMONIA": expected[1]})
    if limit is None:
        assert weights[0] > 1 > weights[1]  # the generator has more pneumonia images


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


# --- the data command -----------------------------------------------------------------------


def test_json_summary(generated, tmp_path, capsys):
    cache = tmp_path / "cache"
    summary = json_summary(capsys, "--data", generated.root, "--cache-dir", cache, "--image-size", SMALL_SIZE)
    counts = summary["counts"]
    for class_name in CLASS_NAMES:
        pool = counts["train"][class_name]["images"] + counts["validation"][class_name]["images"]
        assert pool == generated.images("train", class_name)
        assert counts["test"][class_name]["images"] == generated.images("test", class_name)
        for side in ("train", "validation", "test"):
            assert counts[side][class_name]["patients"] > 0
            assert counts[side][class_name]["images"] >= counts[side][class_name]["patients"]
    assert summary["shared_patients_train_validation"] == 0
    leak = summary["image_level_split_leak"]
    assert leak["validation_images_sharing_a_patient_with_train"] > 0  # patients with several images
    assert leak["validation_images"] >= leak["validation_images_sharing_a_patient_with_train"]
    assert summary["duplicate_groups"] == [] and summary["train_test_leaks"] == []
    assert summary["skipped_files"] == []
    assert set(summary["class_weights"]) == set(CLASS_NAMES)
    assert summary["cache"]["decoded_this_load"] == len(generated.all_paths())
    assert Path(summary["cache"]["path"]).is_relative_to(cache)
    assert summary["cache"]["size_bytes"] > 0

    again = json_summary(capsys, "--data", generated.root, "--cache-dir", cache, "--image-size", SMALL_SIZE)
    assert again["cache"]["decoded_this_load"] == 0
    assert again["counts"] == counts


def test_table_format_prints(generated, tmp_path, capsys):
    code, out, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", tmp_path / "cache",
                             "--image-size", SMALL_SIZE, "--limit", "4")
    assert code == 0, err
    for word in ("train", "validation", "test", "NORMAL", "PNEUMONIA", "Class weights"):
        assert word in out


BAD_VALUES = {
    "--val-fraction 0": ["--val-fraction", "0"],
    "--val-fraction 1": ["--val-fraction", "1"],
    "--val-fraction 1.5": ["--val-fraction", "1.5"],
    "--image-size 16": ["--image-size", "16"],
    "--image-size abc": ["--image-size", "abc"],
    "--limit 0": ["--limit", "0"],
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_value_exits_2_with_one_line_and_writes_nothing(generated, tmp_path, capsys, case):
    before = snapshot(generated.root)
    cache = tmp_path / "cache"
    code, out, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", cache, *BAD_VALUES[case])
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and BAD_VALUES[case][0] in err
    assert "Traceback" not in err
    assert not cache.exists()
    assert snapshot(generated.root) == before


def test_real_process_exit_code_and_no_traceback(generated, tmp_path):
    cache = tmp_path / "cache"
    env = {key: value for key, value in os.environ.items() if key not in (DATA_ENV, CACHE_ENV)}
    completed = subprocess.run(
        [sys.executable, "cli.py", "data", "--data", str(generated.root), "--cache-dir", str(cache),
         "--image-size", "abc"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert "--image-size" in completed.stderr
    assert not cache.exists()


# Reported bugs: values and folders the settings accept that still end in a Python traceback.

def test_high_val_fraction_on_few_patients_is_no_crash(generated, tmp_path, capsys):
    code, _, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", tmp_path / "cache",
                           "--image-size", SMALL_SIZE, "--val-fraction", "0.95", "--format", "json")
    assert code in (0, 2)
    assert "Traceback" not in err


def test_low_val_fraction_on_a_small_data_set_is_no_crash(generated, tmp_path, capsys):
    code, _, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", tmp_path / "cache",
                           "--image-size", SMALL_SIZE, "--val-fraction", "0.01", "--format", "json")
    assert code in (0, 2)
    assert "Traceback" not in err


def test_a_train_class_with_one_readable_image_is_no_crash(tmp_path, capsys):
    data = make_chest_xray(tmp_path / "data", n_normal=1, n_pneumonia=6)
    normal = data.root / "train" / "NORMAL"
    for path in sorted(normal.iterdir())[1:]:
        path.unlink()
    (normal / "IM-0040-0001.jpeg").write_bytes(b"")
    (normal / "IM-0041-0001.jpeg").write_text("not an image")
    code, _, err = run_cli(capsys, "data", "--data", data.root, "--cache-dir", tmp_path / "cache",
                           "--image-size", SMALL_SIZE, "--format", "json")
    assert code in (0, 2)
    assert "Traceback" not in err


# --- real data (../shared, read in place) ---------------------------------------------------

REAL_TRAIN = {"NORMAL": 1349, "PNEUMONIA": 3883}
REAL_TEST = {"NORMAL": 234, "PNEUMONIA": 390}


@pytest.fixture(scope="session")
def real_cache_dir(tmp_path_factory):
    # about 880 MB at 224 px: removed at the end of the session
    directory = tmp_path_factory.mktemp("real-image-cache")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def real_data_dir(shared_dir) -> Path:
    return shared_dir / "data" / "chest_xray"


@pytest.fixture(scope="session")
def real_dataset(real_data_dir, real_cache_dir):
    return load(real_data_dir, real_cache_dir, image_size=224)


@pytest.mark.real_data
class TestRealDataSet:
    def test_counts(self, real_dataset):
        records = real_dataset.records
        for label, class_name in enumerate(CLASS_NAMES):
            pool = records[(records["side"] != "test") & (records["label"] == label)]
            test = records[(records["side"] == "test") & (records["label"] == label)]
            assert len(pool) == REAL_TRAIN[class_name]
            assert len(test) == REAL_TEST[class_name]
        assert len(real_dataset.skipped) == 0
        assert real_dataset.images.shape == (5856, 224, 224, 3)
        assert real_dataset.cache.decoded == 5856

    def test_patient_grouped_split_and_what_an_image_split_would_leak(self, real_dataset):
        train, validation = real_dataset.side("train"), real_dataset.side("validation")
        assert not set(train["patient_key"]) & set(validation["patient_key"])
        assert 0.15 < len(validation) / (len(train) + len(validation)) < 0.25
        assert real_dataset.image_level_leak["validation_images_sharing_a_patient_with_train"] > 0

    def test_duplicate_groups(self, real_dataset):
        assert 20 <= len(real_dataset.duplicate_groups()) <= 40
        sides = sides_by_path(real_dataset)
        for group in real_dataset.duplicate_groups():
            pool_sides = {sides[relpath] for relpath in group if sides[relpath] != "test"}
            assert len(pool_sides) <= 1, group

    def test_second_load_reuses_the_cache(self, real_dataset, real_data_dir, real_cache_dir, capsys):
        summary = json_summary(capsys, "--data", real_data_dir, "--cache-dir", real_cache_dir, "--image-size", "224")
        assert summary["cache"]["decoded_this_load"] == 0
        counts = summary["counts"]
        for class_name in CLASS_NAMES:
            assert counts["train"][class_name]["images"] + counts["validation"][class_name]["images"] == REAL_TRAIN[
                class_name]
            assert counts["test"][class_name]["images"] == REAL_TEST[class_name]
        assert summary["shared_patients_train_validation"] == 0
        assert summary["image_level_split_leak"]["validation_images_sharing_a_patient_with_train"] > 0
        assert summary["skipped_files"] == []


@pytest.mark.real_data
class TestRealFullResolutionSample:
    def test_large_mixed_mode_jpegs_decode(self, shared_dir, tmp_path):
        sample = shared_dir / "data" / "chest_xray_fullres_sample" / "train"
        root = tmp_path / "data"
        linked = 0
        for class_name in CLASS_NAMES:
            (root / "train" / class_name).mkdir(parents=True)
            for original in sorted((sample / class_name).iterdir()):
                (root / "train" / class_name / original.name).symlink_to(original)  # never a copy
                linked += 1
            for number in range(3):
                name = f"IM-{number:04d}-0001.jpeg" if class_name == "NORMAL" else f"person{number}_virus_1.jpeg"
                write_image(root / "test" / class_name / name)
        assert linked == 70

        dataset = load(root, tmp_path / "cache", image_size=64)
        assert len(dataset.skipped) == 0
        assert dataset.cache.decoded == 76
        pool = dataset.records[dataset.records["side"] != "test"]
        assert (pool["class_name"] == "NORMAL").sum() == 30
        assert (pool["class_name"] == "PNEUMONIA").sum() == 40
        assert dataset.images.shape == (76, 64, 64, 3)
        assert dataset.images.dtype == np.uint8
        for row in pool["row"]:
            image = np.asarray(dataset.images[row])
            assert image.shape == (64, 64, 3) and image.std() > 0
