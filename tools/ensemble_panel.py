"""Does averaging a run's models keep its operating point better when the images change? (validation only)

    python tools/ensemble_panel.py --results-dir /tmp/r12 --run final-seed0 --trial 0012 --trial 0012-ft

Scores each listed trial's model on the validation images under every change of `shift_panel.py`'s panel
(kept per trial in --cache, default <run>/panel, so a second call reads them back), then the average of
their probabilities. Each model, and the average, is judged at the threshold the run's own rule (precision
floor, recall target) chooses on the unchanged validation images: specificity, recall and ROC-AUC there,
and the specificity under each change (mean and worst). It reads no test image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shift_panel import PANEL, panel_probabilities  # noqa: E402  (this folder)

from tuner.core.runs import RunPaths, find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.engine.objective import OperatingRule, operating_point  # noqa: E402
from tuner.evaluation.looks import choose_trial  # noqa: E402


def cached_panel_probabilities(run: RunPaths, trial_id: str, cache: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """The validation labels and, per change of the panel (in its order), the trial's probabilities."""
    path = cache / f"{trial_id}.npz"
    if not path.is_file() or list(np.load(path).get("changes", [])) != list(PANEL):  # none, or another panel
        labels, probabilities = panel_probabilities(run, choose_trial(run, trial_id))
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, labels=labels, changes=np.array(list(PANEL)),
                 **{str(i): scored for i, scored in enumerate(probabilities.values())})
    saved = np.load(path)
    return saved["labels"], [saved[str(i)] for i in range(len(PANEL))]


def panel_line(name: str, labels: np.ndarray, scores: list[np.ndarray], rule: OperatingRule) -> str:
    threshold = operating_point(labels, scores[0], rule).threshold
    specificity = [float(np.mean(s[labels == 0] < threshold)) for s in scores]
    recall = float(np.mean(scores[0][labels == 1] >= threshold))
    auc = roc_auc_score(labels, scores[0])
    return (f"| {name} | {threshold:.3g} | {specificity[0]:.3f} / {recall:.3f} / {auc:.4f} "
            f"| {np.mean(specificity[1:]):.3f} / {min(specificity[1:]):.3f} | "
            + " ".join(f"{s:.2f}" for s in specificity[1:]) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--run", required=True)
    parser.add_argument("--trial", action="append", required=True, help="a trial to average (repeat the flag)")
    parser.add_argument("--cache", type=Path, help="where the probabilities are kept (default <run>/panel)")
    args = parser.parse_args()
    run = find_run(Path(args.results_dir), args.run)
    cache = args.cache or run.directory / "panel"
    rule = OperatingRule.of(settings_from_run(run))
    scored = {trial: cached_panel_probabilities(run, trial, cache) for trial in args.trial}
    labels = next(iter(scored.values()))[0]
    print("| model | threshold | clean: spec. / recall / AUC | changes: spec. mean / worst | spec. per change |")
    print("|---|---:|---|---|---|")
    for trial, (_, scores) in scored.items():
        print(panel_line(trial, labels, scores, rule))
    if len(scored) > 1:
        average = [np.mean([scores[i] for _, scores in scored.values()], axis=0) for i in range(len(PANEL))]
        print(panel_line("average of " + " + ".join(scored), labels, average, rule))
    print("changes, in order: " + "; ".join(list(PANEL)[1:]), file=sys.stderr)


if __name__ == "__main__":
    main()
