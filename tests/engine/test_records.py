"""Which model a run hands over: the best trial, or what fine-tuning made of it when that keeps the contract."""

from __future__ import annotations

from helpers import trial_row as trial

from tuner.engine.records import TrialRecord, best_trial


def chosen(rows, recall_target):
    best = best_trial([TrialRecord.from_dict(row) for row in rows], recall_target)
    return None if best is None else best.trial_id


def test_the_fine_tuned_model_is_chosen_when_it_keeps_the_contract():
    trials = [trial("0012", 1, 1.0, 0.985), trial("0012-ft", 2, 0.98, 0.96, stage="finetune", parent="0012"),
              trial("0007", 3, 0.98, 0.98)]
    assert chosen(trials, 0.98) == "0012-ft"  # recall counted up to 0.98


def test_the_parent_stays_when_fine_tuning_loses_recall_or_the_floor():
    lost_recall = [trial("0012", 1, 0.98), trial("0012-ft", 2, 0.97, 0.999, stage="finetune", parent="0012")]
    assert chosen(lost_recall, 0.98) == "0012"
    lost_floor = [trial("0012", 1, 0.98), trial("0012-ft", 2, 0.99, reachable=False, stage="finetune", parent="0012")]
    assert chosen(lost_floor, 0.98) == "0012"
    failed = [trial("0012", 1, 0.98), trial("0012-ft", None, 0.99, stage="finetune", parent="0012", status="failed")]
    assert chosen(failed, 0.98) == "0012"


def _with_ensemble(ensemble_recall, ensemble_reachable=True):
    return [trial("0012-ft", 1, 0.99, 0.96, stage="finetune", parent="0012"), trial("0012", 2, 0.98, 0.985),
            trial("0012-ens", 3, ensemble_recall, 0.97, reachable=ensemble_reachable, stage="ensemble", parent="0012"),
            trial("0007", 4, 0.98, 0.98)]


def test_the_ensemble_is_chosen_first_then_the_fine_tuned_model():
    assert chosen(_with_ensemble(0.98), 0.98) == "0012-ens"  # though the fine-tuned model ranks first
    assert chosen(_with_ensemble(0.97), 0.98) == "0012-ft"  # the ensemble lost recall
    assert chosen(_with_ensemble(0.99, ensemble_reachable=False), 0.98) == "0012-ft"  # or the floor
    assert chosen(_with_ensemble(0.98), 0.99) == "0012-ens"  # compared with the parent's recall (0.98), not the -ft's
    both_lost = _with_ensemble(0.97)
    both_lost[0] = trial("0012-ft", 1, 0.97, 0.999, stage="finetune", parent="0012")
    assert chosen(both_lost, 0.98) == "0012"


def test_the_best_ranked_trial_otherwise():
    trials = [trial("0003", 2, 0.9), trial("0005", 1, 0.95), trial("0001", None, 0.0, status="failed")]
    assert chosen(trials, 0.98) == "0005"
    assert chosen([trial("0001", None, 0.0, status="failed")], 0.98) is None
