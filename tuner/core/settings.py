"""Every setting, in one place: frozen dataclasses validated once at the edge (past it, code trusts
them), which of them a resume must match, and reading a run's settings back."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import MISSING, dataclass, field, fields, replace
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


# The default sensitivity target: the highest threshold that still finds this share of validation's pneumonia
# images. Evidence: docs/results.md ("The operating-point rule").
DEFAULT_RECALL_TARGET = 0.98

# The version of settings.json that this code writes; `migrate_settings` brings older files up to it.
SCHEMA_VERSION = 2


def setting(default=MISSING, *, stored: bool = True, resume: bool = True, names_run: bool = True,
            names_run_unless=MISSING, before=MISSING):
    """A settings field and what the toolkit does with it (its metadata; the lists below derive from it).

    Args:
        default: the field's default (none: a required field).
        stored: written to the run's settings.json.
        resume: a resume with another value is refused (it changes what the search computes).
        names_run: enters the default run name's digest. New settings that change results should say
            `names_run_unless=<the value runs had before>` instead, so that older runs keep their names.
        names_run_unless: enters the digest only, for a run that fine-tunes, where it differs from this value.
        before: the value that runs written before the setting existed did without it (read back so).

    Returns:
        A `dataclasses.field`.
    """
    metadata = {"stored": stored, "resume": resume and stored, "names_run": names_run and stored
                and names_run_unless is MISSING}
    if names_run_unless is not MISSING:
        metadata["names_run_unless"] = names_run_unless
    if before is not MISSING:
        metadata["before"] = before
    return field(default=default, metadata=metadata)


def per_call(default):
    """A field that belongs to one command's call, not to the run: never stored, never compared."""
    return setting(default, stored=False, resume=False, names_run=False)


def check_prevalence(prevalence: float | None, meaning: str = "where the model will be used, e.g. 0.5") -> None:
    """Raises ToolkitError unless `prevalence` is None or in (0, 1); the message says it is the share of
    PNEUMONIA `meaning` (where the command applies it)."""
    if prevalence is not None and not 0.0 < prevalence < 1.0:
        raise ToolkitError(f"--prevalence {prevalence} is outside (0, 1): the share of PNEUMONIA {meaning}")


def check_operating_rule(precision_floor: float, recall_target: float, prevalence: float | None) -> None:
    """The one check of the operating rule's values, for flags, stored settings and `OperatingRule` alike.

    Raises:
        ToolkitError: a floor outside (0, 1), a recall target outside (0, 1], or a prevalence outside (0, 1).
    """
    if not 0.0 < precision_floor < 1.0:
        raise ToolkitError(f"--precision-floor {precision_floor} is outside (0, 1): use e.g. 0.90")
    if not 0.0 < recall_target <= 1.0:
        raise ToolkitError(f"--recall-target {recall_target} is outside (0, 1]: use e.g. 0.98")
    check_prevalence(prevalence)


@dataclass(frozen=True)
class DataSettings:
    """How the data set is read, split and cached.

    Attributes:
        data_dir: the data folder (train/, test/, optionally val/).
        image_size: the square side images are resized to, at least 32.
        val_fraction: the share of train/'s patients held out for validation, in (0, 1).
        seed: the seed of the split (and of the search's sampling and training).
        limit: at most this many images per class in each split (None: all).
        cache_dir: where decoded images and features are cached (default: `default_cache_dir()`).

    Raises:
        ToolkitError: a value out of its range.
    """

    data_dir: Path = setting()
    image_size: int = setting(224)
    val_fraction: float = setting(0.2)
    seed: int = setting(0)
    limit: int | None = setting(None)
    cache_dir: Path = setting(None, resume=False, names_run=False)  # type: ignore[assignment]

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


@dataclass(frozen=True)
class SearchSettings:
    """Everything a search or `train` run is: validated once at construction, then trusted.

    A field's metadata (`setting`, `per_call`) says whether it is stored in the run's settings.json, whether a
    resume must match it and whether it names the run; `RESUME_KEYS` and friends are derived from it.

    Attributes:
        space: the search space's name (`search_spaces.registry.SPACES`).
        data: how the data are read and split.
        results_dir: the folder holding the runs.
        run_name: the run's folder name.
        precision_floor, recall_target, prevalence: the operating rule (`engine.objective.OperatingRule`);
            prevalence None means the validation split's own.
        max_epochs, factor, hyperband_iterations: Hyperband's budget.
        batch_size: trials' batch size.
        weights: the frozen backbone's weights: "imagenet", a local .h5 file, or None (random).
        feature_cache: train heads on cached backbone features (spaces that can).
        finetune_epochs, finetune_layers: the fine-tuning stage after the search (0 epochs: none) and its recipe.
        ensemble: also score the average of the fine-tuned model and its frozen parent.
        mixed_precision, deterministic: Keras' mixed_float16 policy; deterministic ops.
        max_failed_trials: give up after this many failed trials.
        tensorboard: per-trial TensorBoard logs (TensorFlow backend).
        time_budget: seconds after which no new trial or fine-tuning epoch starts (the run resumes later).
        fixed_hyperparameters: `train`'s one point of the space instead of a search.
        overwrite, show_progress: this call's: start the run over; live progress on the terminal.
        synthetic_data: the demo's generated images, labelled as such everywhere.

    Raises:
        ToolkitError: a value out of its range, an unknown space, or a recipe the space does not offer.

    Example:
        ```python
        settings = SearchSettings(space="cnn_depth", data=DataSettings(Path("data/chest_xray")), run_name="quick")
        settings.run.manifest  # results/quick/manifest.json
        ```
    """

    space: str = setting()
    data: DataSettings = setting(stored=False, resume=False, names_run=False)  # stored through its own fields
    results_dir: Path = setting(Path("results"), resume=False, names_run=False)
    run_name: str = setting("", resume=False, names_run=False)
    precision_floor: float = setting(0.90)
    recall_target: float = setting(DEFAULT_RECALL_TARGET, before=1.0)
    prevalence: float | None = setting(None, before=None)
    max_epochs: int = setting(10)
    factor: int = setting(3)
    hyperband_iterations: int = setting(1)
    batch_size: int = setting(32)
    weights: str | None = setting("imagenet")
    feature_cache: bool = setting(True)
    finetune_epochs: int = setting(0, before=0)
    finetune_layers: str = setting(DEFAULT_FINETUNE_RECIPE, names_run_unless="top", before="top")
    ensemble: bool = setting(False, names_run_unless=True, before=True)
    mixed_precision: bool = setting(False, before=False)
    max_failed_trials: int = setting(3, resume=False, names_run=False)
    deterministic: bool = setting(False, before=False)
    tensorboard: bool = setting(False, resume=False, names_run=False)
    time_budget: float | None = setting(None, resume=False, names_run=False)
    fixed_hyperparameters: dict | None = setting(None)
    overwrite: bool = per_call(False)
    show_progress: bool = per_call(True)
    synthetic_data: bool = setting(False, resume=False, names_run=False)

    def __post_init__(self) -> None:
        entry = space_entry(self.space)
        check_run_name(self.run_name)
        check_operating_rule(self.precision_floor, self.recall_target, self.prevalence)
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

    def check_environment(self) -> None:
        """What this machine must offer to run the search (checked when it starts, not when a stored run is
        read back for a report).

        Raises:
            ToolkitError: `--tensorboard` on a backend other than TensorFlow.
        """
        if self.tensorboard and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
            raise ToolkitError("--tensorboard needs the TensorFlow backend: unset KERAS_BACKEND or drop --tensorboard")

    @property
    def run(self) -> RunPaths:
        """The run's folder: `results_dir / run_name`."""
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
        """The inverse of `to_dict`.

        Args:
            stored: a run's settings as `to_dict` wrote them (after `migrate_settings`).
            results_dir: the folder holding the run now.
            data_dir: where the data folder is now, if it moved.

        Raises:
            ToolkitError: a stored value out of its range.
        """
        data = DataSettings(**{name: stored[name] for name in _field_names(DataSettings) if name in stored})
        if data_dir is not None:
            data = replace(data, data_dir=Path(data_dir))
        own = [name for name in _field_names(cls) if name not in ("data", "results_dir")]
        return cls(data=data, results_dir=results_dir, **{name: stored[name] for name in own if name in stored})

    def to_dict(self) -> dict:
        """The stored settings, flat (the data settings' beside the search's), paths as text, and
        `schema_version`: what settings.json holds."""
        values = {name: getattr(self, name) for name in _field_names(type(self))}
        values.update({name: getattr(self.data, name) for name in _field_names(DataSettings)})
        values["schema_version"] = SCHEMA_VERSION
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def _fields_where(wanted: str) -> list:
    """The fields of SearchSettings, then DataSettings, whose metadata holds `wanted` (truthy)."""
    return [item for cls in (SearchSettings, DataSettings) for item in fields(cls) if item.metadata.get(wanted)]


def _field_names(cls) -> list[str]:
    """The stored fields of `cls`."""
    return [item.name for item in fields(cls) if item.metadata.get("stored", True)]


# Derived from the fields' metadata (`setting`): what a resume must match, what names a run, what older runs
# did without.
RESUME_KEYS = tuple(item.name for item in _fields_where("resume"))
DIGEST_KEYS = tuple(item.name for item in _fields_where("names_run"))
DIGEST_KEYS_IF_CHANGED = {item.name: item.metadata["names_run_unless"] for item in _fields_where("stored")
                          if "names_run_unless" in item.metadata}
LEGACY_DEFAULTS = {item.name: item.metadata["before"] for item in _fields_where("stored") if "before" in item.metadata}


def settings_digest(settings: SearchSettings) -> str:
    """Eight hex digits that name a search's settings (`DIGEST_KEYS`, and `DIGEST_KEYS_IF_CHANGED` where they
    differ for a run that fine-tunes): the default run name ends with them, so running the same command again
    finds (and resumes) the same run."""
    wanted = settings.to_dict()
    named = {key: wanted.get(key) for key in DIGEST_KEYS}
    if settings.finetunes:
        named.update({key: wanted[key] for key, before in DIGEST_KEYS_IF_CHANGED.items() if wanted[key] != before})
    text = json.dumps(named, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def migrate_settings(stored: dict) -> dict:
    """A settings.json of any version, as this version writes it.

    Version 1 (no `schema_version`; every run before it was added) lacks the settings added since a run was
    written: they get the values those runs had (`LEGACY_DEFAULTS`).

    Raises:
        ToolkitError: a version newer than this code reads.
    """
    version = stored.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise ToolkitError(f"the run's settings.json is version {version}, newer than this toolkit reads "
                           f"({SCHEMA_VERSION}): upgrade xray-tuner")
    if version == 1:
        stored = {**LEGACY_DEFAULTS, **stored}
    return {**stored, "schema_version": SCHEMA_VERSION}


def stored_settings(run: RunPaths) -> dict:
    """A run's settings.json, migrated to this version (`migrate_settings`), as a dict."""
    return migrate_settings(read_json(run.settings_file))


def settings_from_run(run: RunPaths, data_dir: Path | None = None) -> SearchSettings:
    """The run's SearchSettings (its data folder replaced by `data_dir` when given).

    Raises:
        ToolkitError: the settings cannot be read, lack the space or the data folder, or hold a value out of
            range.
    """
    stored = {**stored_settings(run), "run_name": run.name}  # the folder's name, should it have been renamed
    missing = [name for name in ("space", "data_dir") if name not in stored]
    if missing:
        raise ToolkitError(f"{run.settings_file} has no {' or '.join(missing)}: the run's settings are damaged; start "
                           "the run again (another --run, or --overwrite)")
    return SearchSettings.from_dict(stored, results_dir=run.directory.parent, data_dir=data_dir)
