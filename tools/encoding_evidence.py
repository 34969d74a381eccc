"""Does the chosen model read how an X-ray was stored? Normal originals encoded as the pneumonia ones were.

    python tools/encoding_evidence.py --results-dir /tmp/r12 --run final-seed0 [--run final-seed1]

In the training folder the two classes were stored differently: the 30 normal originals in
`../shared/data/chest_xray_fullres_sample` are 1,100-2,450 px wide JPEGs at quality ~95 (about 2 bits per
pixel), the 40 pneumonia originals 400-1,600 px wide at quality ~75 (about 0.65). A model could learn that
texture instead of the lungs, and would then call normal images from another export pneumonia. This tool takes
the normal originals that are in the run's validation split, encodes them as the pneumonia originals are
(re-encoded at quality 75, scaled to 1,100 or 800 px wide, or both), brings each to 224 px as the data set's
copies were made (bilinear, JPEG quality 75), and prints the chosen model's scores. Validation only: it reads
no test image.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.core.errors import ToolkitError  # noqa: E402
from tuner.core.runs import find_run  # noqa: E402
from tuner.core.settings import settings_from_run  # noqa: E402
from tuner.data.dataset import load_dataset  # noqa: E402
from tuner.engine.hypermodels import load_trial_model  # noqa: E402
from tuner.evaluation.looks import choose_trial  # noqa: E402

NORMAL_ORIGINALS = Path(__file__).resolve().parents[1] / "../shared/data/chest_xray_fullres_sample/train/NORMAL"


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def narrower(image: Image.Image, width: int) -> Image.Image:
    return image.resize((width, round(image.size[1] * width / image.size[0])), Image.BILINEAR)


ENCODINGS = {
    "as shipped": lambda image: image,
    "JPEG quality 75": lambda image: jpeg(image, 75),
    "1,100 px wide": lambda image: narrower(image, 1100),
    "1,100 px wide, quality 75": lambda image: jpeg(narrower(image, 1100), 75),
    "800 px wide, quality 75": lambda image: jpeg(narrower(image, 800), 75),
}


def as_data_set_copy(image: Image.Image) -> np.ndarray:
    """224 x 224 RGB through JPEG quality 75, as `../shared/data/chest_xray` was made."""
    return np.asarray(jpeg(image.convert("RGB").resize((224, 224), Image.BILINEAR), 75), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--run", required=True, action="append")
    args = parser.parse_args()
    print("| run | chosen model | normal originals in validation | encoding | median logit | median change "
          "| called pneumonia |")
    print("|---|---|---:|---|---:|---:|---:|")
    for name in args.run:
        try:
            run = find_run(args.results_dir, name)
        except ToolkitError as error:
            sys.exit(str(error))
        settings = settings_from_run(run)
        chosen = choose_trial(run, None)
        model = load_trial_model(run, settings, chosen)
        held_out = {Path(path).name for path in load_dataset(settings.data).split("validation")["relpath"]}
        originals = [Image.open(path).convert("L") for path in sorted(NORMAL_ORIGINALS.iterdir())
                     if path.name in held_out]
        shipped = None
        for encoding, change in ENCODINGS.items():
            probability = np.asarray(model.predict(np.stack([as_data_set_copy(change(image)) for image in originals]),
                                                   verbose=0), dtype=np.float64).ravel()
            logit = np.log(np.clip(probability, 1e-7, 1) / np.clip(1 - probability, 1e-7, 1))
            shipped = logit if shipped is None else shipped
            called = np.mean(probability >= chosen.operating_point.threshold)
            print(f"| {name} | {chosen.trial_id} | {len(originals)} | {encoding} | {np.median(logit):.2f} | "
                  f"{np.median(logit - shipped):+.2f} | {called:.3f} |", flush=True)


if __name__ == "__main__":
    main()
