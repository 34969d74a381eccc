"""Rich tables and exports of the data, spaces, trials and test runs. Imports no Keras: `report` is instant.

`print_*` write to a rich Console; `format_report` and `format_operating_points` give csv, json or
markdown text.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict

import pandas as pd
from rich.console import Console
from rich.table import Table

from tuner.core.atomic import read_json
from tuner.core.live import format_metric
from tuner.core.runs import RunPaths
from tuner.core.settings import SearchSettings, settings_from_run, stored_settings
from tuner.data.dataset import SIDES
from tuner.data.layout import CLASS_NAMES
from tuner.engine.records import TrialRecord, best_trial, members_text, read_trials_table
from tuner.evaluation.result import HoldoutResult

METRIC_FORMATS = {"score": "{:.4f}", "recall": "{:.3f}", "precision": "{:.3f}", "specificity": "{:.3f}",
                  "threshold": "{:.3g}", "roc_auc": "{:.3f}", "pr_auc": "{:.3f}"}
WIDE_TABLE_COLUMNS = 120
JSON_FIELDS = ("rank", "trial_id", "status", "stage", "score", "recall", "specificity", "precision", "prevalence",
               "threshold", "reachable", "roc_auc",
               "pr_auc", "accuracy", "val_loss", "epochs", "best_epoch", "seconds", "bracket", "round",
               "parent_trial", "members", "cached_features", "worker", "hyperparameters", "message")


def print_spaces(console: Console) -> None:
    """`spaces`: one table per search space, its hyperparameters with type, range, default and condition."""
    from search_spaces.display import describe_spaces

    for space in describe_spaces():
        table = Table(title=f"{space['name']} — {space['description']}", title_justify="left")
        for column in ("hyperparameter", "type", "range", "default", "condition"):
            table.add_column(column)
        for hp in space["hyperparameters"]:
            table.add_row(hp["name"], hp["type"], hp["range"], str(hp["default"]), hp["condition"] or "always")
        console.print(table)


def inputs_place(manifest: dict) -> str | None:
    """Where the trials read their inputs from, or None for runs from before the manifest said."""
    if "inputs_on_device" not in manifest:
        return None
    return "on the device" if manifest["inputs_on_device"] else "fed from the host"


def _varying_hyperparameters(trials: list[TrialRecord]) -> list[str]:
    names: dict[str, set] = {}
    for trial in trials:
        for name, value in trial.hyperparameters.items():
            names.setdefault(name, set()).add(json.dumps(value))
    return [name for name, values in names.items() if len(values) > 1]


def report_records(run: RunPaths, top: int | None) -> list[dict]:
    """The ranked trials (the `top` best), as flat rows."""
    trials = read_trials_table(run)
    return [trial.to_dict(history=False) for trial in (trials[:top] if top else trials)]


def format_report(run: RunPaths, fmt: str, top: int | None) -> str:
    """The ranked trials as csv, json or markdown text."""
    trials = report_records(run, top)
    if fmt == "json":
        return json.dumps([{key: trial.get(key) for key in JSON_FIELDS} for trial in trials], indent=2)
    rows = [{**{k: trial.get(k) for k in JSON_FIELDS if k != "hyperparameters"},
             "members": members_text(trial.get("members")),
             **{f"hp:{k}": v for k, v in trial.get("hyperparameters", {}).items()}} for trial in trials]
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return buffer.getvalue()
    return _markdown(frame)


def _markdown(frame: pd.DataFrame) -> str:
    # pandas' to_markdown needs the optional `tabulate`; a plain pipe table needs nothing.
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return f"{value:.6g}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def print_report(run: RunPaths, top: int | None, console: Console) -> None:
    """`report`: the run's ranked trials (the `top` best), chosen model, sites, test looks and manifest."""
    settings = settings_from_run(run)
    records = read_trials_table(run)
    trials = [record.to_dict(history=False) for record in records]  # the table's flat rows
    shown = trials[:top] if top else trials
    varying = _varying_hyperparameters(records)
    floor = settings.precision_floor
    manifest = read_json(run.manifest) if run.manifest.is_file() else {}
    synthetic = " · [bold yellow]SYNTHETIC DATA[/]" if manifest.get("synthetic_data") else ""
    inputs = f" (inputs {inputs_place(manifest)})" if inputs_place(manifest) else ""
    console.print(f"[bold]{run.name}[/] · space {settings.space} · {rule_text(settings)} · "
                  f"{settings.data.image_size} px · seed {settings.data.seed} · backend {manifest.get('backend', '?')} "
                  f"on {manifest.get('device', '?')}{inputs}{synthetic}")
    # On a narrow terminal the metrics keep their whole headers; the hyperparameters (and the input and
    # worker columns) come back at 120 columns, with --wide, or in a file or pipe.
    wide = console.width >= WIDE_TABLE_COLUMNS
    table = Table(title=f"Trials ranked by validation recall (up to {settings.recall_target:.2f}) at "
                        f"precision ≥ {floor:.2f}, then specificity", collapse_padding=not wide)
    table.add_column("rank" if wide else "#", justify="right", no_wrap=True)
    table.add_column("trial", no_wrap=True)
    if wide:
        table.add_column("hyperparameters (those that vary)", ratio=1)
    for column in ("recall", "spec.", "prec.", "thr.", "AUC", "epochs", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    # A one-process search's trials are all Keras Tuner's "tuner0" (or unnamed, in older runs).
    distributed = wide and bool({trial.get("worker") for trial in trials} - {None, "tuner0"})
    if wide:
        table.add_column("input")
    if distributed:
        table.add_column("worker")
    table.add_column("status", no_wrap=True)
    for trial in shown:
        hps = trial.get("hyperparameters", {})
        completed = trial["status"] == "completed"

        def metric(name: str) -> str:
            return METRIC_FORMATS[name].format(trial[name]) if completed and trial.get(name) is not None else "-"

        status = ("ok" if trial["reachable"] else "<floor") if completed else "failed"
        table.add_row(
            str(trial["rank"] or "-"), trial["trial_id"],
            *([" ".join(f"{name}={_short(hps[name])}" for name in varying if name in hps)] if wide else []),
            metric("recall"), metric("specificity"), metric("precision"),
            (metric("threshold") if wide or not completed else _short_threshold(trial["threshold"])),
            metric("roc_auc"), str(trial.get("epochs", "-")),
            f"{trial['seconds']:.0f}s" if trial.get("seconds") else "-",
            *(["features" if trial.get("cached_features") else "images"] if wide else []),
            *([trial.get("worker") or "-"] if distributed else []),
            status, style=None if completed else "red")
    console.print(table)
    for trial in shown:
        if trial["status"] != "completed":
            console.print(f"[red]trial {trial['trial_id']} failed:[/] {trial.get('message') or 'unknown error'}")
    if not wide:
        console.print("[dim]Hyperparameters: the chosen model's below; every trial's with --wide.[/]")
    _print_best(records, settings, console)
    print_operating_points(run, console)
    _print_test_runs(run, console)
    if manifest:
        versions = ", ".join(f"{name} {version}" for name, version in manifest["versions"].items() if version)
        console.print(f"[dim]Manifest: {versions}; started {manifest['started']}, finished "
                      f"{manifest.get('finished') or 'not yet'}; git {manifest.get('git_commit') or 'none'}; "
                      f"command: {manifest['command']}[/]", soft_wrap=True)


def print_comparison(first: RunPaths, second: RunPaths, console: Console) -> None:
    """Two runs side by side: the settings that differ, then each run's best trial."""
    runs = (first, second)
    # As stored (the migrated file), not as this code would build them: the comparison shows what each run holds.
    settings = [{key: value for key, value in stored_settings(run).items() if key != "schema_version"} for run in runs]
    manifests = [read_json(run.manifest) if run.manifest.is_file() else {} for run in runs]
    table = Table(title=f"{first.name} vs {second.name}")
    table.add_column("")
    for run in runs:
        table.add_column(run.name)
    for key in sorted(set(settings[0]) | set(settings[1])):
        values = [str(s.get(key)) for s in settings]
        style = "bold" if values[0] != values[1] else "dim"
        table.add_row(key, *values, style=style)
    for key in ("backend", "device", "data_fingerprint", "weights_sha256"):
        values = [str(m.get(key))[:40] for m in manifests]
        table.add_row(key, *values, style="bold" if values[0] != values[1] else "dim")
    bests = [best_trial(read_trials_table(run), setting["recall_target"]) for run, setting in zip(runs, settings)]
    rows = [None if best is None else best.to_dict(history=False) for best in bests]
    for metric in ("trial_id", "score", "recall", "precision", "threshold", "roc_auc", "pr_auc", "accuracy",
                   "epochs", "seconds"):
        values = ["-" if row is None else _short(row.get(metric)) for row in rows]
        table.add_row(f"chosen {metric}", *values)
    names = sorted({name for best in bests if best for name in best.hyperparameters})
    for name in names:
        table.add_row(f"chosen {name}", *["-" if best is None else _short(best.hyperparameters.get(name))
                                        for best in bests])
    console.print(table)


def _short_threshold(threshold: float) -> str:
    """At most five characters, for the 80-column table: thresholds under 0.001 read '<.001'."""
    return "<.001" if threshold < 0.001 else f"{threshold:.3f}"[:5]


def rule_text(settings: SearchSettings) -> str:
    """The run's operating rule in words: floor, recall target, and the prevalence the floor is at."""
    prevalence = settings.prevalence
    where = f"at prevalence {prevalence:.3f}" if prevalence else "at validation's prevalence"
    return f"precision floor {settings.precision_floor:.2f} ({where}) · recall target {settings.recall_target:.2f}"


def _prevalence_text(point: dict) -> str:
    prevalence = point["prevalence"]  # None in runs recorded before it was kept
    return "" if prevalence is None else f" (prevalence {prevalence:.3f})"


def _short(value) -> str:
    if value is None:
        return "·"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_best(trials: list[TrialRecord], settings: SearchSettings, console: Console) -> None:
    floor = settings.precision_floor
    completed = [trial for trial in trials if trial.completed]
    failed = len(trials) - len(completed)
    if not completed:
        console.print(f"No finished trial yet ({failed} failed).")
        return
    best = best_trial(trials, settings.recall_target)
    if not best.reachable:
        top_precision = max(trial.operating_point.precision for trial in completed)
        top_recall = max(trial.operating_point.recall for trial in completed)
        console.print(f"[bold red]No trial reached the precision floor {floor:.2f}.[/] Best precision reached "
                      f"{top_precision:.3f}; best recall reached {top_recall:.3f}. `test` needs --trial ID.")
        return
    point = best.operating_point
    layers = "the top blocks" if settings.finetune_layers == "top" else "every layer"
    what = {"finetune": f"fine-tuned from trial {best.parent_trial}, {layers}",
            "ensemble": f"the average of trials {' and '.join(best.members or [])}"}.get(best.stage, "the best trial")
    console.print(f"[bold]Chosen model {best.trial_id}[/] ({what}): validation recall {point.recall:.3f} at precision "
                  f"{point.precision:.3f}{_prevalence_text(asdict(point))}, specificity "
                  f"{format_metric(point.specificity)} (threshold {point.threshold:.3g}), ROC-AUC {best.roc_auc:.3f}, "
                  f"PR-AUC {best.pr_auc:.3f}, accuracy {best.accuracy:.3f}; {_training_text(best)}.")
    console.print("  " + ", ".join(f"{name}={_short(value)}" for name, value in best.hyperparameters.items()))
    if failed:
        console.print(f"{failed} trial(s) failed: see the status column.")


def _training_text(trial: TrialRecord) -> str:
    if trial.stage == "ensemble":
        return f"nothing trained, scored in {trial.seconds:.0f} s"
    return (f"best epoch {trial.best_epoch} (epochs {trial.initial_epoch + 1}–{trial.initial_epoch + trial.epochs} "
            f"trained in this trial, {trial.seconds:.0f} s)")


def _print_test_runs(run: RunPaths, console: Console) -> None:
    evaluations_path = run.test_dir / "evaluations.json"
    count = len(read_json(evaluations_path)) if evaluations_path.is_file() else 0
    console.print(f"Test set evaluated {count} time(s) for this run"
                  + (" — every further look at it makes the test figures less honest." if count > 1 else "."))


def print_test_result(result: HoldoutResult, console: Console) -> None:
    """`test`'s result (`holdout.run_test`): the threshold's source, the metrics with intervals and baselines."""
    cm = result.confusion_matrix
    synthetic = " [bold yellow](SYNTHETIC DATA)[/]" if result.synthetic_data else ""
    op = result.validation_operating_point
    if result.site:
        site = result.site
        source = (f"calibrated for site {site['name']} ({site['method']}, {site['n_images']} images of "
                  f"{site['folder']}, prevalence {site['prevalence']:.3f}); {result.left_out_calibration_images} "
                  "test images of the patients that calibrated it left out")
    else:
        source = (f"recorded by the search on validation (recall {op.recall:.3f} at precision {op.precision:.3f}"
                  f"{_prevalence_text(asdict(op))}, floor {result.precision_floor:.2f}, recall target "
                  f"{result.recall_target:.2f})")
    console.print(f"[bold]Test set · run {result.run} · trial {result.trial_id}[/]{synthetic}: "
                  f"{result.n_images} images, {result.n_patients} patients; threshold {result.threshold:.3g} "
                  f"{source}. Test precision is at the test folder's prevalence {result.prevalence:.3f}.")
    table = Table(title="Test metrics with 95 % bootstrap intervals (patients resampled)")
    for column in ("metric", "value", "95 % CI", "always PNEUMONIA", "reference"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    baseline, reference = result.always_pneumonia_baseline, result.reference
    for name, interval in result.metrics.items():
        base = baseline.get(name)
        ref = reference.get(name)
        table.add_row(name, f"{interval.value:.3f}", f"{interval.low:.3f} – {interval.high:.3f}",
                      "-" if base is None else f"{base:.3f}", "-" if ref is None else f"{ref:.2f}")
    console.print(table)
    for prevalence, precision in (result.precision_at_prevalence or {}).items():
        console.print(f"Precision at the run's prevalence {float(prevalence):.3f} (from test recall and specificity): "
                      f"{precision:.3f}")
    console.print(f"Confusion matrix (rows true, columns predicted): NORMAL [{cm['tn']} {cm['fp']}]  "
                  f"PNEUMONIA [{cm['fn']} {cm['tp']}]")
    console.print(f"This run's test set has now been evaluated {result.test_evaluations} time(s).")


def print_predictions(rows: list[dict], console: Console) -> None:
    """`predict`'s table: one row per image, with the threshold and trial that labelled it."""
    table = Table(title=f"PNEUMONIA probability · trial {rows[0]['trial']} · threshold {rows[0]['threshold']:.3g}")
    for column in ("file", "probability", "threshold", "label", "trial"):
        table.add_column(column, justify="left" if column in ("file", "label", "trial") else "right",
                         overflow="fold" if column == "file" else "ellipsis")
    for row in rows:
        table.add_row(row["file"], f"{row['probability']:.4f}", f"{row['threshold']:.3g}", row["label"], row["trial"])
    console.print(table)


def print_data_summary(summary: dict, console: Console) -> None:
    """The `data` command's tables (tuner/data/summary.py computes them)."""
    table = Table(title=f"Chest X-ray data · {summary['data_dir']} · {summary['image_size']} px")
    table.add_column("split")
    for class_name in CLASS_NAMES:
        table.add_column(f"{class_name}\nimages", justify="right")
        table.add_column(f"{class_name}\npatients", justify="right")
    table.add_column("total\nimages", justify="right")
    for side in SIDES:
        row = summary["counts"][side]
        cells = [f"{row[c][k]:,}" for c in CLASS_NAMES for k in ("images", "patients")]
        table.add_row(side, *cells, f"{row['total']['images']:,}")
    console.print(table)

    leak = summary["image_level_split_leak"]
    weights = summary["class_weights"]
    limit = f", at most {summary['limit']} images per class and split (--limit)" if summary["limit"] else ""
    lines = [
        f"Validation: {summary['val_fraction']:.0%} of train/, grouped by patient and stratified by class, "
        f"seed {summary['seed']}{limit}.",
        f"Patients shared by train and validation: [bold]{summary['shared_patients_train_validation']}[/].",
        f"An image-level split of the same fraction would put "
        f"[bold]{leak['validation_images_sharing_a_patient_with_train']:,}[/] of its {leak['validation_images']:,} "
        f"validation images ({leak['fraction']:.0%}) beside another image of the same patient in training: "
        "validation scores from such a split are optimistic.",
        f"Byte-identical groups: {len(summary['duplicate_groups'])} (kept on one side of the split); "
        f"train/test leaks: [bold]{len(summary['train_test_leaks'])}[/].",
        f"Skipped unreadable files: {len(summary['skipped_files'])}; file names of no known naming "
        f"(each its own patient): {summary['unparsed_patient_names']}; patients from DICOM headers: "
        f"{summary['patients_from_dicom_headers']} image(s).",
        f"Class weights (balanced, from the training side): NORMAL {weights['NORMAL']:.3f}, "
        f"PNEUMONIA {weights['PNEUMONIA']:.3f}.",
        f"Image cache: {summary['cache']['path']} ({summary['cache']['size_bytes'] / 2**20:,.1f} MiB; "
        f"decoded {summary['cache']['decoded_this_load']:,} images this time).",
    ]
    for leak_group in summary["train_test_leaks"]:
        lines.append(f"  [yellow]leak:[/] {' = '.join(leak_group)}")
    for line in lines:
        console.print(line)


def operating_points(run: RunPaths) -> list[dict]:
    """The run's operating points, flat: validation's (the chosen model's, the default) and each site's."""
    from tuner.evaluation.sites import VALIDATION, site_points

    best = best_trial(read_trials_table(run), settings_from_run(run).recall_target)
    rows = []
    if best is not None:
        point = best.operating_point
        rows.append({"name": VALIDATION, "trial_id": best.trial_id, "method": "validation (search)",
                     "calibrated_on": "the validation split", "n_images": None, "prevalence": point.prevalence,
                     "threshold": point.threshold, "recall": point.recall, "recall_low": None, "recall_high": None,
                     "specificity": point.specificity, "specificity_low": None, "specificity_high": None,
                     "precision": point.precision, "note": "the default of test and predict"})
    for site in site_points(run):
        estimates = site["estimates"]
        row = {"name": site["name"], "trial_id": site["trial_id"],
               "method": site["method"] + (", conservative" if site.get("conservative") else ""),
               "calibrated_on": site["folder"], "n_images": site["n_images"], "prevalence": site["prevalence"],
               "threshold": site["threshold"], "note": site.get("note")}
        for name in ("recall", "specificity", "precision"):
            row[name] = estimates[name]["value"]
            if name != "precision":
                row[f"{name}_low"], row[f"{name}_high"] = estimates[name].get("low"), estimates[name].get("high")
        rows.append(row)
    return rows


def format_operating_points(run: RunPaths, fmt: str) -> str:
    """`report --operating-points` as csv, json or markdown text."""
    rows = operating_points(run)
    if fmt == "json":
        return json.dumps(rows, indent=2)
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        return frame.to_csv(index=False)
    return _markdown(frame)


def _interval(value, low, high) -> str:
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")


def print_operating_points(run: RunPaths, console: Console, always: bool = False) -> None:
    """The run's operating points: validation's and the sites'; nothing without a site unless `always`."""
    rows = operating_points(run)
    if len(rows) < 2 and not always:
        return
    table = Table(title="Operating points (test and predict use validation's unless --site NAME)")
    for column in ("name", "trial", "method", "calibrated on", "images", "prevalence", "threshold", "recall",
                   "specificity", "precision"):
        table.add_column(column, justify="left" if column in ("name", "trial", "method", "calibrated on") else "right",
                         overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["trial_id"], row["method"], row["calibrated_on"],
                      "-" if row["n_images"] is None else str(row["n_images"]), f"{row['prevalence']:.3f}",
                      f"{row['threshold']:.4g}", _interval(row["recall"], row["recall_low"], row["recall_high"]),
                      _interval(row["specificity"], row["specificity_low"], row["specificity_high"]),
                      f"{row['precision']:.3f}")
    console.print(table)
    for row in rows:
        if row["name"] != "validation" and row.get("note"):
            console.print(f"[dim]site {row['name']}: {row['note']}[/]")


def print_site_point(point: dict, console: Console) -> None:
    """`calibrate`'s result: the site point and what it rests on."""
    estimates = point["estimates"]
    if point["method"] == "labelled":
        source = (f"{point['n_images']} labelled images ({point['n_positives']} PNEUMONIA, {point['n_negatives']} "
                  f"NORMAL) of {point['n_patients']} patients")
        figures = ", ".join(f"{name} {_interval(*(estimates[name][key] for key in ('value', 'low', 'high')))}"
                            for name in ("recall", "specificity", "precision"))
        figures += " (95 % intervals, patients resampled)"
    else:
        source = (f"{point['n_images']} unlabelled images; validation's point calls {point['expected_share']:.1%} "
                  f"pneumonia at prevalence {point['prevalence']:.3g}, this threshold calls "
                  f"{point['share_called']:.1%} of them")
        figures = ", ".join(f"{name} {estimates[name]['value']:.3f}" for name in ("recall", "specificity", "precision"))
        figures += " (validation's, carried over)"
    console.print(f"[bold]Site {point['name']}[/] · trial {point['trial_id']} · {point['method']}"
                  f"{' (conservative)' if point.get('conservative') else ''}: threshold {point['threshold']:.4g} at "
                  f"prevalence {point['prevalence']:.3f}, from {source}.", soft_wrap=True)
    console.print(f"Expected at the site: {figures}.", soft_wrap=True)
    if point["method"] == "labelled" and not point["meets_floor"]:
        console.print(f"[bold yellow]Precision {estimates['precision']['value']:.3f} is under the floor "
                      f"{point['precision_floor']:.2f} at this threshold.[/]")
    if point.get("note"):
        console.print(f"[yellow]Note:[/] {point['note']}.", soft_wrap=True)
    if point.get("test_images"):
        console.print(f"[bold yellow]{point['test_images']} of these images are the run's own test images:[/] their "
                      f"labels were read, so this counts as a look at the test folder (look "
                      f"{point['test_evaluations']}).", soft_wrap=True)
    console.print(f"Use it with [bold]--site {point['name']}[/] in test and predict.")


def print_site_study(result: dict, console: Console) -> None:
    """`test --site-study`'s tables."""
    strict = result["strict"]
    console.print(f"[bold]Site study · run {result['run']} · trial {result['trial_id']}[/]: the test folder as a site, "
                  f"{result['n_images']} images, prevalence {result['prevalence']:.3f}. Strict (validation's threshold "
                  f"{strict['threshold']:.3g}): recall {strict['recall']:.3f}, specificity "
                  f"{strict['specificity']:.3f}, precision {strict['precision']:.3f}, accuracy "
                  f"{strict['accuracy']:.3f}.", soft_wrap=True)
    table = Table(title="Labelled calibration: n images of whole patients choose the threshold by the run's rule; "
                        "the other images are scored at it (mean, 5th percentile over draws)")
    table.add_column("n", justify="right")
    table.add_column("draws", justify="right")
    for name in ("recall", "specificity", "precision", "accuracy"):
        table.add_column(name, justify="right")
    for size, row in result["labelled"].items():
        table.add_row(size, str(row["draws"]), *(f"{row[name]['mean']:.3f} ({row[name]['p5']:.3f})"
                                                 for name in ("recall", "specificity", "precision", "accuracy")))
    console.print(table)
    table = Table(title="Unlabelled alignment: the folder's own scores, a stated prevalence, no label")
    for column in ("stated prevalence", "threshold", "recall", "specificity", "precision", "accuracy"):
        table.add_column(column, justify="right")
    for row in result["unlabelled"]:
        table.add_row(f"{row['prevalence']:.3f}", f"{row['threshold']:.6g}",
                      *(f"{row[name]:.3f}" for name in ("recall", "specificity", "precision", "accuracy")))
    console.print(table)
    console.print(f"This run's test set has now been evaluated {result['test_evaluations']} time(s).")
