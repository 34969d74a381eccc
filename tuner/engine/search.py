"""`search`: run (or resume) a Hyperband search of one space, then the fine-tuning stage.

The order of one search: check the inputs (data, weights, results folder) before anything is
written; take the run's lock; create or resume the run folder (resume.py); write the manifest; load
the images or the backbone's cached features; let Keras Tuner run the trials (tuner.py); fine-tune
the best head (finetune.py) and, with `--ensemble`, average it with its parent (ensemble.py); mark the run
finished. Entry point: `run_search` (`search` and `train`).
"""

from __future__ import annotations

import gc
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from tuner.core.errors import ToolkitError, command
from tuner.core.live import SearchDisplay
from tuner.core.progress import stderr_console
from tuner.core.runs import RunPaths, check_results_writable, run_lock
from tuner.core.settings import SearchSettings
from tuner.data.dataset import Dataset, data_fingerprint, load_dataset
from tuner.engine.backends import reuse_compiled_functions
from tuner.engine.hypermodels import make_space, weights_sha256
from tuner.engine.manifest import mark_finished, note_in_manifest, write_manifest
from tuner.engine.records import read_trial_records, write_trials_table
from tuner.engine.resume import prepare_run_folder, wait_for_chief_settings


def run_search(settings: SearchSettings, command_line: str | None = None, distribution=None) -> RunPaths:
    """Run (or resume) a search, then the stages after it.

    The data and the weights are checked before the run folder is made, so a refused search leaves
    nothing behind. A spent `--time-budget` ends the search early with a message (the same command
    goes on); it is not an error.

    Args:
        settings: the search's settings.
        command_line: the command as typed, for the manifest (default: `sys.argv` joined).
        distribution: a `distributed.Distribution` when this process is the chief (serves the oracle) or a
            worker (trains trials) of a distributed search; None for a search in one process.

    Returns:
        The run folder (`settings.run`), also when the run had already finished.

    Raises:
        ToolkitError: `settings.check_environment`; an unwritable results folder, bad data or weights, a run
            held by another process or started with other settings, too many failed trials in a row, no chief in
            time (a worker), or unreadable fine-tuning progress.
    """
    from tuner.engine.interrupt import install

    install()
    settings.check_environment()
    run = settings.run
    command_line = command_line or " ".join(sys.argv)
    check_results_writable(settings.results_dir)
    dataset = load_dataset(settings.data)
    weights_digest = weights_sha256(settings)
    if distribution is not None and distribution.role == "worker":
        with run_lock(run, run.directory / f".worker-{distribution.worker_id}.lock"):
            wait_for_chief_settings(settings)
            distribution.apply()
            _search(settings, dataset, run, command_line, "worker", weights_digest)
        return run
    with run_lock(run, run.lock):
        if not prepare_run_folder(settings):
            return run  # finished before, with these settings
        if distribution is not None:
            distribution.apply()
        _search(settings, dataset, run, command_line, "chief" if distribution else "local", weights_digest)
    return run


def _search(settings: SearchSettings, dataset: Dataset, run: RunPaths, command_line: str, role: str,
            weights_digest: str | None) -> None:
    """`role`: "local" (one process does it all), "chief" (serves the oracle) or "worker" (trains)."""
    import keras
    from keras_tuner.src import config as keras_tuner_config

    from tuner.engine import keras_tuner_patches
    from tuner.engine.tuner import TimeBudgetSpent, TrialContext, make_tuner

    search_started = time.monotonic()

    def budget_spent() -> bool:
        return settings.time_budget is not None and time.monotonic() - search_started > settings.time_budget

    keras_tuner_config.DEBUG = False  # failed trials are recorded with their reason, not printed
    # Hyperband's promoted trials start from their parent's weights; a fresh optimizer is expected.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    keras_tuner_patches.apply()
    reuse_compiled_functions(settings.data.cache_dir / "xla")
    keras.utils.set_random_seed(settings.data.seed)
    if settings.deterministic:
        from tuner.engine.backends import enable_determinism

        enable_determinism()
    if role != "worker":
        write_manifest(run.manifest, command_line, settings.to_dict(), data_fingerprint(dataset), weights_digest,
                       synthetic_data=settings.synthetic_data)
    if settings.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    space = make_space(settings)
    # The chief only serves the oracle: it needs the space's declarations, not the data.
    inputs = None if role == "chief" else _model_inputs(settings, space, dataset, weights_digest)
    show_progress = settings.show_progress and role != "chief"
    with SearchDisplay(run.name, settings.precision_floor, enabled=show_progress) as display:
        context = TrialContext(settings, run, dataset, inputs, display, budget_spent)
        if role == "local":  # a chief trains nothing; its workers decide each for itself
            note_in_manifest(run.manifest, inputs_on_device=context.on_device)
        tuner = make_tuner(context, space)
        # Keras Tuner, Keras and we run three full garbage collections per trial; the millions of objects
        # of TensorFlow, Keras and the backbone, alive for the whole search, need not be scanned each
        # time (docs/benchmarks.md, "benchmarks/gpu.py"). Collected first, so no garbage is frozen with them.
        gc.collect()
        gc.freeze()
        try:
            tuner.search(verbose=0)
        except TimeBudgetSpent:
            write_trials_table(run)
            _say_budget_spent(settings, run)
            return
        except RuntimeError:
            if not gave_up(run, settings.max_failed_trials):
                raise
            write_trials_table(run)
            raise ToolkitError(f"stopped after {settings.max_failed_trials} failed trials in a row; finished trials "
                               f"are kept in {run.directory}: see {command(f'report --run {run.name}')} for the "
                               "reasons") from None
        finally:
            gc.unfreeze()
    write_trials_table(run)
    if role != "worker":
        if settings.finetunes:
            from tuner.engine.ensemble import ensemble_finetuned
            from tuner.engine.finetune import finetune_best

            if budget_spent():  # each stage resumes with the same command
                _say_budget_spent(settings, run)
                return
            try:
                finetuned = finetune_best(settings, dataset, run, budget_spent)
            except TimeBudgetSpent as stopped:
                _say_budget_spent(settings, run, str(stopped))
                return
            if budget_spent():
                _say_budget_spent(settings, run)
                return
            if settings.ensemble:
                ensemble_finetuned(settings, dataset, run, finetuned)
        mark_finished(run.manifest)


def gave_up(run: RunPaths, max_failed_trials: int) -> bool:
    """Whether the run's own records show Keras Tuner's give-up: its last `max_failed_trials` search trials
    (by id) all failed."""
    search_trials = [record for record in read_trial_records(run) if record.stage == "search"]
    last = search_trials[-max_failed_trials:]
    return len(last) == max_failed_trials and not any(record.completed for record in last)


def _say_budget_spent(settings: SearchSettings, run: RunPaths, stage: str = "") -> None:
    finished = run.recorded_trials()
    budget = settings.time_budget
    budget_text = f"{budget:.0f} s" if budget < 120 else f"{budget / 60:.0f} min"
    stage = f", {stage}" if stage else ""
    stderr_console.print(f"Time budget of {budget_text} spent: {finished} trial(s) of run "
                         f"{run.name} finished{stage}; run the same command again to go on.", soft_wrap=True)


def _model_inputs(settings: SearchSettings, space, dataset: Dataset, weights_digest: str | None) -> np.ndarray:
    """What the trials train on: the decoded images, or the frozen backbone's cached features."""
    if settings.space_entry.frozen_backbone:
        # Built (and its random initialisation drawn) before any trial seeds itself, so that each
        # head starts from the same weights with and without the feature cache.
        space.backbone()
    if not settings.uses_feature_cache:
        return dataset.images
    import keras

    from tuner.data.features import ACCELERATOR_FEATURE_BATCH, FEATURE_BATCH, feature_cache_dir, load_features
    from tuner.engine.backends import on_accelerator

    backbone = space.backbone()  # already built above
    weights_id = weights_digest or f"random-init-seed{settings.data.seed}"
    directory = feature_cache_dir(settings.data.cache_dir, Path(dataset.images.filename),
                                  weights_id, settings.data.image_size, keras.backend.backend())
    # Only the rows this run uses; a later run on more of the data computes just the rest.
    rows = dataset.records["row"].to_numpy()
    batch_size = ACCELERATOR_FEATURE_BATCH if on_accelerator() else FEATURE_BATCH
    return load_features(backbone, Path(dataset.images.filename), rows, directory, batch_size).features
