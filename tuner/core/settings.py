"""Every setting, in one place: frozen dataclasses validated once at the edge (past it, code trusts
them), which of them a resume must match, and reading a run's settings back."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from search_spaces.registry import DEFAULT_FINETUNE_RECIPE, SpaceEntry
from tuner.core.atomic import read_json
from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths, check_run_name
from tuner.core.spaces import space_entry

DATA_ENV = "XRAY_TUNER_DATA"
CACHE_ENV = "XRAY_TUNER_CACHE"
DEFAULT_DATA_DIR = Path("data/chest_xray")
GET_DATA_HINT = (
    'download the Kaggle data set "labeled-chest-xray-images" '
    "(kaggle datasets download tolgadincer/labeled-chest-xray-images) and pass --data DIR, "
    f"set {DATA_ENV}, or unpack it into ./data/chest_xray"
)


def resolve_data_dir(flag: str | os.PathLike | None) -> Path:
    """The data folder: the --data flag, else $XRAY_TUNER_DATA, else ./data/chest_xray."""
    if flag:
        candidate, source = Path(flag), "--data"
    elif os.environ.get(DATA_ENV):
        candidate, source = Path(os.environ[DATA_ENV]), DATA_ENV
    else:
        candidate, source = DEFAULT_DATA_DIR, "the default"
    if not candidate.is_dir():
        raise ToolkitError(f"data folder {candidate} ({source}) not found: {GET_DATA_HINT}")
    return candidate.resolve()


def default_cache_dir() -> Path:
    """Decoded images and backbone features: $XRAY_TUNER_CACHE, else ~/.cache/xray-tuner."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "xray-tuner"


# The default sensitivity target: the operating point is the highest threshold that still finds this
# share of the validation pneumonia images, not the one under the single lowest-scored image. 0.98 is the
# lowest target whose threshold, chosen on one half of the validation patients, kept recall >= 0.95 on
# the other half in 95 % of 200 halvings (tools/operating_point_evidence.py; docs/results.md).
DEFAULT_RECALL_TARGET = 0.98

# What runs written before a setting existed did without it: their settings are read back (and resumed) so.
LEGACY_DEFAULTS = {"recall_target": 1.0, "prevalence": None, "finetune_epochs": 0,
                   "finetune_layers": "top", "ensemble": True,
                   "mixed_precision": False, "deterministic": False}


@dataclass(frozen=True)
class DataSettings:
    """How the data set is read, split and cached."""

    data_dir: Path
    image_size: int = 224
    val_fraction: float = 0.2
    seed: int = 0
    limit: int | None = None
    cache_dir: Path = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ToolkitError(f"--image-size {self.image_size} is too small: use 32 or more (default 224)")
        if not 0.0 < self.val_fraction < 1.0:
            raise ToolkitError(f"--val-fraction {self.val_fraction} is outside (0, 1): use e.g. 0.2")
        if self.limit is not None and self.limit < 1:
            raise ToolkitError(f"--limit {self.limit} must be at least 1 image per class")
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        cache_dir = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
        object.__setattr__(self, "cache_dir", cache_dir)


# Settings that change what a search computes: resuming with any of them different is refused.
RESUME_KEYS = ("space", "precision_floor", "recall_target", "prevalence", "max_epochs", "factor",
               "hyperband_iterations", "batch_size", "weights", "feature_cache", "finetune_epochs", "finetune_layers",
               "ensemble", "mixed_precision", "deterministic", "data_dir", "image_size", "val_fraction", "seed",
               "limit", "fixed_hyperparameters")
# The settings a default run name is derived from. Fixed here, not RESUME_KEYS, so that a setting added
# later does not rename (and so orphan) every run started before it.
DIGEST_KEYS = ("space", "precision_floor", "recall_target", "prevalence", "max_epochs", "factor",
               "hyperband_iterations", "batch_size", "weights", "feature_cache", "finetune_epochs", "mixed_precision",
               "deterministic", "data_dir", "image_size", "val_fraction", "seed", "limit", "fixed_hyperparameters")
# Fine-tuning settings added since, with the value runs had before them: they name a run that fine-tunes only
# where they differ from it, so older names stay.
DIGEST_KEYS_IF_CHANGED = {"finetune_layers": "top", "ensemble": True}


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
    finetune_epochs: int = 0  # epochs of the fine-tuning stage after the search (0: none)
    finetune_layers: str = DEFAULT_FINETUNE_RECIPE  # which layers fine-tuning trains (the space's recipes)
    ensemble: bool = False  # also the average of the fine-tuned model and its frozen parent
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
        entry = space_entry(self.space)
        check_run_name(self.run_name)
        if not 0.0 < self.precision_floor < 1.0:
            raise ToolkitError(f"--precision-floor {self.precision_floor} is outside (0, 1): use e.g. 0.90")
        if not 0.0 < self.recall_target <= 1.0:
            raise ToolkitError(f"--recall-target {self.recall_target} is outside (0, 1]: use e.g. 0.98")
        if self.prevalence is not None and not 0.0 < self.prevalence < 1.0:
            raise ToolkitError(f"--prevalence {self.prevalence} is outside (0, 1): the share of PNEUMONIA "
                             "where the model will be used, e.g. 0.5")
        if self.finetune_epochs < 0:
            raise ToolkitError(f"--finetune-epochs {self.finetune_epochs} must be 0 (no fine-tuning) or more")
        if entry.finetunes and self.finetune_layers not in entry.finetune_recipes:
            raise ToolkitError(f"--finetune-layers {self.finetune_layers!r} is not one of "
                               f"{', '.join(entry.finetune_recipes)} (space {self.space})")
        if self.max_epochs < 1:
            raise ToolkitError(f"--max-epochs {self.max_epochs} must be at least 1")
        if self.factor < 2:
            raise ToolkitError(f"--factor {self.factor} must be at least 2 (Hyperband keeps 1/factor of the trials)")
        if self.hyperband_iterations < 1:
            raise ToolkitError(f"--hyperband-iterations {self.hyperband_iterations} must be at least 1")
        if self.batch_size < 1:
            raise ToolkitError(f"--batch-size {self.batch_size} must be at least 1")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ToolkitError("--time-budget must be positive, e.g. 45m or 2h")
        if self.max_failed_trials < 1:
            raise ToolkitError(f"--max-failed-trials {self.max_failed_trials} must be at least 1")
        if self.tensorboard and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
            raise ToolkitError("--tensorboard needs the TensorFlow backend: unset KERAS_BACKEND or drop --tensorboard")

    @property
    def run(self) -> RunPaths:
        return RunPaths(self.results_dir / self.run_name)

    @property
    def space_entry(self) -> SpaceEntry:
        """The space's registry entry: what it can do."""
        return space_entry(self.space)

    @property
    def finetunes(self) -> bool:
        """Whether the run has a fine-tuning stage after its search."""
        return self.space_entry.finetunes and self.finetune_epochs > 0

    @property
    def uses_feature_cache(self) -> bool:
        """Whether the trials train on the frozen backbone's cached features rather than on images."""
        return self.space_entry.caches_features and self.feature_cache

    @classmethod
    def from_dict(cls, stored: dict, results_dir: Path, data_dir: Path | None = None) -> SearchSettings:
        """The inverse of `to_dict`: a run's stored settings (its data folder moved to `data_dir` if given)."""
        data_names = {f.name for f in fields(DataSettings)}
        data = DataSettings(**{name: value for name, value in stored.items() if name in data_names})
        if data_dir is not None:
            data = replace(data, data_dir=Path(data_dir))
        own = {f.name for f in fields(cls)} - {"data", "results_dir", "show_progress", "overwrite"}
        return cls(data=data, results_dir=results_dir, **{name: stored[name] for name in own if name in stored})

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in ("data", "show_progress", "overwrite")}
        values.update({k: v for k, v in asdict(self.data).items()})
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def settings_digest(settings: SearchSettings) -> str:
    """Eight hex digits that name a search's settings: the default run name ends with them, so running
    the same command again finds (and resumes) the same run."""
    wanted = settings.to_dict()
    named = {key: wanted.get(key) for key in DIGEST_KEYS}
    if settings.finetunes:
        named.update({key: wanted[key] for key, before in DIGEST_KEYS_IF_CHANGED.items() if wanted[key] != before})
    text = json.dumps(named, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def stored_settings(run: RunPaths) -> dict:
    """A run's stored settings, with the defaults of settings added since it was written."""
    return {**LEGACY_DEFAULTS, **read_json(run.settings)}


def settings_from_run(run: RunPaths, data_dir: Path | None = None) -> SearchSettings:
    """The run's SearchSettings (its data folder replaced by `data_dir` when given)."""
    settings = SearchSettings.from_dict(stored_settings(run), results_dir=run.directory.parent, data_dir=data_dir)
    return replace(settings, run_name=run.name)  # the folder's name, should it have been renamed
