"""The fine-tuning stage's progress on disk, kept at the end of every epoch, so that a killed stage goes on where
it stopped.

    <run>/finetuning/<trial>/epoch-NNNN/   the state after NNNN finished epochs:
        model.weights.h5   the model's weights and its optimizer's state (`Model.save_weights`)
        best.npz           the weights of the best epoch so far
        state.npz          every epoch's validation probabilities; the random state of the augmentation and dropout
        state.json         every epoch's history row, the best score so far, the stage's seconds so far, and
                           Python's random state (Keras draws each epoch's order of the batches from it)

An epoch's folder is written under a temporary name and renamed when whole; then the older one is removed. So a
kill at any moment leaves the last whole epoch (or the one before it, and a temporary folder that `latest_epoch`
removes). Keras' `BackupAndRestore` writes its files in place and keeps no random state or history, hence this.

`save_epoch` writes an epoch's folder (`callbacks.SaveEachEpoch`), `latest_epoch`, `read_epoch` and
`restore_model` resume from it (`finetune.finetune_best`), and `in_progress` tells `search` what it resumes.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.core.atomic import read_json, write_json
from tuner.core.runs import RunPaths

_EPOCH_FOLDER = re.compile(r"epoch-(\d{4})")


@dataclass(frozen=True)
class SavedEpoch:
    """What `read_epoch` gives back of an epoch's folder (the model's own weights stay in the folder).

    Attributes:
        folder: the epoch's folder (`<run>/finetuning/<trial>/epoch-NNNN`).
        epochs: how many epochs had finished.
        history: one `records.epoch_row` per finished epoch.
        probabilities: each finished epoch's validation probabilities.
        best_score: the best validation score so far (-inf before any epoch scored).
        best_weights: the best epoch's weights, or None.
        random_state: the values of the model's random-state variables (`random_state_variables`).
        python_random_state: `random.getstate()` when the epoch was saved.
        seconds: the stage's seconds so far, earlier processes included.
    """

    folder: Path
    epochs: int  # finished epochs
    history: list[dict]
    probabilities: list[np.ndarray]
    best_score: float
    best_weights: list[np.ndarray] | None
    random_state: list[np.ndarray]
    python_random_state: tuple
    seconds: float


def latest_epoch(directory: Path) -> Path | None:
    """The folder of the last whole epoch in `directory`, removing the temporary folders that a kill left.

    Call it only while no stage is writing there (the search holds its run's lock).

    Args:
        directory: a fine-tuning trial's progress folder (`<run>/finetuning/<trial>`).

    Returns:
        The `epoch-NNNN` folder with the most finished epochs, or None (no folder, or no whole epoch).
    """
    if not directory.is_dir():
        return None
    for leftover in directory.glob(".*.tmp"):
        shutil.rmtree(leftover)
    finished = sorted(path for path in directory.iterdir() if _EPOCH_FOLDER.fullmatch(path.name))
    return finished[-1] if finished else None


def in_progress(run: RunPaths) -> tuple[str, int] | None:
    """The fine-tuning stage that a kill interrupted in `run`, if any. Reads folder names only: no Keras.

    Args:
        run: the run folder.

    Returns:
        (trial id, finished epochs) of a fine-tuning trial with saved progress and no record yet, or None.
    """
    if not run.finetuning.is_dir():
        return None
    for trial_folder in sorted(run.finetuning.iterdir()):
        finished = sorted(path.name for path in trial_folder.glob("epoch-*") if _EPOCH_FOLDER.fullmatch(path.name))
        if finished and not run.trial_record(trial_folder.name).is_file():
            return trial_folder.name, int(finished[-1].removeprefix("epoch-"))
    return None


def random_state_variables(model) -> list:
    """The model's random-number state, which `model.weights` and so `save_weights` leave out.

    Args:
        model: a built Keras model.

    Returns:
        The variables of the model's seed generators (its augmentation and dropout layers), in a fixed order.
    """
    weights = {id(weight) for weight in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]


def save_epoch(directory: Path, model, *, epochs: int, history: list[dict], probabilities: list[np.ndarray],
               best_score: float, best_weights: list[np.ndarray] | None, seconds: float) -> Path:
    """Write the state after `epochs` finished epochs to `directory/epoch-NNNN` in one rename.

    The folder is written under a temporary name, synced and renamed; then the earlier epochs' folders are
    removed.

    Args:
        directory: the trial's progress folder (created when absent).
        model: the model being fine-tuned; its weights and optimizer state are saved.
        epochs: how many epochs have finished.
        history: one `records.epoch_row` per finished epoch.
        probabilities: each finished epoch's validation probabilities.
        best_score: the best validation score so far.
        best_weights: the best epoch's weights, or None.
        seconds: the stage's seconds so far, earlier processes included.

    Returns:
        The new epoch's folder.
    """
    import keras

    final = directory / f"epoch-{epochs:04d}"
    temporary = directory / f".{final.name}.tmp"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    model.save_weights(temporary / "model.weights.h5")
    if best_weights is not None:
        np.savez(temporary / "best.npz", *best_weights)
    random_state = [keras.ops.convert_to_numpy(variable) for variable in random_state_variables(model)]
    np.savez(temporary / "state.npz", probabilities=np.stack(probabilities),
             **{f"random_{index}": value for index, value in enumerate(random_state)})
    write_json(temporary / "state.json", {"epochs": epochs, "history": history, "best_score": best_score,
                                          "seconds": seconds, "python_random_state": random.getstate()})
    for path in [*temporary.iterdir(), temporary]:
        _sync(path)
    os.rename(temporary, final)  # never there: the stage resumes from its newest folder and goes past it
    _sync(directory)
    for older in directory.glob("epoch-*"):
        if older != final and _EPOCH_FOLDER.fullmatch(older.name):
            shutil.rmtree(older)
    return final


def read_epoch(folder: Path) -> SavedEpoch:
    """The state saved in an epoch's folder (`save_epoch`), but the model's weights: `restore_model` loads those.

    Args:
        folder: an `epoch-NNNN` folder (`latest_epoch`).

    Returns:
        The saved state.

    Raises:
        OSError, ValueError or KeyError: the folder is incomplete or damaged.
    """
    state = read_json(folder / "state.json")
    with np.load(folder / "state.npz") as arrays:
        probabilities = list(arrays["probabilities"])
        random_state = [arrays[f"random_{index}"] for index in range(len(arrays.files) - 1)]
    best_weights = None
    if (folder / "best.npz").is_file():
        with np.load(folder / "best.npz") as arrays:
            best_weights = [arrays[f"arr_{index}"] for index in range(len(arrays.files))]
    version, internal, gauss = state["python_random_state"]
    return SavedEpoch(folder, state["epochs"], state["history"], probabilities, float(state["best_score"]),
                      best_weights, random_state, (version, tuple(internal), gauss), float(state["seconds"]))


def restore_model(model, saved: SavedEpoch) -> None:
    """Load the weights, the optimizer's state and the random state of `saved` into `model`.

    Python's random state (`saved.python_random_state`) is for the caller to set when the first resumed epoch
    begins (`callbacks.SetPythonRandomState`).

    Args:
        model: the model, built and compiled as the stage built it.
        saved: what `read_epoch` read.

    Raises:
        ValueError: the model has another number of random-state variables than were saved.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(saved.folder / "model.weights.h5")
    variables = random_state_variables(model)
    if len(variables) != len(saved.random_state):
        raise ValueError(f"{saved.folder}: {len(saved.random_state)} random states saved, the model has "
                         f"{len(variables)}")
    for variable, value in zip(variables, saved.random_state):
        variable.assign(value)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems (FUSE mounts) refuse to sync a folder: the rename still orders the writes
        pass
    finally:
        os.close(descriptor)
