"""What `report` exports hold (csv, markdown, json, the HTML page, the operating points), read back from a
run folder written by hand: the columns, the rows in rank order, the chosen trial, and the recorded values."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from helpers import write_run

import cli
from tuner.core.runs import RunPaths
from tuner.reporting.html import render
from tuner.reporting.tables import format_operating_points, format_report

# The export's columns, in order (the json export has them all; csv and markdown put each hyperparameter in
# an `hp:<name>` column of its own instead of `hyperparameters`).
COLUMNS = ["rank", "trial_id", "status", "stage", "score", "recall", "specificity", "precision", "prevalence",
           "threshold", "reachable", "roc_auc", "pr_auc", "accuracy", "val_loss", "epochs", "best_epoch", "seconds",
           "bracket", "round", "parent_trial", "members", "cached_features", "worker", "hyperparameters", "message"]
FLAT_COLUMNS = [c for c in COLUMNS if c != "hyperparameters"] + ["hp:blocks", "hp:learning_rate"]
# The HTML table: the same, but the failure message, and the hyperparameters under their own names.
PAGE_COLUMNS = [c for c in COLUMNS if c not in ("hyperparameters", "message")] + ["blocks", "learning_rate"]


def completed(trial_id, rank, **values) -> dict:
    return {"trial_id": trial_id, "rank": rank, "status": "completed", "stage": "search", "score": 1.96,
            "recall": 0.96, "specificity": 0.81, "precision": 0.92, "prevalence": 0.74, "threshold": 0.4215,
            "reachable": True, "roc_auc": 0.973, "pr_auc": 0.988, "accuracy": 0.91, "val_loss": 0.25, "epochs": 4,
            "initial_epoch": 0, "best_epoch": 3, "seconds": 31.5, "bracket": 1, "round": 0, "worker": "tuner0",
            "hyperparameters": {"blocks": 4, "learning_rate": 0.001}, **values}


BEST = completed("0003", 1)
SECOND = completed("0001", 2, score=1.875, recall=0.875, specificity=0.93, threshold=0.3125, roc_auc=0.95,
                   best_epoch=2, seconds=12.25, hyperparameters={"blocks": 2, "learning_rate": 0.0001})
FAILED = {"trial_id": "0002", "rank": None, "status": "failed", "stage": "search", "epochs": 1, "initial_epoch": 0,
          "seconds": 2.0, "worker": "tuner0", "hyperparameters": {"blocks": 6, "learning_rate": 0.001},
          "message": "ResourceExhaustedError: OOM | in conv2d_3"}
TRIALS = [BEST, SECOND, FAILED]


@pytest.fixture
def run(tmp_path) -> RunPaths:
    return RunPaths(write_run(tmp_path / "results", "r", TRIALS))


def _number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


# --- csv, json, markdown ----------------------------------------------------------------------------------------


def test_the_json_export_is_every_trial_in_rank_order_with_its_recorded_values(run):
    rows = json.loads(format_report(run, "json", None))
    assert [row["trial_id"] for row in rows] == ["0003", "0001", "0002"]
    assert all(list(row) == COLUMNS for row in rows)
    for row, stored in zip(rows, TRIALS):
        for column in COLUMNS:
            assert row[column] == stored.get(column, False if column == "cached_features" else None), column
    assert json.loads(format_report(run, "json", 2)) == rows[:2]  # --top 2


def test_the_csv_export_has_a_column_per_field_and_hyperparameter_and_the_recorded_values(run):
    rows = list(csv.DictReader(io.StringIO(format_report(run, "csv", None))))
    assert list(rows[0]) == FLAT_COLUMNS
    assert [row["trial_id"] for row in rows] == ["0003", "0001", "0002"]
    for row, stored in zip(rows[:2], TRIALS[:2]):
        for column in ("rank", "score", "recall", "specificity", "precision", "threshold", "roc_auc", "best_epoch",
                       "seconds"):
            assert _number(row[column]) == stored[column], column
        assert row["reachable"] == "True" and row["status"] == "completed" and row["message"] == ""
        assert _number(row["hp:blocks"]) == stored["hyperparameters"]["blocks"]
        assert _number(row["hp:learning_rate"]) == stored["hyperparameters"]["learning_rate"]
    failed = rows[2]
    assert failed["status"] == "failed" and failed["message"] == FAILED["message"]
    assert all(failed[column] == "" for column in ("rank", "score", "recall", "threshold", "reachable"))
    assert _number(failed["hp:blocks"]) == 6
    assert [row["trial_id"] for row in csv.DictReader(io.StringIO(format_report(run, "csv", 1)))] == ["0003"]


def _markdown_cells(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |"), line
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line[2:-2])]


def test_the_markdown_export_is_a_pipe_table_of_the_same_rows(run):
    lines = format_report(run, "markdown", None).splitlines()
    header, rule, *rows = lines
    assert _markdown_cells(header) == FLAT_COLUMNS
    assert rule == "|" + "---|" * len(FLAT_COLUMNS)
    assert len(rows) == 3
    cells = [dict(zip(FLAT_COLUMNS, _markdown_cells(row), strict=True)) for row in rows]
    assert [row["trial_id"] for row in cells] == ["0003", "0001", "0002"]
    assert [row["rank"] for row in cells] == ["1", "2", ""]
    assert cells[0]["recall"] == "0.96" and cells[0]["threshold"] == "0.4215" and cells[0]["hp:blocks"] == "4"
    assert cells[1]["recall"] == "0.875" and cells[1]["threshold"] == "0.3125" and cells[1]["seconds"] == "12.25"
    assert cells[2]["recall"] == "" and cells[2]["status"] == "failed"
    assert cells[2]["message"] == "ResourceExhaustedError: OOM \\| in conv2d_3"  # its pipe escaped, not a column


# --- the HTML page ------------------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Each table of the page by id: its header cells, and its body rows as (class, cells)."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: dict[str, list[str]] = {}
        self.rows: dict[str, list[tuple[str, list[str]]]] = {}
        self._table = self._cell = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.headers[self._table], self.rows[self._table] = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table and not self._in_head:
            self.rows[self._table].append((attrs.get("class") or "", []))
        elif tag in ("th", "td") and self._table:
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell)
            if self._in_head:
                self.headers[self._table].append(text)
            else:
                self.rows[self._table][-1][1].append(text)
            self._cell = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._table = None


def _page(run: RunPaths) -> tuple[str, _Tables]:
    text = render(run, [])
    tables = _Tables()
    tables.feed(text)
    return text, tables


def test_the_page_lists_the_trials_highlights_the_chosen_one_and_shows_its_operating_point(run):
    text, tables = _page(run)
    assert tables.headers["trials"] == PAGE_COLUMNS
    rows = [(style, dict(zip(PAGE_COLUMNS, cells, strict=True))) for style, cells in tables.rows["trials"]]
    assert [(style, cells["trial_id"]) for style, cells in rows] == [("chosen", "0003"), ("", "0001"),
                                                                      ("failed", "0002")]
    best, second, failed = (cells for _, cells in rows)
    assert (best["rank"], best["recall"], best["threshold"], best["blocks"]) == ("1", "0.96", "0.4215", "4")
    assert (second["recall"], second["specificity"], second["learning_rate"]) == ("0.875", "0.93", "0.0001")
    assert (failed["rank"], failed["recall"], failed["status"], failed["blocks"]) == ("", "", "failed", "6")
    assert "The chosen model is trial <b>0003</b> (highlighted)." in text
    assert "Trials (3)" in text and "precision floor 0.90" in text and "recall target 0.98" in text
    [(_, point)] = tables.rows["points"]
    assert dict(zip(tables.headers["points"], point))["trial_id"] == "0003"
    assert [point[i] for i in (0, 6, 7, 8, 9)] == ["validation", "0.4215", "0.96", "0.81", "0.92"]
    assert "Not evaluated yet" in text and "manifest" not in tables.headers  # no test run, no manifest


def test_the_page_names_no_chosen_model_when_no_trial_reaches_the_floor(tmp_path):
    unreachable = [completed("0003", 1, reachable=False, precision=0.8), completed("0001", 2, reachable=False)]
    text, tables = _page(RunPaths(write_run(tmp_path, "low", unreachable)))
    assert [style for style, _ in tables.rows["trials"]] == ["", ""]
    assert "No trial reached the precision floor yet." in text and "The chosen model" not in text


def test_the_page_escapes_what_it_shows_and_holds_the_manifest_and_the_synthetic_warning(tmp_path):
    odd = completed("0003", 1, worker="host<1>", hyperparameters={"blocks": 4, "learning_rate": "<script>"})
    manifest = {"backend": "jax", "device": "NVIDIA H100", "synthetic_data": True,
                "command": "search --space cnn_depth", "started": "2026-01-01T00:00:00",
                "versions": {"keras": "3.8.0", "tensorflow": None}}
    text, tables = _page(RunPaths(write_run(tmp_path, "odd", [odd], manifest=manifest)))
    assert text.count("<script>") == 1 and "&lt;script&gt;" in text and "host&lt;1&gt;" in text  # the sort script
    _, cells = tables.rows["trials"][0]
    row = dict(zip(PAGE_COLUMNS, cells, strict=True))
    assert (row["worker"], row["learning_rate"]) == ("host<1>", "<script>")  # shown as typed once unescaped
    assert "SYNTHETIC DATA" in text
    shown = {cells[0]: cells[1] for _, cells in tables.rows["manifest"]}
    assert shown["backend"] == "jax" and shown["device"] == "NVIDIA H100" and shown["finished"] == "not yet"
    assert shown["versions"] == "keras 3.8.0" and shown["command"] == "search --space cnn_depth"


def test_report_html_writes_the_page_where_asked(run, tmp_path, capsys):
    results = str(run.directory.parent)
    assert cli.main(["report", "--html", "--results-dir", results]) == 0
    assert capsys.readouterr().err == f"wrote {run.directory / 'report.html'}\n"
    page = (run.directory / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page == render(run, [])  # no trial records: no plots
    assert cli.main(["report", "--html", "--output", str(tmp_path / "page.html"), "--results-dir", results]) == 0
    assert (tmp_path / "page.html").read_text() == page


# --- operating points -----------------------------------------------------------------------------------------


SITE = {"name": "clinic", "trial_id": "0003", "method": "labelled", "conservative": True, "folder": "/data/clinic",
        "n_images": 120, "prevalence": 0.35, "threshold": 0.61, "note": "few PNEUMONIA images",
        "estimates": {"recall": {"value": 0.9, "low": 0.8, "high": 0.95},
                      "specificity": {"value": 0.85, "low": 0.75, "high": 0.92}, "precision": {"value": 0.76}}}


def test_the_operating_points_export_is_validations_then_each_sites(run):
    run.sites.mkdir()
    run.site("clinic").write_text(json.dumps(SITE))
    validation, site = json.loads(format_operating_points(run, "json"))
    assert validation == {"name": "validation", "trial_id": "0003", "method": "validation (search)",
                          "calibrated_on": "the validation split", "n_images": None, "prevalence": 0.74,
                          "threshold": 0.4215, "recall": 0.96, "recall_low": None, "recall_high": None,
                          "specificity": 0.81, "specificity_low": None, "specificity_high": None, "precision": 0.92,
                          "note": "the default of test and predict"}
    assert site == {**dict.fromkeys(validation), "name": "clinic", "trial_id": "0003",
                    "method": "labelled, conservative", "calibrated_on": "/data/clinic", "n_images": 120,
                    "prevalence": 0.35, "threshold": 0.61, "recall": 0.9, "recall_low": 0.8, "recall_high": 0.95,
                    "specificity": 0.85, "specificity_low": 0.75, "specificity_high": 0.92, "precision": 0.76,
                    "note": "few PNEUMONIA images"}
    rows = list(csv.DictReader(io.StringIO(format_operating_points(run, "csv"))))
    assert [row["name"] for row in rows] == ["validation", "clinic"]
    assert [float(row["threshold"]) for row in rows] == [0.4215, 0.61]
    markdown = format_operating_points(run, "markdown").splitlines()
    assert len(markdown) == 4 and _markdown_cells(markdown[3])[:3] == ["clinic", "0003", "labelled, conservative"]
