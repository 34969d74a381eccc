"""Fine-tune a finished run's best trial again with a stronger framing and exposure augmentation (validation only).

    python tools/stronger_augmentation.py --results-dir /tmp/r12 --run final-seed0 --into crop-seed0 [--epochs 4]
    python tools/stronger_augmentation.py --results-dir /tmp/r12 --run final-seed0 --into cosine-seed0 --cosine 1e-4
    python tools/stronger_augmentation.py --results-dir /tmp/r12 --run final-seed0 --into rrc-seed0 --crop --epochs 4
    python tools/stronger_augmentation.py --results-dir /tmp/r12 --run final-seed0 --into long-seed0 --crop \
        --finetune-layers all --epochs 10
    python tools/stronger_augmentation.py --results-dir /tmp/r26 --run main-seed0 --into old-seed0 --crop \
        --finetune-layers top --epochs 4 --ensemble --no-panel      # the default before issue 26

Copies the run under a new name without its fine-tuned and ensemble records (and with only the parent's
checkpoint), then runs the search's own fine-tuning and ensemble stages on the copy, with the augmentation
below in place of `search_spaces/augmentation.py`'s (and with `--cosine`, a learning rate that starts at the
given value and decays to zero along a cosine over the fine-tuning's steps, in place of the constant 3e-5).
`--crop`: the random resized crops that became the default (`search_spaces.augmentation.finetuning_augmentation`),
and the shift panel of the copy's chosen model, in this process (not with `--no-panel`); `--finetune-layers` and
`--ensemble` as `search`'s flags.
Else compare the copies with `tools/shift_panel.py`.
It reads no test image. docs/results.md ("Stronger framing and exposure augmentation", "Random resized crops") has
its results.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
from shift_panel import PANEL, panel_scores, specificity_under_changes  # noqa: E402

import search_spaces.mobilenet_head as mobilenet_head  # noqa: E402
from search_spaces.augmentation import ROTATION, SHIFT  # noqa: E402
from search_spaces.registry import finetune_recipes  # noqa: E402
from tuner.core.atomic import write_json  # noqa: E402
from tuner.core.errors import ToolkitError  # noqa: E402
from tuner.core.runs import RunPaths, find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.data.dataset import load_dataset  # noqa: E402
from tuner.engine.ensemble import ensemble_finetuned  # noqa: E402
from tuner.engine.finetune import FINETUNE_BATCH, finetune_best  # noqa: E402
from tuner.engine.records import read_trials_table, write_trials_table  # noqa: E402


def stronger_augmentation(seed: int | None = None, name: str = "augmentation",
                          smallest_crop: float | None = None) -> keras.Sequential:
    """Zoom in to as little as 60 % of the height and width, or out by 10 %, the two drawn apart (an aspect
    jitter); contrast and brightness ±30 %; rotation and shift as in `chest_xray_augmentation`. `seed` and
    `smallest_crop` are unused: the signature is `finetuning_augmentation`'s."""
    return keras.Sequential(
        [
            keras.layers.RandomRotation(ROTATION, fill_mode="constant"),
            keras.layers.RandomZoom((-0.4, 0.1), (-0.4, 0.1), fill_mode="constant"),
            keras.layers.RandomTranslation(SHIFT, SHIFT, fill_mode="constant"),
            keras.layers.RandomContrast(0.3, value_range=(0, 255)),
            keras.layers.RandomBrightness(0.3, value_range=(0, 255)),
        ],
        name=name,
    )


def copy_without_finetuning(source: RunPaths, copy: Path) -> None:
    """The run without its -ft / -ens records, with only the fine-tuned parent's checkpoint of its tuner project."""
    parents = [trial.parent_trial for trial in read_trials_table(source) if trial.stage == "finetune"]
    if not parents:
        sys.exit(f"run {source.name!r} has no fine-tuning record: finish its search first")
    if copy.exists():
        sys.exit(f"{copy} exists already: choose another --into")
    shutil.copytree(source.directory, copy, ignore=shutil.ignore_patterns(
        "keras_tuner", "test", "finetuned", "report.html", "*-ft.json", "*-ens.json", "sites", "scores"))
    parent_checkpoint = source.keras_tuner / f"trial_{parents[0]}"
    shutil.copytree(parent_checkpoint, copy / "keras_tuner" / parent_checkpoint.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--run", required=True, help="a finished mobilenet_head run with an ensemble record")
    parser.add_argument("--into", required=True, help="the name of the copy")
    parser.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the run's own)")
    parser.add_argument("--crop", action="store_true", help="the default random resized crops; then the shift panel")
    parser.add_argument("--finetune-layers", choices=finetune_recipes(), help="as search's flag (default: the run's)")
    parser.add_argument("--ensemble", action="store_true", help="also the ensemble stage, as search's flag")
    parser.add_argument("--no-panel", dest="panel", action="store_false", help="--crop without the shift panel")
    parser.add_argument("--cosine", type=float, metavar="PEAK",
                        help="a learning rate from PEAK decaying to 0 along a cosine over the fine-tuning")
    args = parser.parse_args()
    if args.finetune_layers and not args.crop:
        parser.error("--finetune-layers goes with --crop (the stronger zoom has no crops to size)")
    try:
        source = find_run(args.results_dir, args.run)
    except ToolkitError as error:
        sys.exit(str(error))
    copy_without_finetuning(source, args.results_dir / args.into)
    # what `finetune_model` builds from now on (`--crop`: the default since it was adopted, plus the panel below)
    if not args.crop:
        mobilenet_head.finetuning_augmentation = stronger_augmentation
    run = find_run(args.results_dir, args.into)
    write_trials_table(run)
    settings = replace(settings_from_run(run), show_progress=False)
    if args.epochs:
        settings = replace(settings, finetune_epochs=args.epochs)
    if args.finetune_layers:
        settings = replace(settings, finetune_layers=args.finetune_layers)
    settings = replace(settings, ensemble=args.ensemble or not args.crop)  # the stronger zoom was judged so
    write_json(run.settings_file, settings.to_dict())  # the copy's settings say how it was fine-tuned
    dataset = load_dataset(settings.data)
    if args.cosine:  # read by `finetune_model` when it compiles
        steps = settings.finetune_epochs * math.ceil(len(dataset.split("train")) / FINETUNE_BATCH)
        mobilenet_head.FINETUNE_LEARNING_RATE = keras.optimizers.schedules.CosineDecay(args.cosine, steps)
    finetuned = finetune_best(settings, dataset, run)
    ensemble = ensemble_finetuned(settings, dataset, run, finetuned) if settings.ensemble else None
    for record in (finetuned, ensemble) if ensemble else (finetuned,):
        point = record.operating_point
        print(f"{record.trial_id}: validation recall {point.recall:.3f}, specificity {point.specificity:.3f}, "
              f"ROC-AUC {record.roc_auc:.4f}, "
              f"threshold {point.threshold:.3g}, best epoch {record.best_epoch}")
    if args.crop and args.panel:
        scores = panel_scores(args.results_dir, args.into, None)
        for change in PANEL:
            print("{}: specificity {:.3f}, recall {:.3f}, ROC-AUC {:.4f}".format(change, *scores[change]))
        print(specificity_under_changes(scores))


if __name__ == "__main__":
    main()
