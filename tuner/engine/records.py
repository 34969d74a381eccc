"""Trial records: the one schema of a trial (search, fine-tuning or ensemble), its operating point, the ranked
trials table built from them, and `best_trial`, the model a run hands over.

Reads only JSON (no Keras), so `report` starts instantly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from tuner.core.atomic import atomic_path, read_json, write_json
from tuner.core.runs import RunPaths
from tuner.engine.objective import OperatingPoint, rank_trials

# What every epoch of a trial records from the objective (tuner/engine/objective.py: validation_metrics).
EPOCH_METRICS = ("score", "reachable", "recall", "precision", "specificity", "prevalence", "threshold", "roc_auc",
                 "pr_auc", "accuracy")
_POINT_FIELDS = tuple(f.name for f in fields(OperatingPoint))


@dataclass(frozen=True)
class TrialRecord:
    """One trial as trials/<id>.json stores it: a search trial, or the fine-tuning or ensemble stage's.

    Its files stay flat JSON (the operating point's fields beside the others), so runs written by earlier
    versions read back unchanged.

    Attributes:
        trial_id: Keras Tuner's trial id ("0012"), or `<parent>-ft` / `<parent>-ens` for the stages after
            the search.
        status: "completed" or "failed".
        hyperparameters: the trial's values by name (without Keras Tuner's `tuner/` bookkeeping).
        stage: "search", "finetune" or "ensemble".
        parent_trial: the trial Hyperband promoted this one from, or the trial fine-tuned or averaged;
            None for a search trial of a bracket's first round.
        members: an ensemble's trial ids, whose probabilities it averages; None for other stages.
        bracket: Hyperband's bracket (None outside Hyperband).
        round: Hyperband's round within the bracket (None outside Hyperband).
        initial_epoch: the epoch training started after (a promoted trial goes on from its parent's).
        target_epochs: the epoch training was to reach (0 for an ensemble).
        cached_features: the trial trained on the backbone's cached features, not on images.
        seconds: the trial's wall time.
        epochs: epochs trained in this trial (0 for an ensemble).
        worker: Keras Tuner's id of the process that ran the trial ("tuner0" in one process); None for
            the stages after the search.
        history: one `epoch_row` per epoch trained.
        score: the objective (`objective.objective_score`) at the best epoch; None for a failed trial.
        operating_point: the best epoch's `OperatingPoint` on validation; None for a failed trial.
        roc_auc: the best epoch's validation ROC-AUC.
        pr_auc: the best epoch's validation PR-AUC (average precision).
        accuracy: the best epoch's validation accuracy at its threshold.
        val_loss: the best epoch's validation loss.
        best_epoch: the epoch the model was kept from (the first best-scoring, as Keras Tuner keeps it).
        message: why a failed trial failed (the last line of its error).
        rank: the trial's place in the ranked trials table (None in trials/<id>.json and for failed trials).
    """

    trial_id: str
    status: str  # "completed" or "failed"
    hyperparameters: dict
    stage: str = "search"  # or "finetune" (`<parent>-ft`) or "ensemble" (`<parent>-ens`), after the search
    parent_trial: str | None = None  # Hyperband's promoted-from trial, or the one fine-tuned / ensembled
    members: list | None = None  # an ensemble's trials, whose probabilities it averages
    bracket: int | None = None
    round: int | None = None
    initial_epoch: int = 0
    target_epochs: int | None = None
    cached_features: bool = False
    seconds: float | None = None
    epochs: int = 0
    worker: str | None = None
    history: list = field(default_factory=list, repr=False)
    # A completed trial's best epoch (as Keras Tuner keeps it); None for a failed one.
    score: float | None = None
    operating_point: OperatingPoint | None = None
    roc_auc: float | None = None
    pr_auc: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    best_epoch: int | None = None
    message: str | None = None  # why a failed trial failed
    rank: int | None = None  # in the trials table only

    @property
    def completed(self) -> bool:
        """The trial finished (status "completed")."""
        return self.status == "completed"

    @property
    def reachable(self) -> bool:
        """The precision floor was met at its best epoch."""
        return self.operating_point is not None and self.operating_point.reachable

    @classmethod
    def from_dict(cls, stored: dict) -> TrialRecord:
        """A record from its flat dict (trials/<id>.json, or a row of trials.json).

        Keys it does not know are ignored and missing ones take their defaults; there is no operating point
        when `threshold` is missing or None.
        """
        own = {f.name for f in fields(cls)} - {"operating_point"}
        point = None
        if stored.get("threshold") is not None:
            point = OperatingPoint(**{name: stored.get(name) for name in _POINT_FIELDS})
        return cls(operating_point=point, **{name: stored[name] for name in own if name in stored})

    def to_dict(self, history: bool = True) -> dict:
        """The record as flat JSON-ready values, the operating point's fields beside the others.

        Args:
            history: include the per-epoch history.

        Returns:
            A dict with every field but `operating_point`, plus its fields (None each when there is none).
        """
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "operating_point"}
        if not history:
            del values["history"]
        point = asdict(self.operating_point) if self.operating_point else dict.fromkeys(_POINT_FIELDS)
        return {**values, **point}


def epoch_row(epoch: int, metrics: dict, seconds: float, loss: float | None = None,
              learning_rate: float | None = None) -> dict:
    """One epoch of a trial's history, from `objective.validation_metrics` on validation.

    Args:
        epoch: the epoch's number, from 1, counted from the start of training (not of this trial).
        metrics: `objective.validation_metrics` of the epoch.
        seconds: the epoch's wall time, validation included.
        loss: the epoch's training loss, if any.
        learning_rate: the optimizer's learning rate, if known.

    Returns:
        {epoch, loss, learning_rate, seconds, the EPOCH_METRICS, val_loss}.
    """
    return {"epoch": epoch, "loss": loss, "learning_rate": learning_rate, "seconds": seconds,
            **{name: metrics[name] for name in EPOCH_METRICS}, "val_loss": metrics["loss"]}


def members_text(members: list | None) -> str | None:
    """An ensemble's members in one cell (trials.csv, exports, the HTML report)."""
    return " ".join(members) if members else None


def completed_record(history: list[dict], **details) -> TrialRecord:
    """A finished trial's record: the metrics of its first best-scoring epoch (as Keras Tuner keeps it).

    Args:
        history: one `epoch_row` per epoch trained, at least one.
        **details: the record's other fields (trial_id, hyperparameters, stage, ...).

    Returns:
        A completed `TrialRecord`.
    """
    best = max(history, key=lambda epoch: epoch["score"])
    point = OperatingPoint(**{name: best[name] for name in _POINT_FIELDS})
    return TrialRecord(status="completed", history=history, epochs=len(history), score=best["score"],
                       operating_point=point, roc_auc=best["roc_auc"], pr_auc=best["pr_auc"],
                       accuracy=best["accuracy"], val_loss=best["val_loss"], best_epoch=best["epoch"], **details)


def failed_record(message: str, history: list[dict] = (), **details) -> TrialRecord:
    """A failed trial's record: `message` says why; the epochs it finished are kept in its history."""
    return TrialRecord(status="failed", history=list(history), epochs=len(history), message=message, **details)


def write_record(run: RunPaths, record: TrialRecord) -> None:
    """Write a trial's record to trials/<id>.json, atomically (without its rank)."""
    stored = record.to_dict()
    del stored["rank"]  # a place in the trials table, not a property of the trial
    write_json(run.trial_record(record.trial_id), stored)


def write_validation_scores(run: RunPaths, trial_id: str, validation: pd.DataFrame,
                            probabilities: np.ndarray) -> None:
    """A trial's validation probabilities beside its record (`RunPaths.validation_scores`), so that later
    commands compare new images with validation's scores without the data or the model.

    Args:
        run: the run folder; the file is `run.validation_scores(trial_id)`, written atomically.
        trial_id: the trial's id.
        validation: the validation split's rows (`Dataset.split("validation")`: relpath, patient_key, label).
        probabilities: the trial's model's PNEUMONIA probability of each row, in order.
    """
    frame = pd.DataFrame({"file": validation["relpath"].to_numpy(), "patient": validation["patient_key"].to_numpy(),
                          "label": validation["label"].to_numpy(), "probability": np.asarray(probabilities)})
    with atomic_path(run.validation_scores(trial_id)) as temporary:
        frame.to_csv(temporary, index=False)


def best_trial(trials: list[TrialRecord], recall_target: float) -> TrialRecord | None:
    """The model a run hands over, from its ranked trials table.

    The best-ranked search trial, except that what the stages after the search made of it takes its place
    whenever it keeps the user's contract on validation: it reaches the precision floor and at least
    the recall (counted up to the target) of the trial it came from. First the ensemble of the trial
    and its fine-tuned version (`<id>-ens`), then the fine-tuned version alone (`<id>-ft`). Validation
    comes from the training folder and cannot show the shift these stages are for; the specificity
    tie-break that ranks search trials is not asked of them.

    Args:
        trials: the run's trials table, ranked (`read_trials_table`).
        recall_target: the run's recall target.

    Returns:
        The chosen trial's record (which may not reach the precision floor: see `reachable`), or None when
        no trial finished.
    """
    completed = sorted((trial for trial in trials if trial.completed), key=lambda trial: trial.rank)
    if not completed:
        return None
    best = next((trial for trial in completed if trial.stage == "search"), completed[0])
    for stage in ("ensemble", "finetune"):
        for trial in completed:
            if trial.stage == stage and trial.parent_trial == best.trial_id and trial.reachable:
                recall, parent_recall = trial.operating_point.recall, best.operating_point.recall
                if min(recall, recall_target) >= min(parent_recall, recall_target) - 1e-9:
                    return trial
    return best


def read_trial_records(run: RunPaths) -> list[TrialRecord]:
    """Every trial record of the run (trials/*.json), by id; [] before the first."""
    if not run.trial_records.is_dir():
        return []
    return [TrialRecord.from_dict(read_json(path)) for path in sorted(run.trial_records.glob("*.json"))]


def trials_frame(records: list[TrialRecord]) -> pd.DataFrame:
    """The trials as a ranked table, with one `hp:<name>` column per hyperparameter.

    Args:
        records: trial records, in any order.

    Returns:
        `objective.rank_trials` of their flat rows (no history): completed trials best first, then the
        others; an empty frame for no records.
    """
    rows = []
    for record in records:
        row = {key: value for key, value in record.to_dict(history=False).items() if key != "hyperparameters"}
        row["members"] = members_text(record.members)
        row.update({f"hp:{name}": value for name, value in record.hyperparameters.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return rank_trials(frame.drop(columns="rank"))


def write_trials_table(run: RunPaths) -> pd.DataFrame:
    """Rewrite trials.json and trials.csv (atomically) from the per-trial records.

    Args:
        run: the run folder.

    Returns:
        The ranked table written to trials.csv (`trials_frame`).
    """
    records = {record.trial_id: record for record in read_trial_records(run)}
    frame = trials_frame(list(records.values()))
    table = [{**records[trial_id].to_dict(history=False), "rank": None if pd.isna(rank) else int(rank)}
             for trial_id, rank in zip(frame.get("trial_id", []), frame.get("rank", []))]
    write_json(run.trials_json, table)
    with atomic_path(run.trials_csv) as temporary:
        frame.to_csv(temporary, index=False)
    return frame


def read_trials_table(run: RunPaths) -> list[TrialRecord]:
    """The ranked trials from trials.json, best first, then the failed ones; [] before the first trial."""
    if not run.trials_json.is_file():
        return []
    return [TrialRecord.from_dict(row) for row in read_json(run.trials_json)]
