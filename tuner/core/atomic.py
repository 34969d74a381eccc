"""Atomic file writes: a kill at any moment leaves the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# mkstemp makes 0600 files; results are ordinary files (0644 under the usual umask).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffixes, e.g. `.weights.h5`, for writers that
    check them); on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffixes}", dir=path.parent)
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def remove_leftovers(directory: Path) -> list[Path]:
    """Delete the temporary files that writes cut short by a kill left in `directory` (recursively).
    Call it only while no writer is at work there (a search does it under its run lock)."""
    leftovers = [path for path in Path(directory).rglob(".*.tmp*") if path.is_file()]
    for path in leftovers:
        path.unlink()
    return leftovers


def write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, synced to disk before the rename."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically; NumPy scalars and paths are converted.

    Raises:
        TypeError: a value JSON cannot hold.
    """
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: Path) -> Any:
    """The JSON value stored in `path` (UTF-8)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _json_default(value: Any) -> Any:
    # NumPy scalars and paths turn up in metrics and settings.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
