"""The search spaces as Keras Tuner hypermodels, and a trial's model rebuilt from its run folder.

`make_space` gives a run's hypermodel; `load_trial_model` rebuilds a trial's model from its hyperparameters
and loads weights only (Keras Tuner's best-epoch checkpoint, or the fine-tuning stage's file), so no code
from a results folder is ever run; `ensemble_model` averages member trials' models.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from tuner.core.atomic import read_json
from tuner.core.errors import ToolkitError, command
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings
from tuner.engine.records import TrialRecord


def make_space(settings: SearchSettings):
    """The hypermodel of the run's space, at its image size.

    A space on a frozen backbone also gets the backbone's weights, whether it trains on cached features,
    and (where it fine-tunes) which layers fine-tuning trains.

    Args:
        settings: the run's settings.

    Returns:
        A `keras_tuner.HyperModel` of `search_spaces` (it also has `declare`).
    """
    entry = settings.space_entry
    space_class = entry.load()
    if not entry.frozen_backbone:
        return space_class(settings.data.image_size)
    recipe = {"finetune_layers": settings.finetune_layers} if entry.finetunes else {}
    return space_class(settings.data.image_size, settings.weights, use_feature_cache=settings.uses_feature_cache,
                       **recipe)


def weights_sha256(settings: SearchSettings) -> str | None:
    """The SHA-256 of the backbone's weights file, or None.

    Args:
        settings: the run's settings.

    Returns:
        The hex digest for a space on a frozen backbone with a weights file (ImageNet's is downloaded
        first when absent); None for a space without a backbone or with random weights (`--weights none`).

    Raises:
        ToolkitError: ImageNet's weights cannot be downloaded.
    """
    if not settings.space_entry.frozen_backbone or settings.weights is None:
        return None
    from search_spaces.weights import imagenet_weights_path
    from tuner.data.features import file_sha256

    path = settings.weights
    if path == "imagenet":
        path = imagenet_weights_path(settings.data.image_size)
    return file_sha256(Path(path))


def trial_hyperparameters(space, values: dict):
    """A Keras Tuner HyperParameters holding a trial's values, every hyperparameter of `space` declared.

    Args:
        space: the run's hypermodel (`make_space`).
        values: the trial's hyperparameter values by name (`TrialRecord.hyperparameters`).

    Returns:
        A `keras_tuner.HyperParameters` whose values are `values`, the space's defaults elsewhere.
    """
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    hp.values.update(values)
    return hp


def load_trial_model(run: RunPaths, settings: SearchSettings, trial: TrialRecord, on_images: bool = True):
    """A trial's best-epoch model, rebuilt from its hyperparameters and loaded with weights only.

    Args:
        run: the run folder.
        settings: the run's settings (`settings_from_run`).
        trial: the trial's record.
        on_images: for a search trial that trained on cached features, join the backbone and the head
            into one model on images; False gives the model as the trial trained it (the head alone).
            Fine-tuned and ensemble models are always on images.

    Returns:
        A Keras model whose output is the PNEUMONIA probability.

    Raises:
        ToolkitError: the trial's weights (or an ensemble member's record or weights) are missing.
    """
    if trial.stage == "ensemble":
        return ensemble_model(run, settings, trial.members)
    checkpoint = run.model_weights(trial.trial_id, trial.stage)
    if not checkpoint.is_file():
        raise ToolkitError(f"trial {trial.trial_id} of run {run.name!r} has no saved model ({checkpoint} is "
                           f"missing): choose a finished trial with --trial (see {command('report')})")
    space = make_space(settings)
    hp = trial_hyperparameters(space, trial.hyperparameters)
    model = space.finetune_model(hp) if trial.stage == "finetune" else space.build(hp)
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state too; a model for prediction needs none.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(checkpoint)
    if on_images and settings.uses_feature_cache and trial.stage != "finetune":
        model = space.full_model(model)
    return model


def ensemble_model(run: RunPaths, settings: SearchSettings, members: list[str] | None):
    """The ensemble of the member trials of a run, on images (`average_of` their models).

    Args:
        run: the run folder.
        settings: the run's settings.
        members: the member trials' ids (an ensemble record's `members`).

    Returns:
        One Keras model on images whose output is the mean of the members' probabilities.

    Raises:
        ToolkitError: fewer than two members, or a member's record or weights are missing.
    """
    if not members or len(members) < 2:
        raise ToolkitError(f"an ensemble of run {run.name!r} lists {len(members or [])} member trial(s), not two or "
                           f"more: its record is damaged; choose another trial with --trial (see {command('report')})")
    models = []
    for trial_id in members:
        path = run.trial_record(trial_id)
        if not path.is_file():
            raise ToolkitError(f"run {run.name!r} has no trial {trial_id}, a member of its ensemble ({path} is "
                               f"missing): choose another trial with --trial (see {command('report')})")
        models.append(load_trial_model(run, settings, TrialRecord.from_dict(read_json(path))))
    return average_of(models)


def average_of(models: list):
    """One model on the members' input whose output is the mean of their outputs (probabilities).

    Args:
        models: Keras models with the same input shape; each is renamed `member_<index>` in place.

    Returns:
        A Keras model named "ensemble" (its last layer a `keras.layers.Average`).
    """
    import keras

    for index, model in enumerate(models):
        model.name = f"member_{index}"  # names must be unique inside one model; these are fresh loads
    inputs = keras.Input(models[0].input_shape[1:], name="images")
    return keras.Model(inputs, keras.layers.Average(name="mean_probability")([model(inputs) for model in models]),
                       name="ensemble")
