"""A trial's model as one ordinary Keras model on images, rebuilt from its run folder.

Models are rebuilt from the trial's hyperparameters and loaded with weights only (Keras Tuner's
best-epoch checkpoint): no code from a results folder is ever run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from tuner.core.errors import UsageError
from tuner.core.runs import RunPaths


def settings_from_run(run: RunPaths, data_dir: Path | None = None):
    """The run's SearchSettings (its data folder replaced by `data_dir` when given)."""
    from dataclasses import replace

    from tuner.engine.search import SearchSettings

    settings = SearchSettings.from_dict(run.read_settings(), results_dir=run.directory.parent, data_dir=data_dir)
    return replace(settings, run_name=run.name)  # the folder's name, should it have been renamed


def trial_hyperparameters(space, values: dict):
    """A Keras Tuner HyperParameters holding a trial's values, every hyperparameter of `space` declared."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    hp.values.update(values)
    return hp


def load_trial_model(run: RunPaths, settings, trial: dict, on_images: bool = True):
    """A trial record's best-epoch model: on images (backbone and head joined for mobilenet_head), or,
    with `on_images=False`, as the trial trained it (a head alone on cached features)."""
    from tuner.engine.search import make_space

    checkpoint = run.model_weights(trial)
    if not checkpoint.is_file():
        raise UsageError(f"trial {trial['trial_id']} of run {run.name!r} has no saved model ({checkpoint} is "
                         "missing): choose a finished trial with --trial (see `python cli.py report`)")
    space = make_space(settings)
    hp = trial_hyperparameters(space, trial["hyperparameters"])
    model = space.finetune_model(hp) if trial.get("stage") == "finetune" else space.build(hp)
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state too; a model for prediction needs none.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(checkpoint)
    if on_images and settings.uses_feature_cache and trial.get("stage") != "finetune":
        model = space.full_model(model)
    return model
