"""The Hyperband search: Keras Tuner wiring, per-trial records, resume and the run lock."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
import zlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from tuner.core.atomic import read_json, remove_leftovers, write_json
from tuner.data.dataset import Dataset, load_dataset
from tuner.engine.distributed import log_event
from tuner.core.errors import UsageError
from tuner.engine.objective import DEFAULT_RECALL_TARGET, OperatingRule
from tuner.core.runs import RunLock, RunPaths, check_results_writable, check_run_name, clear_run_folder
from tuner.core.settings import DataSettings
from tuner.engine.records import best_epoch_summary

OBJECTIVE = "val_score"
VALIDATION_BATCH = 256  # predictions only: a large batch is faster and changes no result
# Settings that change what a search computes: resuming with any of them different is refused.
RESUME_KEYS = ("space", "precision_floor", "recall_target", "prevalence", "max_epochs", "factor",
               "hyperband_iterations", "batch_size", "weights", "feature_cache", "finetune_epochs", "mixed_precision",
               "deterministic", "data_dir", "image_size", "val_fraction", "seed", "limit", "fixed_hyperparameters")
# The settings a default run name is derived from. Fixed here, not RESUME_KEYS, so that a setting added
# later does not rename (and so orphan) every run started before it.
DIGEST_KEYS = ("space", "precision_floor", "recall_target", "prevalence", "max_epochs", "factor",
               "hyperband_iterations", "batch_size", "weights", "feature_cache", "finetune_epochs", "mixed_precision",
               "deterministic", "data_dir", "image_size", "val_fraction", "seed", "limit", "fixed_hyperparameters")


@dataclass(frozen=True)
class SearchSettings:
    space: str
    data: DataSettings
    results_dir: Path = Path("results")
    run_name: str = ""
    precision_floor: float = 0.90
    recall_target: float = DEFAULT_RECALL_TARGET
    prevalence: float | None = None  # None: the validation split's own share of PNEUMONIA
    max_epochs: int = 10
    factor: int = 3
    hyperband_iterations: int = 1
    batch_size: int = 32
    weights: str | None = "imagenet"
    feature_cache: bool = True
    finetune_epochs: int = 0  # mobilenet_head: epochs of the fine-tuning stage after the search (0: none)
    mixed_precision: bool = False
    max_failed_trials: int = 3
    deterministic: bool = False
    tensorboard: bool = False  # per-trial TensorBoard logs with Keras Tuner's hyperparameter view
    time_budget: float | None = None  # seconds: no new trial starts after them (the run resumes later)
    # `train`: one fixed point of the space (e.g. a reference model) instead of a Hyperband search.
    fixed_hyperparameters: dict | None = None
    overwrite: bool = False
    show_progress: bool = True
    synthetic_data: bool = False  # the demo's generated images: labelled as such everywhere

    def __post_init__(self) -> None:
        from search_spaces import get_space_class

        get_space_class(self.space)  # unknown space -> UsageError
        check_run_name(self.run_name)
        if not 0.0 < self.precision_floor < 1.0:
            raise UsageError(f"--precision-floor {self.precision_floor} is outside (0, 1): use e.g. 0.90")
        if not 0.0 < self.recall_target <= 1.0:
            raise UsageError(f"--recall-target {self.recall_target} is outside (0, 1]: use e.g. 0.98")
        if self.prevalence is not None and not 0.0 < self.prevalence < 1.0:
            raise UsageError(f"--prevalence {self.prevalence} is outside (0, 1): the share of PNEUMONIA "
                             "where the model will be used, e.g. 0.5")
        if self.finetune_epochs < 0:
            raise UsageError(f"--finetune-epochs {self.finetune_epochs} must be 0 (no fine-tuning) or more")
        if self.max_epochs < 1:
            raise UsageError(f"--max-epochs {self.max_epochs} must be at least 1")
        if self.factor < 2:
            raise UsageError(f"--factor {self.factor} must be at least 2 (Hyperband keeps 1/factor of the trials)")
        if self.hyperband_iterations < 1:
            raise UsageError(f"--hyperband-iterations {self.hyperband_iterations} must be at least 1")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size} must be at least 1")
        if self.time_budget is not None and self.time_budget <= 0:
            raise UsageError("--time-budget must be positive, e.g. 45m or 2h")
        if self.max_failed_trials < 1:
            raise UsageError(f"--max-failed-trials {self.max_failed_trials} must be at least 1")
        if self.tensorboard and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
            raise UsageError("--tensorboard needs the TensorFlow backend: unset KERAS_BACKEND or drop --tensorboard")

    @property
    def run(self) -> RunPaths:
        return RunPaths(self.results_dir / self.run_name)

    @property
    def rule(self) -> OperatingRule:
        """How every threshold of this run is chosen on validation."""
        return OperatingRule(self.precision_floor, self.recall_target, self.prevalence)

    @property
    def finetunes(self) -> bool:
        return self.space == "mobilenet_head" and self.finetune_epochs > 0

    @property
    def uses_feature_cache(self) -> bool:
        return self.space == "mobilenet_head" and self.feature_cache

    @classmethod
    def from_dict(cls, stored: dict, results_dir: Path, data_dir: Path | None = None) -> "SearchSettings":
        """The inverse of `to_dict`: a run's stored settings (its data folder moved to `data_dir` if given)."""
        data_names = {f.name for f in fields(DataSettings)}
        data = DataSettings(**{name: value for name, value in stored.items() if name in data_names})
        if data_dir is not None:
            data = replace(data, data_dir=Path(data_dir))
        own = {f.name for f in fields(cls)} - {"data", "results_dir", "show_progress", "overwrite"}
        return cls(data=data, results_dir=results_dir, **{name: stored[name] for name in own if name in stored})

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("data", "show_progress", "overwrite")}
        values.update({k: v for k, v in asdict(self.data).items()})
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def make_space(settings: SearchSettings):
    from search_spaces import get_space_class

    space_class = get_space_class(settings.space)
    if settings.space == "mobilenet_head":
        return space_class(settings.data.image_size, settings.weights, use_feature_cache=settings.feature_cache)
    return space_class(settings.data.image_size)


def run_search(settings: SearchSettings, command_line: str | None = None, distribution=None) -> RunPaths:
    """Run (or resume) a search; returns the run folder. `command_line` goes into the manifest.

    The data and the weights are checked before the run folder is made, so a refused search leaves
    nothing behind. With a `Distribution` this process is the chief (serves the oracle) or a worker
    (trains trials) of a distributed search; see `tuner/engine/distributed.py`.
    """
    from tuner.engine.interrupt import install

    install()
    run = settings.run
    command_line = command_line or " ".join(sys.argv)
    check_results_writable(settings.results_dir)
    dataset = load_dataset(settings.data)
    weights_sha256 = _weights_sha256(settings)
    if distribution is not None and distribution.role == "worker":
        with RunLock(run, run.directory / f".worker-{distribution.worker_id}.lock"):
            _wait_for_chief_settings(settings)
            distribution.apply()
            _search(settings, dataset, run, command_line, "worker", weights_sha256)
        return run
    with RunLock(run, run.lock):
        if not _prepare_run_folder(settings):
            return run  # finished before, with these settings
        if distribution is not None:
            distribution.apply()
        _search(settings, dataset, run, command_line, "chief" if distribution else "local", weights_sha256)
    return run


def settings_digest(settings: SearchSettings) -> str:
    """Eight hex digits that name a search's settings: the default run name ends with them, so running
    the same command again finds (and resumes) the same run."""
    wanted = settings.to_dict()
    text = json.dumps({key: wanted.get(key) for key in DIGEST_KEYS}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _prepare_run_folder(settings: SearchSettings) -> bool:
    """Make the run folder ready; False when the run already finished (nothing left to do). Says which."""
    from tuner.core.progress import stderr_console

    run = settings.run
    if run.settings.is_file() and not settings.overwrite:
        _check_same_settings(settings)
        # A kill mid-write leaves the old file whole and a temporary beside it; the oracle (and so
        # any worker) starts only after this, so nothing is writing yet.
        remove_leftovers(run.directory)
        finished_trials = run.recorded_trials()
        manifest = read_json(run.manifest) if run.manifest.is_file() else {}
        if manifest.get("finished"):
            stderr_console.print(f"Run {run.name} already finished with these settings ({finished_trials} trials, "
                                 f"{manifest['finished']}): nothing to do. --overwrite searches again; "
                                 "--run NAME starts another run.", soft_wrap=True)
            return False
        stderr_console.print(f"Resuming run {run.name} ({finished_trials} trial(s) finished) in {settings.results_dir}.",
                             soft_wrap=True)
        return True
    if settings.overwrite:
        clear_run_folder(run)
    stderr_console.print(f"New run {run.name} in {settings.results_dir}.", soft_wrap=True)
    write_json(run.settings, settings.to_dict())
    return True


def _check_same_settings(settings: SearchSettings) -> None:
    run, wanted = settings.run, settings.to_dict()
    stored = run.read_settings()
    differing = [f"{key} ({stored.get(key)!r} → {wanted.get(key)!r})"
                 for key in RESUME_KEYS if stored.get(key) != wanted.get(key)]
    if differing:
        raise UsageError(f"run {run.name!r} exists with other settings: {', '.join(differing)}; "
                         "use the same settings to resume, another --run, or --overwrite to start over")


def _wait_for_chief_settings(settings: SearchSettings, timeout_seconds: float = 600) -> None:
    """A worker starts with the chief or soon after: it waits for the run's settings, then checks them."""
    deadline = time.monotonic() + timeout_seconds
    while not settings.run.settings.is_file():
        if time.monotonic() > deadline:
            raise UsageError(f"no chief has started run {settings.run.name!r} in {settings.results_dir} "
                             f"within {timeout_seconds:.0f} s: start `search --role chief` first")
        time.sleep(1)
    _check_same_settings(settings)


def trial_seed(seed: int, trial_id: str) -> int:
    """A trial's own seed: its training depends on the run's seed and its id, not on what ran before,
    so a resumed search trains each trial exactly as an uninterrupted one would."""
    return zlib.crc32(f"{seed}:{trial_id}".encode()) % (2**31)


def _search(settings: SearchSettings, dataset: Dataset, run: RunPaths, command_line: str, role: str,
            weights_sha256: str | None) -> None:
    """`role`: "local" (one process does it all), "chief" (serves the oracle) or "worker" (trains)."""
    import keras
    import keras_tuner
    from keras_tuner.src import config as keras_tuner_config

    from tuner.engine.callbacks import DisplayCallback, StopOnInterrupt, ValidationMetrics
    from tuner.reporting.live import SearchDisplay
    from tuner.data.sequences import make_sequence
    from tuner.engine.records import write_trials_table

    from tuner.data.dataset import data_fingerprint
    from tuner.engine.manifest import mark_finished, write_manifest

    search_started = time.monotonic()

    def budget_spent() -> bool:
        return settings.time_budget is not None and time.monotonic() - search_started > settings.time_budget

    keras_tuner_config.DEBUG = False  # failed trials are recorded with their reason, not printed
    # Hyperband's promoted trials start from their parent's weights; a fresh optimizer is expected.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    _patch_keras_tuner()
    keras.utils.set_random_seed(settings.data.seed)
    if settings.deterministic:
        from tuner.engine.backends import enable_determinism

        enable_determinism()
    if role != "worker":
        write_manifest(run.manifest, command_line, settings.to_dict(), data_fingerprint(dataset), weights_sha256,
                       synthetic_data=settings.synthetic_data)
    if settings.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    space = make_space(settings)
    # The chief only serves the oracle: it needs the space's declarations, not the data.
    inputs = None if role == "chief" else _model_inputs(settings, space, dataset, weights_sha256)
    train, validation = dataset.side("train"), dataset.side("validation")
    train_rows, train_labels = train["row"].to_numpy(), train["label"].to_numpy()
    validation_labels = validation["label"].to_numpy()
    validation_inputs = None if inputs is None else make_sequence(inputs, validation["row"].to_numpy(),
                                                                  batch_size=VALIDATION_BATCH)
    class_weights = dataset.class_weights()

    class RecordedTrials:
        """Our per-trial seeding, data, callbacks and records, on top of a Keras Tuner tuner."""

        def _populate_initial_space(self):
            # Our spaces declare every hyperparameter, conditional ones included, in `declare`; Keras
            # Tuner's default would also build a model per conditional scope just to discover them.
            hp = self.oracle.get_space()
            self.hypermodel.declare_hyperparameters(hp)
            self.oracle.update_space(hp)

        def pre_create_trial(self):
            if budget_spent():
                raise TimeBudgetSpent
            # Hyperband answers IDLE while a round waits for other workers' trials: ask again in a
            # second rather than in a busy loop that takes a core from the workers.
            if getattr(self, "_idle", False):
                time.sleep(1)
            self._idle = True

        def on_trial_begin(self, trial):
            self._idle = False
            log_event(run, self.tuner_id, "start", trial.trial_id)
            super().on_trial_begin(trial)

        def run_trial(self, trial, *args, **kwargs):
            seed = trial_seed(settings.data.seed, trial.trial_id)
            keras.utils.set_random_seed(seed)
            hp_values = trial.hyperparameters.values
            train_batches = make_sequence(inputs, train_rows, train_labels, batch_size=settings.batch_size,
                                          shuffle=True, seed=seed,
                                          class_weights=class_weights)
            metrics = ValidationMetrics(validation_inputs, validation_labels, settings.rule)
            self._current = {"metrics": metrics, "started": time.monotonic()}
            display.trial_started(trial.trial_id, hp_values.get("tuner/bracket"), hp_values.get("tuner/round"),
                                  hp_values.get("tuner/initial_epoch", 0), hp_values.get("tuner/epochs", settings.max_epochs))
            kwargs["callbacks"] = [
                metrics,  # first: the callbacks after it read the metrics it adds to the logs
                keras.callbacks.TerminateOnNaN(),
                StopOnInterrupt(),
                keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=3, min_lr=1e-6),
                keras.callbacks.EarlyStopping(monitor=OBJECTIVE, mode="max", patience=5),
                DisplayCallback(display, len(train_batches), metrics),
            ]
            if settings.tensorboard:
                # Keras Tuner gives each trial its own log folder and adds its HParams callback.
                kwargs["callbacks"].append(keras.callbacks.TensorBoard(log_dir=str(run.directory / "tensorboard")))
            kwargs["verbose"] = 0
            kwargs.setdefault("epochs", settings.max_epochs)  # Hyperband sets its own per trial
            return super().run_trial(trial, train_batches, *args, **kwargs)

        def on_trial_end(self, trial):
            record = _trial_record(trial, getattr(self, "_current", None), settings)
            record["worker"] = self.tuner_id
            write_json(run.trial_record(trial.trial_id), record)
            log_event(run, self.tuner_id, "end", trial.trial_id, status=record["status"])
            super().on_trial_end(trial)
            write_trials_table(run)
            display.trial_done(record)
            self._current = None
            _release_memory()

    common = dict(hypermodel=space, objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
                  seed=settings.data.seed, directory=str(run.directory), project_name=run.keras_tuner.name,
                  overwrite=False, max_consecutive_failed_trials=settings.max_failed_trials)
    show_progress = settings.show_progress and role != "chief"
    with SearchDisplay(run.name, settings.precision_floor, enabled=show_progress) as display:
        if settings.fixed_hyperparameters is None:
            class XrayHyperband(RecordedTrials, keras_tuner.Hyperband):
                pass

            tuner = XrayHyperband(max_epochs=settings.max_epochs, factor=settings.factor,
                                  hyperband_iterations=settings.hyperband_iterations, **common)
        else:
            class FixedConfiguration(RecordedTrials, keras_tuner.RandomSearch):
                pass

            # One trial of one point: every value Fixed, nothing else tuned.
            fixed = keras_tuner.HyperParameters()
            for name, value in settings.fixed_hyperparameters.items():
                fixed.Fixed(name, value)
            tuner = FixedConfiguration(max_trials=1, hyperparameters=fixed, tune_new_entries=False, **common)
        try:
            tuner.search(verbose=0)
        except TimeBudgetSpent:
            write_trials_table(run)
            _say_budget_spent(settings, run)
            return
        except RuntimeError as error:
            if "consecutive failures" not in str(error):
                raise
            write_trials_table(run)
            raise UsageError(f"stopped after {settings.max_failed_trials} failed trials in a row; finished trials "
                             f"are kept in {run.directory}: see `python cli.py report --run {run.name}` for the "
                             "reasons") from None
    write_trials_table(run)
    if role != "worker":
        if settings.finetunes:
            from tuner.engine.finetune import finetune_best

            if budget_spent():
                _say_budget_spent(settings, run)
                return

            finetune_best(settings, dataset, run)
        mark_finished(run.manifest)


class TimeBudgetSpent(Exception):
    """--time-budget ran out: no new trial starts; the run resumes with the same command."""


def _say_budget_spent(settings: SearchSettings, run: RunPaths) -> None:
    from tuner.core.progress import stderr_console

    finished = run.recorded_trials()
    budget = settings.time_budget
    budget_text = f"{budget:.0f} s" if budget < 120 else f"{budget / 60:.0f} min"
    stderr_console.print(f"Time budget of {budget_text} spent: {finished} trial(s) of run "
                         f"{run.name} finished; run the same command again to go on.", soft_wrap=True)


def _release_memory() -> None:
    """Give a finished trial's memory back to the system. Its model, gradients and optimizer state
    (hundreds of MB for a Flatten head) are freed, but glibc keeps freed heap pages, so the resident
    size would ratchet up from trial to trial."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def _patch_keras_tuner() -> None:
    """Keras Tuner saves its oracle and trials with plain writes: a kill mid-write would leave a
    truncated oracle.json that no resume can read. Route them through our atomic writer; and write
    each trial's best-epoch checkpoint once, atomically (see `best_epoch_in_memory`)."""
    import json

    from keras_tuner.src import utils as keras_tuner_utils
    from keras_tuner.src.engine import tuner_utils

    from tuner.core.atomic import write_text
    from tuner.engine.callbacks import best_epoch_in_memory

    tuner_utils.SaveBestEpoch = best_epoch_in_memory()

    def save_json(path, obj) -> str:
        text = json.dumps(obj)
        write_text(Path(path), text)
        return text

    keras_tuner_utils.save_json = save_json


def _model_inputs(settings: SearchSettings, space, dataset: Dataset, weights_sha256: str | None) -> np.ndarray:
    """What the trials train on: the decoded images, or the frozen backbone's cached features."""
    if settings.space == "mobilenet_head":
        # Built (and its random initialisation drawn) before any trial seeds itself, so that each
        # head starts from the same weights with and without the feature cache.
        space.backbone()
    if not settings.uses_feature_cache:
        return dataset.images
    import keras

    from tuner.data.features import feature_cache_dir, load_features

    backbone = space.backbone()  # already built above
    weights_id = weights_sha256 or f"random-init-seed{settings.data.seed}"
    directory = feature_cache_dir(settings.data.cache_dir, Path(dataset.images.filename),
                                  weights_id, settings.data.image_size, keras.backend.backend())
    # Only the rows this run uses; a later run on more of the data computes just the rest.
    rows = dataset.records["row"].to_numpy()
    return load_features(backbone, Path(dataset.images.filename), rows, directory).features


def _weights_sha256(settings: SearchSettings) -> str | None:
    """The hash of the backbone's weights file (downloading ImageNet's when needed), or None."""
    if settings.space != "mobilenet_head" or settings.weights is None:
        return None
    from search_spaces.mobilenet_head import _imagenet_weights_path

    from tuner.data.features import file_sha256

    path = settings.weights
    if path == "imagenet":
        path = _imagenet_weights_path(settings.data.image_size)
    return file_sha256(Path(path))


def _trial_record(trial, current: dict | None, settings: SearchSettings) -> dict:
    hp_values = trial.hyperparameters.values
    history = current["metrics"].history if current else []
    status = "completed" if trial.status == "COMPLETED" and history else "failed"
    record = {
        "trial_id": trial.trial_id,
        "status": status,
        "stage": "search",
        "bracket": hp_values.get("tuner/bracket"),
        "round": hp_values.get("tuner/round"),
        "parent_trial": hp_values.get("tuner/trial_id"),
        "initial_epoch": hp_values.get("tuner/initial_epoch", 0),
        "target_epochs": hp_values.get("tuner/epochs"),
        "cached_features": settings.uses_feature_cache,
        "seconds": round(time.monotonic() - current["started"], 2) if current else None,
        "epochs": len(history),
        "hyperparameters": {k: v for k, v in hp_values.items() if not k.startswith("tuner/")},
        "history": history,
    }
    if status == "completed":
        record.update(best_epoch_summary(history))
    else:
        record["score"] = None
        record["message"] = _failure_reason(trial.message)
    return record


def _failure_reason(message: str | None) -> str:
    """The last line of a failed trial's traceback: the exception and its message."""
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"
