"""Do the chosen model's validation normals score higher the lower their file IDs? (validation only)

    python tools/id_range_evidence.py --results-dir /tmp/r12 --run final-seed0

The test folder's normal images carry the lowest IDs of the data set: IM-0001 to IM-0111 and NORMAL2-IM-0007 to
NORMAL2-IM-0381, against the training folder's IM-0115 to IM-0766 and NORMAL2-IM-0383 to NORMAL2-IM-1442. If the IDs
follow the order of acquisition, the test folder's normals are the oldest, and the training folder's oldest ones
could show its shift. This tool scores the run's chosen model on its validation split at the recorded threshold
and prints the specificity of the normal images in the lowest quarter of their source's training-folder IDs
against the rest. It reads no test image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.core.errors import ToolkitError  # noqa: E402
from tuner.core.runs import find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.data.dataset import load_dataset  # noqa: E402
from tuner.engine.hypermodels import load_trial_model  # noqa: E402
from tuner.evaluation.looks import choose_trial  # noqa: E402
from tuner.evaluation.scoring import predict_probabilities  # noqa: E402

ID_PATTERN = r"^(NORMAL2-IM|IM)-(\d+)"


def with_ids(images):
    """The images' table with their source (IM or NORMAL2-IM) and ID number."""
    ids = images["relpath"].map(lambda path: Path(path).name).str.extract(ID_PATTERN)
    return images.assign(source=ids[0], id=ids[1].astype(int))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--run", required=True)
    args = parser.parse_args()
    try:
        run = find_run(args.results_dir, args.run)
    except ToolkitError as error:
        sys.exit(str(error))
    chosen = choose_trial(run, None)
    settings = settings_from_run(run)
    dataset = load_dataset(settings.data)
    validation = dataset.split("validation")
    probabilities = predict_probabilities(load_trial_model(run, settings, chosen), dataset.images,
                                          validation["row"].to_numpy())
    training_folder = dataset.records[dataset.records["side"] != "test"]
    lowest_quarter = with_ids(training_folder[training_folder["label"] == 0]).groupby("source")["id"].quantile(0.25)
    normals = with_ids(validation[validation["label"] == 0]).assign(
        probability=probabilities[validation["label"].to_numpy() == 0])
    oldest = normals["id"] < normals["source"].map(lowest_quarter)
    threshold = chosen.operating_point.threshold
    print(f"{args.run}: {chosen.trial_id} at threshold {threshold:.3g}; validation normal images")
    print("| source | IDs | n | specificity |\n|---|---|---:|---:|")
    for (source, is_oldest), group in normals.groupby([normals["source"], oldest]):
        ids_text = f"{'<' if is_oldest else '>='} {lowest_quarter[source]:.0f}"
        print(f"| {source} | {ids_text} | {len(group)} | {(group['probability'] < threshold).mean():.3f} |")
    for name, group in (("all, the lowest quarter", normals[oldest]), ("all, the rest", normals[~oldest])):
        print(f"| {name} | | {len(group)} | {(group['probability'] < threshold).mean():.3f} |")


if __name__ == "__main__":
    main()
