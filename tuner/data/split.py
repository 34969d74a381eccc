"""The patient-grouped, class-stratified validation split, and what an image-level split would leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import GroupShuffleSplit, train_test_split


def leakage_groups(patient_keys: pd.Series, content_hashes: pd.Series) -> np.ndarray:
    """Group images that must stay on one side: same patient, or byte-identical content.

    Images are joined through their patient and their hash (a graph's connected components),
    so a duplicate of patient A's image filed under patient B pulls A and B together.
    """
    n_images = len(patient_keys)
    patient_codes, _ = pd.factorize(patient_keys)
    hash_codes, _ = pd.factorize(content_hashes)
    image_nodes = np.arange(n_images)
    patient_nodes = n_images + patient_codes
    hash_nodes = n_images + patient_codes.max(initial=-1) + 1 + hash_codes
    rows = np.concatenate([image_nodes, image_nodes])
    cols = np.concatenate([patient_nodes, hash_nodes])
    n_nodes = int(cols.max(initial=n_images - 1)) + 1
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, n_nodes))
    _, components = connected_components(graph, directed=False)
    return pd.factorize(components[:n_images])[0]


def grouped_validation_mask(labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """True for the images that go to validation.

    Stratified by class (each group counts under its majority class) and grouped: a group is
    wholly on one side. Deterministic for a seed.
    """
    frame = pd.DataFrame({"label": labels, "group": groups})
    group_class = frame.groupby("group")["label"].agg(lambda values: int(round(values.mean())))
    stratum = frame["group"].map(group_class).to_numpy()
    validation = np.zeros(len(frame), dtype=bool)
    for class_label in np.unique(stratum):
        members = np.flatnonzero(stratum == class_label)
        n_groups = len(np.unique(groups[members]))
        if n_groups < 2:
            continue  # a single group cannot be split; it trains
        # At least one group on each side, however extreme the fraction.
        n_validation_groups = min(max(1, round(val_fraction * n_groups)), n_groups - 1)
        splitter = GroupShuffleSplit(n_splits=1, test_size=n_validation_groups, random_state=seed)
        _, val_positions = next(splitter.split(members, groups=groups[members]))
        validation[members[val_positions]] = True
    return validation


def image_level_leak(labels: np.ndarray, patient_keys: np.ndarray, val_fraction: float, seed: int) -> dict:
    """What a plain image-level stratified split of the same fraction would leak."""
    indices = np.arange(len(labels))
    n_validation = round(val_fraction * len(labels))
    # Stratify where sklearn can (two images of each class, room for both classes on each side).
    can_stratify = np.bincount(labels, minlength=2).min() >= 2 and 2 <= n_validation <= len(labels) - 2
    if not 1 <= n_validation < len(labels):
        return {"validation_images": 0, "validation_images_sharing_a_patient_with_train": 0, "fraction": 0.0}
    train_idx, val_idx = train_test_split(indices, test_size=n_validation,
                                          stratify=labels if can_stratify else None, random_state=seed)
    train_patients = set(patient_keys[train_idx])
    leaked = int(sum(patient in train_patients for patient in patient_keys[val_idx]))
    return {
        "validation_images": int(len(val_idx)),
        "validation_images_sharing_a_patient_with_train": leaked,
        "fraction": leaked / max(len(val_idx), 1),
    }


def limit_per_class(frame: pd.DataFrame, limit: int, seed: int) -> pd.Series:
    """Keep at most `limit` images per class and side, whole patients only (for quick runs)."""
    keep = pd.Series(False, index=frame.index)
    rng = np.random.default_rng(seed)
    for _, part in frame.groupby(["side", "label"]):
        groups = part["group"].unique()
        rng.shuffle(groups)
        sizes = part.groupby("group").size()
        taken = 0
        for group in groups:
            if taken + sizes[group] > limit:
                continue  # a patient is kept whole or not at all
            keep[part.index[part["group"] == group]] = True
            taken += sizes[group]
            if taken == limit:
                break
        if taken == 0:  # every patient has more images than the limit: keep the smallest one
            smallest = sizes.idxmin()
            keep[part.index[part["group"] == smallest]] = True
    return keep
