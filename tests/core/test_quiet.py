"""Native libraries' lines (TensorFlow's C++ logging) stay off the command line's stderr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO_ROOT


@pytest.mark.slow
def test_native_library_lines_stay_off_stderr(tmp_path):
    """A refusal after TensorFlow has loaded is still one line, without TF_CPP_MIN_LOG_LEVEL."""
    (tmp_path / "NOT_HDF5.h5").write_text("not hdf5")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    completed = subprocess.run([sys.executable, "cli.py", "search", "--space", "mobilenet_head", "--weights",
                                str(tmp_path / "NOT_HDF5.h5")], cwd=REPO_ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [f"error: weights file {tmp_path / 'NOT_HDF5.h5'} is not an HDF5 file "
                                             "(expected Keras .h5 weights)"]


def test_speed_notes_are_dropped_and_real_errors_kept():
    from tuner.core.quiet import NATIVE_LOG_LINE

    note = (b"E0000 00:00:1795756971.651020   24467 util.cc:131] oneDNN supports DT_HALF only on platforms with "
            b"AVX-512. Falling back to the default Eigen-based implementation if present.")
    error = b"E0000 00:00:1795756971.651020   24467 bfc_allocator.cc:501] Allocator ran out of memory"
    assert NATIVE_LOG_LINE.match(note)
    assert not NATIVE_LOG_LINE.match(error)
