"""`--help`, `spaces`, `report` and every refused flag never import Keras: they answer at once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # every test starts a Python process

# Runs the command line in-process and prints whether Keras (or TensorFlow) got imported.
PROBE = """
import sys
sys.argv = ["cli.py", *sys.argv[1:]]
import cli
try:
    code = cli.main()
except SystemExit as done:  # --help
    code = done.code or 0
print("KERAS" if {"keras", "tensorflow"} & set(sys.modules) else "NO-KERAS", code, file=sys.stderr)
"""


def _imports_keras(*argv: str) -> tuple[bool, int]:
    completed = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=120)
    verdict, code = completed.stderr.strip().splitlines()[-1].split()
    return verdict == "KERAS", int(code)


@pytest.fixture
def run_folder(tmp_path):
    run = tmp_path / "results" / "a-run"
    run.mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps({"space": "cnn_depth", "precision_floor": 0.9, "image_size": 32,
                                                   "seed": 0, "data_dir": str(tmp_path)}))
    (run / "trials.json").write_text(json.dumps([{
        "trial_id": "0000", "rank": 1, "status": "completed", "stage": "search", "score": 1.98, "recall": 0.98,
        "precision": 0.95, "specificity": 0.9, "prevalence": 0.7, "threshold": 0.5, "reachable": True,
        "roc_auc": 0.99, "pr_auc": 0.99, "accuracy": 0.95, "epochs": 2, "initial_epoch": 0, "best_epoch": 2,
        "seconds": 3.0, "hyperparameters": {"blocks": 2}}]))
    return tmp_path / "results"


@pytest.mark.parametrize("argv", [("--help",), ("spaces",), ("search", "--help")], ids=" ".join)
def test_help_and_spaces_import_no_keras(argv):
    assert _imports_keras(*argv) == (False, 0)


def test_report_imports_no_keras(run_folder):
    assert _imports_keras("report", "--results-dir", str(run_folder)) == (False, 0)
    assert _imports_keras("report", "--results-dir", str(run_folder), "--format", "csv") == (False, 0)


@pytest.mark.parametrize("flags", [("--precision-floor", "2"), ("--space", "resnet"), ("--max-epochs", "0"),
                                   ("--weights", "/no/such/file.h5"), ("--finetune-layers", "most")], ids=" ".join)
def test_a_refused_search_flag_imports_no_keras(shared_dir, flags):
    argv = ["search", "--space", "mobilenet_head", "--data", str(shared_dir / "data" / "chest_xray"), *flags]
    assert _imports_keras(*argv) == (False, 2)
