"""The real data set in ../shared, read in place (`real_data` marker): counts, the split, duplicates,
the cache, and the full-resolution sample's large mixed-mode JPEGs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import json_summary, load, sides_by_path, write_image

from tuner.data.layout import CLASS_NAMES

pytestmark = pytest.mark.slow  # decodes the whole real data set

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
        train, validation = real_dataset.split("train"), real_dataset.split("validation")
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
