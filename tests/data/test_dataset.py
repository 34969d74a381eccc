"""The data set as the searches see it: duplicate groups and train/test leaks, balanced class weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import SMALL_SIZE, json_summary, load
from sklearn.utils.class_weight import compute_class_weight

# --- byte-identical images across train and test ----------------------------------------


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


# --- class weights --------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [None, 4])
def test_balanced_class_weights_from_the_training_side(generated, tmp_path, capsys, limit):
    dataset = load(generated.root, tmp_path / "cache", limit=limit)
    labels = dataset.split("train")["label"].to_numpy()
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
