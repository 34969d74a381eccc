"""A soak of SIGKILLs over a search with fine-tuning: does the same command, run again after each kill, end with
the records of an untouched run and no temporary files?

    python tools/kill_soak.py [--kills 20] [--between 10 30] [--seed 5] [--work DIR] [-- SEARCH FLAGS…]

Runs the search once untouched, then again in another results folder, killed with SIGKILL `--kills` times at a
moment drawn uniformly from `--between` seconds after each start's work began (when it wrote its manifest: the
minutes of importing and loading before that would take every kill otherwise), started again each time, then
left to finish.
Prints where each kill landed (the search's trials or the fine-tuning stage's epochs, from the run folder),
whether the trial records (timings aside) and the validation scores match, and any temporary file left. The
default search: the real data in ../shared (`--limit 150`, 96 px so that fine-tuning epochs end between kills, the
local ImageNet weights), `--max-epochs 4`, `--finetune-epochs 60` (enough epochs for 20 kills to land in them).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DEFAULT_FLAGS = ["--space", "mobilenet_head", "--data", str(SHARED / "data" / "chest_xray"), "--weights",
                 str(SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
                 "--limit", "150", "--image-size", "96", "--max-epochs", "4", "--finetune-epochs", "60"]


def search(results: Path, flags: list[str], seed: int) -> list[str]:
    return [sys.executable, "cli.py", "search", *flags, "--seed", str(seed), "--run", "soak",
            "--results-dir", str(results), "--cache-dir", str(results.parent / "cache"), "--quiet"]


def records(run: Path) -> dict:
    """Every trial record without its timings, and every kept validation score file."""
    kept = {}
    for path in sorted((run / "trials").glob("*.json")):
        record = json.loads(path.read_text())
        record.pop("seconds", None)
        for epoch in record.get("history", []):
            epoch.pop("seconds", None)
        kept[path.name] = record
    for path in sorted((run / "scores").glob("*.csv")):
        kept[path.name] = path.read_text()
    return kept


def where(run: Path, search_trials: int) -> str:
    """Where a search stands, from its run folder; `search_trials`: how many the untouched run's search had."""
    progress = sorted((run / "finetuning").glob("*/epoch-*"))
    if progress:
        return f"fine-tuning, {progress[-1].name} kept"
    trials = [path for path in (run / "trials").glob("*.json") if "-" not in path.stem] if (run / "trials").is_dir() \
        else []
    if len(trials) == search_trials:
        return "fine-tuning, no epoch kept yet (or the search's last step)"
    return f"search, {len(trials)} trial(s) recorded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--between", type=float, nargs=2, default=(10.0, 30.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, help="a folder for both runs (default: a temporary one)")
    parser.add_argument("flags", nargs="*", help="the search's flags, after `--` (default: see above)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="kill-soak-"))
    flags = args.flags or DEFAULT_FLAGS
    untouched, soaked = work / "untouched" / "results", work / "soaked" / "results"
    shutil.rmtree(soaked, ignore_errors=True)
    manifest = untouched / "soak" / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("finished"):  # an earlier soak's, same flags
        print("untouched run: kept from an earlier soak in the same --work folder")
    else:
        shutil.rmtree(untouched, ignore_errors=True)
        started = time.monotonic()
        subprocess.run(search(untouched, flags, args.seed), cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        print(f"untouched run: {time.monotonic() - started:.0f} s")
    search_trials = len([path for path in (untouched / "soak" / "trials").glob("*.json") if "-" not in path.stem])
    draw = random.Random(args.seed)
    landed = {"search": 0, "fine-tuning": 0}
    for kill in range(1, args.kills + 1):
        manifest = soaked / "soak" / "manifest.json"
        before = manifest.stat().st_mtime_ns if manifest.exists() else 0
        process = subprocess.Popen(search(soaked, flags, args.seed), cwd=REPO, stderr=subprocess.DEVNULL)
        while process.poll() is None and (manifest.stat().st_mtime_ns if manifest.exists() else 0) == before:
            time.sleep(0.1)
        try:
            process.wait(timeout=draw.uniform(*args.between))
            print(f"kill {kill}: the search had finished")
            break
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        stage = where(soaked / "soak", search_trials)
        landed[stage.split(",")[0]] += 1
        print(f"kill {kill}: {stage}")
    final = subprocess.run(search(soaked, flags, args.seed), cwd=REPO, capture_output=True, text=True)
    first_line = final.stderr.splitlines()[0] if final.stderr else ""
    print(f"after the kills: exit {final.returncode}; first line: {first_line}")
    same = records(soaked / "soak") == records(untouched / "soak")
    leftovers = [str(path) for path in (soaked / "soak").rglob("*.tmp*")]
    print(f"kills landed: {landed}; records and validation scores equal to the untouched run's: {same}; "
          f"temporary files left: {leftovers or 'none'}; fine-tuning progress left: "
          f"{(soaked / 'soak' / 'finetuning').exists()}")
    sys.exit(0 if same and not leftovers and final.returncode == 0 else 1)


if __name__ == "__main__":
    main()
