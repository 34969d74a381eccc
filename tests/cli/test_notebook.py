"""The Colab notebook runs headlessly end to end (install, download and Drive cells switched off)."""

from __future__ import annotations

import json

import pytest
from helpers import REPO_ROOT

from tuner.demo import make_synthetic_dataset

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = REPO_ROOT / "notebooks" / "colab.ipynb"


def test_notebook_is_committed_with_outputs_cleared():
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_notebook_runs_search_report_and_test(tmp_path, monkeypatch):
    data = make_synthetic_dataset(tmp_path / "chest_xray", patients_per_class={"train": 16, "test": 5})
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    # As papermill does: a cell after the parameters that overrides them (no network, no Drive).
    overrides = {"SPACE": "cnn_depth", "MAX_EPOCHS": 3, "PRECISION_FLOOR": 0.5, "RUN_NAME": "nb",
                 "RESULTS_DIR": str(tmp_path / "results"), "DATA_DIR": str(data), "INSTALL": False,
                 "USE_DRIVE": False, "DOWNLOAD": False, "EXTRA_FLAGS": ["--image-size", "32", "--cache-dir",
                                                                        str(tmp_path / "cache")]}
    source = "\n".join(f"{name} = {value!r}" for name, value in overrides.items())
    notebook.cells.insert(parameters + 1, nbformat.v4.new_code_cell(source))
    # The kernel must import `tuner` from this checkout and run the same Python as the tests.
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[1]))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parents[1])}})
    client.execute()
    outputs = "\n".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "Trials ranked by validation recall" in outputs
    assert "Test metrics with 95 % bootstrap intervals" in outputs
    assert (tmp_path / "results" / "nb" / "test" / "metrics.json").is_file()
    assert "test looks so far: 1" in outputs  # the typed result, read back in the notebook
