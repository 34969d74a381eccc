"""Write docs/errors.md: every bad input, run for real, with the exact message it gives.

    python tools/make_errors_doc.py   (needs ../shared for the weights cases)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO.parent / "shared" / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def error_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    """(title, argv) of every bad input, with the files they need made in `tmp`."""
    sys.path.insert(0, str(REPO))
    from tuner.demo import make_synthetic_dataset

    data = make_synthetic_dataset(tmp / "chest_xray", patients_per_class={"train": 6, "test": 3})
    (tmp / "empty").mkdir()
    (tmp / "no_classes" / "train").mkdir(parents=True)
    (tmp / "no_classes" / "test").mkdir(parents=True)
    broken = make_synthetic_dataset(tmp / "broken", patients_per_class={"train": 4, "test": 2})
    for image in (broken / "train" / "NORMAL").iterdir():
        image.write_bytes(b"not an image")
    (tmp / "notes.txt").write_text("hello")
    (tmp / "not_hdf5.h5").write_text("hello")
    (tmp / "a_file").write_text("")
    results = tmp / "results"
    (results / "unfinished").mkdir(parents=True)
    (results / "unfinished" / "settings.json").write_text('{"precision_floor": 0.9}')
    search = ["search", "--space", "cnn_depth", "--data", str(data), "--results-dir", str(results)]
    cases = [
        ("data folder missing", ["data", "--data", str(tmp / "nowhere")]),
        ("no data folder given and none at ./data/chest_xray", ["data"]),
        ("wrong layout (no train/)", ["data", "--data", str(tmp / "empty")]),
        ("no class folders", ["data", "--data", str(tmp / "no_classes")]),
        ("a class folder with no readable image", ["data", "--data", str(broken)]),
        ("--val-fraction outside (0, 1)", ["data", "--data", str(data), "--val-fraction", "1.5"]),
        ("--image-size below 32", ["data", "--data", str(data), "--image-size", "16"]),
        ("a flag value of the wrong type", ["data", "--data", str(data), "--image-size", "big"]),
        ("unknown space", ["search", "--space", "resnet", "--data", str(data)]),
        ("--precision-floor outside (0, 1)", [*search, "--precision-floor", "1.2"]),
        ("--recall-target outside (0, 1]", [*search, "--recall-target", "1.5"]),
        ("--prevalence outside (0, 1)", [*search, "--prevalence", "0"]),
        ("--time-budget that is not a duration", [*search, "--time-budget", "45"]),
        ("a misspelled flag", [*search, "--precison-floor", "0.9"]),
        ("an abbreviated flag", ["report", "--results-dir", str(results), "--form", "csv"]),
        ("a misspelled command", ["serch", "--space", "cnn_depth"]),
        ("--data pointing at the test/ folder", ["search", "--space", "cnn_depth", "--data", str(data / "test"),
                                                 "--results-dir", str(results)]),
        ("--max-epochs below 1", [*search, "--max-epochs", "0"]),
        ("--factor below 2", [*search, "--factor", "1"]),
        ("a run name that could leave the results folder", [*search, "--run", "../elsewhere"]),
        ("weights file missing", ["search", "--space", "mobilenet_head", "--data", str(data),
                                  "--weights", str(tmp / "missing.h5")]),
        ("weights file not HDF5", ["search", "--space", "mobilenet_head", "--data", str(data),
                                   "--weights", str(tmp / "not_hdf5.h5")]),
        ("results folder that cannot be written", ["search", "--space", "cnn_depth", "--data", str(data),
                                                   "--results-dir", str(tmp / "a_file" / "results")]),
        ("no runs at all", ["report", "--results-dir", str(tmp / "no_results")]),
        ("unknown run", ["report", "--results-dir", str(results), "--run", "nosuchrun"]),
        ("test on a run with no finished trial", ["test", "--results-dir", str(results), "--run", "unfinished"]),
        ("predict on a folder with no images", ["predict", str(tmp / "empty"), "--results-dir", str(results),
                                                "--run", "unfinished"]),
        ("predict on a run with no finished trial", ["predict", str(tmp / "notes.txt"), "--results-dir",
                                                     str(results), "--run", "unfinished"]),
        ("--explain with a negative count", ["test", "--results-dir", str(results), "--explain", "-1"]),
        ("--explain-dir without --explain", ["predict", str(tmp / "notes.txt"), "--results-dir", str(results),
                                            "--explain-dir", str(tmp / "pictures")]),
        ("--html with --format", ["report", "--results-dir", str(results), "--run", "unfinished", "--html",
                                 "--format", "csv"]),
        ("calibrate without site images", ["calibrate", "--name", "clinic", "--results-dir", str(results)]),
        ("calibrate on a folder without class folders", ["calibrate", "--labelled", str(tmp / "empty"), "--name",
                                                         "clinic", "--results-dir", str(results), "--run",
                                                         "unfinished"]),
        ("calibrate on unlabelled images without --prevalence", ["calibrate", "--images", str(data / "test"),
                                                                 "--name", "clinic", "--results-dir", str(results),
                                                                 "--run", "unfinished"]),
        ("a site name that could leave the run", ["calibrate", "--images", str(data / "test"), "--prevalence", "0.3",
                                                  "--name", "../clinic", "--results-dir", str(results), "--run",
                                                  "unfinished"]),
        ("test at an unknown site", ["test", "--site", "clinic", "--results-dir", str(results), "--run",
                                     "unfinished"]),
        ("--site-study with --site", ["test", "--site-study", "--site", "clinic", "--results-dir", str(results)]),
        ("predict with --prevalence outside (0, 1)", ["predict", str(tmp / "notes.txt"), "--prevalence", "1",
                                                      "--results-dir", str(results)]),
    ]
    return cases


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        cases = error_cases(tmp)
        lines = ["# Errors", "",
                 "Every bad input gives one line on stderr and exit code 2, with no traceback, no line from the "
                 "libraries (checked without TF_CPP_MIN_LOG_LEVEL), and changes no file; a refused search leaves "
                 "no run folder.",
                 "This page is generated by `python tools/make_errors_doc.py`, which runs each case for real "
                 "(paths below are from its scratch folder).", "",
                 "| bad input | command | message |", "|---|---|---|"]
        for title, argv in cases:
            shown, text = run_case(argv, tmp)
            # Double backticks: the messages quote commands in single ones.
            lines.append(f"| {title} | `python cli.py {shown}` | `` {text} `` |")
    lines += ["", "Also covered by tests (their messages depend on the run): resuming a run with other settings "
              "(names each differing setting), a second search on a running run (names the process), `test` when the "
              "run's data folder has moved or its contents changed (names the folder; `--data` overrides), "
              "`predict` on a file that is not an image, a weights file of the wrong architecture, "
              "a search that keeps failing (`--max-failed-trials`), `test` when no trial reached the floor "
              "(asks for `--trial ID`).", ""]
    (REPO / "docs" / "errors.md").write_text("\n".join(lines))
    print(f"wrote {REPO / 'docs' / 'errors.md'} ({len(cases)} cases)")


def _env() -> dict:
    import os

    env = dict(os.environ)
    env.pop("XRAY_TUNER_DATA", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the libraries' real output, as a user sees it
    env["XRAY_TUNER_CACHE"] = str(Path(tempfile.gettempdir()) / "xray-errors-cache")
    return env


def run_case(argv: list[str], tmp: Path) -> tuple[str, str]:
    """Run one bad input as a user would; (the command, its one-line message), with $TMP for the scratch
    folder. Fails unless it exits with code 2 and one `error:` line on stderr, and nothing on stdout."""
    # From the scratch folder, so that the ./data/chest_xray default finds nothing.
    completed = subprocess.run([sys.executable, str(REPO / "cli.py"), *argv], cwd=tmp,
                               capture_output=True, text=True, timeout=300, env=_env())
    message = completed.stderr.splitlines()
    assert completed.returncode == 2 and len(message) == 1 and message[0].startswith("error:") \
        and not completed.stdout, (argv, completed.returncode, completed.stdout, completed.stderr)
    shown = " ".join(argv).replace(str(tmp), "$TMP").replace(str(REPO.parent), "..")
    return shown, message[0].replace(str(tmp), "$TMP").replace(str(REPO.parent), "..")


if __name__ == "__main__":
    main()
