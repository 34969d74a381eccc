"""`report --html`: one self-contained HTML file of a run, to share with people who will not open a terminal.

Everything is inside the file — styles, the plots and Grad-CAM pictures as data URIs, a few lines of script
that sort the trials table by a clicked column — so it opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from tuner.core.atomic import read_json, write_text
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings, settings_from_run
from tuner.engine.records import best_trial, members_text, read_trials_table
from tuner.evaluation.result import HoldoutResult
from tuner.reporting.plots import plot_search, plot_site_study, plot_test
from tuner.reporting.tables import JSON_FIELDS, inputs_place, operating_points, report_records, rule_text

# The export's columns (tables.JSON_FIELDS), the hyperparameters each in a column of its own, the reason of a
# failure in the report's text.
TRIAL_COLUMNS = tuple(field for field in JSON_FIELDS if field not in ("hyperparameters", "message"))
TEXT_COLUMNS = ("trial_id", "stage", "status", "parent_trial", "members", "worker")

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th:hover { background: #e6e6e6; }
tr.failed td { color: #b00; } tr.chosen td { background: #eef6ff; font-weight: 600; }
.warning { background: #fff4d6; border: 1px solid #e8c66a; padding: .5em 1em; }
figure { display: inline-block; margin: .5em; vertical-align: top; } figure img { max-width: 560px; }
figcaption { font-size: 12px; color: #555; } div.wide { overflow-x: auto; }
"""

# Click a header: sort by that column (numbers as numbers); click again: the other way.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var ascending = header.dataset.order !== "ascending";
      table.querySelectorAll("th").forEach(function (other) { delete other.dataset.order; });
      header.dataset.order = ascending ? "ascending" : "descending";
      function key(row) {
        var text = row.cells[column].textContent.trim(), number = parseFloat(text);
        return isNaN(number) || !/^[-+.0-9eE]+$/.test(text) ? text : number;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def write_html_report(run: RunPaths, path: Path) -> Path:
    """Draw the run's plots (again) and write its report to `path`, atomically."""
    tested = (run.test_dir / "metrics.json").is_file()
    plots = plot_search(run) + (plot_test(run) if tested else []) + plot_site_study(run)
    write_text(path, render(run, plots))
    return path


def render(run: RunPaths, plots: list[Path]) -> str:
    """The run's report as one HTML page, `plots` embedded as data URIs."""
    settings = settings_from_run(run)
    manifest = read_json(run.manifest) if run.manifest.is_file() else {}
    test = HoldoutResult.read(run.test_dir / "metrics.json")
    looks_path = run.test_dir / "evaluations.json"
    looks = len(read_json(looks_path)) if looks_path.is_file() else 0
    parts = [f"<h1>Run {_text(run.name)}</h1>",
             f"<p>space <b>{_text(settings.space)}</b> · {_text(rule_text(settings))} · "
             f"{settings.data.image_size} px · seed {settings.data.seed}</p>"]
    if manifest.get("synthetic_data"):
        parts.append('<p class="warning">SYNTHETIC DATA: generated shapes, not X-rays.</p>')
    parts += _trials_section(run, settings), _points_section(run), _test_section(test, looks), _plots_section(plots)
    parts.append(_gallery_section(test, run.test_dir))
    parts.append(_manifest_section(manifest))
    body = "\n".join(part for part in parts if part)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>xray-tuner · {_text(run.name)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
            f"<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n")


def _trials_section(run: RunPaths, settings: SearchSettings) -> str:
    rows = report_records(run, None)
    best = best_trial(read_trials_table(run), settings.recall_target)
    chosen = best if best is not None and best.reachable else None  # what `test` would evaluate
    names = sorted({name for row in rows for name in row["hyperparameters"]})
    header = "".join(f'<th class="text">{_text(c)}</th>' if c in TEXT_COLUMNS else
                     f"<th>{_text(c)}</th>" for c in TRIAL_COLUMNS)
    header += "".join(f'<th class="text">{_text(name)}</th>' for name in names)
    lines = []
    for row in rows:
        style = "failed" if row["status"] != "completed" else ("chosen" if chosen and
                                                              row["trial_id"] == chosen.trial_id else "")
        cells = "".join(_cell(members_text(row.get(column)) if column == "members" else row.get(column),
                              column in TEXT_COLUMNS) for column in TRIAL_COLUMNS)
        cells += "".join(_cell(row["hyperparameters"].get(name), True) for name in names)
        lines.append(f'<tr class="{style}">{cells}</tr>')
    what = (f"The chosen model is trial <b>{_text(chosen.trial_id)}</b> (highlighted)." if chosen
            else "No trial reached the precision floor yet.")
    return (f"<h2>Trials ({len(rows)})</h2><p>Ranked by validation recall (up to the target) at the precision floor, "
            f"then specificity. {what} Click a column to sort.</p>"
            f'<div class="wide"><table class="sortable" id="trials"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(lines)}</tbody></table></div>")


def _points_section(run: RunPaths) -> str:
    rows = operating_points(run)
    if not rows:
        return ""
    columns = ("name", "trial_id", "method", "calibrated_on", "n_images", "prevalence", "threshold", "recall",
               "specificity", "precision")
    text_columns = {"name", "trial_id", "method", "calibrated_on"}
    header = "".join(f'<th class="text">{_text(c)}</th>' if c in text_columns else f"<th>{_text(c)}</th>"
                     for c in columns)
    lines = ["<tr>" + "".join(_cell(row[c], c in text_columns) for c in columns) + "</tr>" for row in rows]
    notes = "".join(f"<li>site {_text(row['name'])}: {_text(row['note'])}</li>" for row in rows
                    if row["name"] != "validation" and row.get("note"))
    return ("<h2>Operating points</h2><p><code>test</code> and <code>predict</code> use validation's unless "
            "<code>--site NAME</code>; a site's is calibrated on its own images (<code>calibrate</code>).</p>"
            f'<table id="points"><thead><tr>{header}</tr></thead><tbody>{"".join(lines)}</tbody></table>'
            + (f"<ul>{notes}</ul>" if notes else ""))


def _test_section(test: HoldoutResult | None, looks: int) -> str:
    if test is None:
        return "<h2>Test set</h2><p>Not evaluated yet (<code>test</code> evaluates the chosen model once).</p>"
    rows = []
    for name, interval in test.metrics.items():
        baseline, reference = test.always_pneumonia_baseline.get(name), test.reference.get(name)
        rows.append(f'<tr><td class="text">{_text(name)}</td><td>{interval.value:.3f}</td>'
                    f"<td>{interval.low:.3f} – {interval.high:.3f}</td><td>{_number(baseline)}</td>"
                    f"<td>{_number(reference, 2)}</td></tr>")
    cm = test.confusion_matrix
    return (f"<h2>Test set</h2><p>Trial {_text(test.trial_id)} at threshold {test.threshold:.3g}, chosen on "
            f"validation; {test.n_images} images of {test.n_patients} patients (prevalence "
            f"{test.prevalence:.3f}). <b>The test set has been evaluated {looks} time(s) for this run</b>: every "
            "further look makes these figures less honest.</p>"
            '<table id="test"><thead><tr><th class="text">metric</th><th>value</th><th>95 % CI (patients '
            "resampled)</th><th>always PNEUMONIA</th><th>reference</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<p>Confusion matrix (rows true, columns predicted): NORMAL [{cm['tn']} {cm['fp']}] · "
            f"PNEUMONIA [{cm['fn']} {cm['tp']}]</p>")


def _plots_section(plots: list[Path]) -> str:
    figures = "".join(_figure(path, path.stem.replace("_", " ")) for path in plots if path.is_file())
    return f"<h2>Plots</h2>{figures}" if figures else ""


def _gallery_section(test: HoldoutResult | None, test_dir: Path) -> str:
    gallery = test.error_gallery if test else []
    figures = "".join(_figure(test_dir / item["picture"], f"{item['kind']}: {item['file']} "
                                                     f"(P(PNEUMONIA) {item['probability']:.3f})")
                      for item in gallery if (test_dir / item["picture"]).is_file())
    if not figures:
        return ""
    return ("<h2>The model's most confident errors on the test set</h2><p>Grad-CAM: where the model found "
            f"evidence of pneumonia.</p>{figures}")


def _manifest_section(manifest: dict) -> str:
    if not manifest:
        return ""
    versions = ", ".join(f"{name} {version}" for name, version in manifest.get("versions", {}).items() if version)
    rows = [("command", manifest.get("command")), ("started", manifest.get("started")),
            ("finished", manifest.get("finished") or "not yet"), ("backend", manifest.get("backend")),
            ("device", manifest.get("device")), ("versions", versions), ("git commit", manifest.get("git_commit")),
            ("weights SHA-256", manifest.get("weights_sha256"))]
    if inputs_place(manifest):  # older runs did not record it
        rows.insert(5, ("inputs", inputs_place(manifest)))
    cells = "".join(f'<tr><th class="text">{_text(key)}</th><td class="text">{_text(value)}</td></tr>'
                    for key, value in rows)
    return f'<h2>Manifest</h2><table id="manifest">{cells}</table>'


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_text(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_text(caption)}</figcaption></figure>")


def _cell(value, text: bool) -> str:
    shown = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
    return f'<td class="text">{_text(shown)}</td>' if text else f"<td>{_text(shown)}</td>"


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _text(value) -> str:
    return html.escape("" if value is None else str(value))
