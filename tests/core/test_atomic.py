"""core/atomic.py: a write replaces a file whole, or (failed, killed) leaves the old one."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tuner.core.atomic import atomic_path, read_json, remove_leftovers, write_json, write_text

REPO_ROOT = Path(__file__).resolve().parents[2]


def temporaries(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if ".tmp" in path.name]


def test_write_text_replaces_the_file_whole(tmp_path):
    path = tmp_path / "table.csv"
    write_text(path, "a long first version\n" * 100)
    write_text(path, "short\n")
    assert path.read_text() == "short\n"  # nothing of the longer old file is left at the end
    assert temporaries(tmp_path) == []


def test_write_json_round_trips_numpy_scalars_and_paths(tmp_path):
    path = tmp_path / "sub" / "dir" / "metrics.json"  # folders are made
    write_json(path, {"score": np.float32(0.5), "count": np.int64(3), "flag": np.bool_(True),
                      "file": Path("/x/y.h5"), "items": [1, "two"]})
    assert read_json(path) == {"score": 0.5, "count": 3, "flag": True, "file": "/x/y.h5", "items": [1, "two"]}
    assert path.read_text().endswith("}\n")
    write_json(path, [1])
    assert read_json(path) == [1]


def test_written_files_get_ordinary_permissions(tmp_path):
    # mkstemp makes 0600 files; a result file should be readable as any other (0644 under umask 022).
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "settings.json"
    write_json(path, {})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_failure_while_writing_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "trials.json"
    write_json(path, {"version": "old"})
    with pytest.raises(TypeError, match="not JSON serialisable"):
        write_json(path, {"version": "new", "bad": object()})
    assert read_json(path) == {"version": "old"}

    with pytest.raises(RuntimeError, match="cut short"):
        with atomic_path(path) as temporary:
            temporary.write_text('{"version": "ha')
            raise RuntimeError("cut short")
    assert read_json(path) == {"version": "old"}
    assert temporaries(tmp_path) == []


def test_atomic_path_writes_beside_the_target_with_its_suffixes(tmp_path):
    path = tmp_path / "trial_0001" / "checkpoint.weights.h5"
    with atomic_path(path) as temporary:
        # Same folder (one rename, no copy across file systems); Keras checks the `.weights.h5` suffix.
        assert temporary.parent == path.parent and temporary.name.endswith(".weights.h5")
        assert temporary.name.startswith(".checkpoint.weights.h5.") and ".tmp" in temporary.name
        assert not path.exists()  # nothing at the target until the block succeeds
        temporary.write_bytes(b"weights")
    assert path.read_bytes() == b"weights"
    assert not temporary.exists()


def test_remove_leftovers_deletes_only_the_temporaries(tmp_path):
    keep = [tmp_path / "trials.json", tmp_path / ".search.lock", tmp_path / "trials" / "0000.json",
            tmp_path / "notes.tmp"]
    leftovers = [tmp_path / ".trials.json.k3j2_x.tmp.json",
                 tmp_path / "keras_tuner" / "trial_0000" / ".checkpoint.weights.h5.abc.tmp.weights.h5"]
    for path in keep + leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert sorted(remove_leftovers(tmp_path)) == sorted(leftovers)
    assert all(path.exists() for path in keep) and not any(path.exists() for path in leftovers)
    assert remove_leftovers(tmp_path) == []


# A child that rewrites one large JSON file (two versions, in turn) as fast as it can until killed.
REWRITE_FOREVER = """
import json, sys
from pathlib import Path
from tuner.core.atomic import write_text
path = Path(sys.argv[1])
texts = [json.dumps({"version": version, "payload": version * 3_000_000}) for version in ("a", "b")]
print("ready", flush=True)
count = 0
while True:
    write_text(path, texts[count % 2])
    count += 1
    if count == 1:
        print("written", flush=True)
"""


@pytest.mark.parametrize("wait_for", ["ready", "written"])
@pytest.mark.slow
def test_a_kill_in_the_middle_of_writing_leaves_the_old_file_or_the_new_one(tmp_path, wait_for):
    path = tmp_path / "oracle.json"
    seen = set()
    for delay in (0.0, 0.003, 0.01, 0.03, 0.07):
        path.write_text(json.dumps({"version": "old", "payload": "old"}))
        child = subprocess.Popen([sys.executable, "-c", REWRITE_FOREVER, str(path)], cwd=REPO_ROOT,
                                 stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline().strip()
            while line != wait_for:
                assert line, "the writer ended early"
                line = child.stdout.readline().strip()
            time.sleep(delay)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        stored = json.loads(path.read_text())  # whole: it parses ...
        assert stored["payload"] == {"old": "old", "a": "a" * 3_000_000, "b": "b" * 3_000_000}[stored["version"]]
        seen.add(stored["version"])
        remove_leftovers(tmp_path)  # ... and what the kill cut short is cleared away
        assert sorted(p.name for p in tmp_path.iterdir()) == ["oracle.json"]
    if wait_for == "written":  # the first write had finished before every kill: the file was being written over
        assert "old" not in seen
