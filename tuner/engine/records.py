"""The trials table: one row per trial, built from the per-trial records of a run.

Reads only JSON (no Keras), so `report` starts instantly.
"""

from __future__ import annotations

import pandas as pd

from tuner.core.atomic import atomic_path, read_json, write_json
from tuner.engine.objective import rank_trials
from tuner.core.runs import RunPaths

# What every epoch of a trial records from the objective (tuner/engine/objective.py: validation_metrics).
EPOCH_METRICS = ("score", "reachable", "recall", "precision", "specificity", "prevalence", "threshold", "roc_auc",
                 "pr_auc", "accuracy")


def best_epoch_summary(history: list[dict]) -> dict:
    """A trial record's metrics: those of its first best-scoring epoch (as Keras Tuner keeps it)."""
    best = max(history, key=lambda epoch: epoch["score"])
    return {**{key: best[key] for key in (*EPOCH_METRICS, "val_loss")}, "best_epoch": best["epoch"]}


def chosen_trial(trials: list[dict], recall_target: float) -> dict | None:
    """The model a run hands over, from its ranked trials table (None when no trial finished).

    The best-ranked trial, except that its fine-tuned version (`<id>-ft`) takes its place whenever it
    keeps the user's contract on validation: it reaches the precision floor and at least the recall
    (counted up to the target) of the trial it was tuned from. Validation comes from the training
    folder and cannot show the shift that fine-tuning on augmented images is for; the specificity
    tie-break that ranks search trials is not asked of it.
    """
    completed = sorted((trial for trial in trials if trial["status"] == "completed"), key=lambda trial: trial["rank"])
    if not completed:
        return None
    best = completed[0]
    for trial in completed:
        if trial.get("stage") == "finetune" and trial.get("parent_trial") == best["trial_id"] and trial["reachable"]:
            if min(trial["recall"], recall_target) >= min(best["recall"], recall_target) - 1e-9:
                return trial
    return best


def read_trial_records(run: RunPaths) -> list[dict]:
    if not run.trial_records.is_dir():
        return []
    return [read_json(path) for path in sorted(run.trial_records.glob("*.json"))]


def trials_frame(records: list[dict]) -> pd.DataFrame:
    """Ranked trials, with one `hp:<name>` column per hyperparameter."""
    rows = []
    for record in records:
        row = {key: value for key, value in record.items() if key not in ("hyperparameters", "history")}
        row.update({f"hp:{name}": value for name, value in record.get("hyperparameters", {}).items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return rank_trials(frame)


def write_trials_table(run: RunPaths) -> pd.DataFrame:
    """Rewrite trials.json and trials.csv (atomically) from the per-trial records."""
    records = {record["trial_id"]: record for record in read_trial_records(run)}
    frame = trials_frame(list(records.values()))
    table = [{"rank": None if pd.isna(rank) else int(rank),
              **{k: v for k, v in records[trial_id].items() if k != "history"}}
             for trial_id, rank in zip(frame.get("trial_id", []), frame.get("rank", []))]
    write_json(run.trials_json, table)
    with atomic_path(run.trials_csv) as temporary:
        frame.to_csv(temporary, index=False)
    return frame


def read_trials_table(run: RunPaths) -> list[dict]:
    if not run.trials_json.is_file():
        return []
    return read_json(run.trials_json)
