"""Settings as frozen dataclasses, validated once at the edge; past it, code trusts them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tuner.core.errors import UsageError

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
        raise UsageError(f"data folder {candidate} ({source}) not found: {GET_DATA_HINT}")
    return candidate.resolve()


def default_cache_dir() -> Path:
    """Decoded images and backbone features: $XRAY_TUNER_CACHE, else ~/.cache/xray-tuner."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "xray-tuner"


# What runs written before a setting existed did without it: their settings are read back (and resumed) so.
LEGACY_DEFAULTS = {"recall_target": 1.0, "prevalence": None, "finetune_epochs": 0, "mixed_precision": False,
                   "deterministic": False}


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
            raise UsageError(f"--image-size {self.image_size} is too small: use 32 or more (default 224)")
        if not 0.0 < self.val_fraction < 1.0:
            raise UsageError(f"--val-fraction {self.val_fraction} is outside (0, 1): use e.g. 0.2")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"--limit {self.limit} must be at least 1 image per class")
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir())
