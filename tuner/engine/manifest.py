"""What produced a run: the command, versions, backend and device, the data and weights, the times.

`write_manifest` starts a run's manifest.json (or marks a resume), `note_in_manifest` adds what is known
later, and `mark_finished` closes it; `report` shows it and `test` checks the data fingerprint against it.
"""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from tuner.core.atomic import read_json, write_json
from tuner.engine.backends import device_name


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_manifest(path: Path, command_line: str, settings: dict, data_fingerprint: dict,
                   weights_sha256: str | None, synthetic_data: bool = False) -> None:
    """Start a run's manifest, or mark a resumed one.

    A resumed run keeps its first start time and `synthetic_data`, gains this resume's time in
    `resumed`, and is unfinished again until `mark_finished`.

    Args:
        path: the run's manifest.json (`RunPaths.manifest`).
        command_line: the command as typed.
        settings: the search's settings (`SearchSettings.to_dict()`).
        data_fingerprint: `dataset.data_fingerprint` of the data searched on; `test` refuses other data.
        weights_sha256: the hash of the backbone's weights file, or None (no file).
        synthetic_data: the data is the demo's generated set.
    """
    import keras

    from tuner import __version__
    from tuner.core.allocator import allocator_in_use

    previous = read_json(path) if path.is_file() else {}
    backend = keras.backend.backend()
    write_json(path, {
        "command": command_line,
        "settings": settings,
        "versions": {"python": platform.python_version(), "keras": _version("keras"),
                     backend: _version({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend])
                     or _version("tensorflow-cpu"),
                     "keras_tuner": _version("keras-tuner"), "numpy": _version("numpy"), "xray_tuner": __version__},
        "backend": backend,
        "device": device_name(),
        "memory_allocator": allocator_in_use(),
        "data_fingerprint": data_fingerprint,
        "weights_sha256": weights_sha256,
        "synthetic_data": synthetic_data or previous.get("synthetic_data", False),
        "git_commit": _git_commit(),
        "started": previous.get("started", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "resumed": previous.get("resumed", []) + ([time.strftime("%Y-%m-%dT%H:%M:%S%z")] if previous else []),
        "finished": None,
    })


def note_in_manifest(path: Path, **fields) -> None:
    """Add what is known only once the search has started (for example `inputs_on_device`).

    Args:
        path: the run's manifest.json, which must exist.
        **fields: the keys to add or replace.
    """
    write_json(path, {**read_json(path), **fields})


def mark_finished(path: Path) -> None:
    """Record when the run finished (`finished`); a resume clears it again."""
    note_in_manifest(path, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
