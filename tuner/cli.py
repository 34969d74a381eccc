"""The command line: `xray-tuner --help` installed, `python cli.py --help` from a clone, `python -m tuner.cli`.

Parses arguments, turns a ToolkitError into a one-line message with exit code 2, and calls one
function of the package per command. Heavy imports (Keras, TensorFlow) happen inside those functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides our output
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing notes: each trial is a new model

from tuner.core import errors  # noqa: E402 - after the environment above, which TensorFlow reads at import
from tuner.core.errors import ToolkitError  # noqa: E402


def program_name() -> str:
    """The program as the user typed it: `xray-tuner`, `python cli.py` or `python -m tuner.cli`."""
    started = sys.argv[0] if sys.argv and sys.argv[0] else "cli.py"
    if Path(started).resolve() == Path(__file__).resolve():
        return "python -m tuner.cli"
    typed = Path(started).name
    return f"python {typed}" if typed.endswith(".py") else typed


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--form csv` must not silently mean `--format csv`
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line, exit 2, as for every bad input
        hint = self._suggestion(message)
        raise ToolkitError(f"{message}{hint} (see `{self.prog} --help`)")

    def _suggestion(self, message: str) -> str:
        """'; did you mean --x?' for a misspelled flag or command."""
        import difflib
        import re

        known = [option for action in self._actions for option in action.option_strings]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                known += list(action.choices)
        typed = re.findall(r"(--?[\w-]+)", message.split("unrecognized arguments:")[-1]) \
            if "unrecognized arguments:" in message else re.findall(r"invalid choice: '([^']+)'", message)
        for word in typed:
            close = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
            if close:
                return f"; did you mean {close[0]}?"
        return ""


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR", help="data folder (else $XRAY_TUNER_DATA, else ./data/chest_xray)")
    parser.add_argument("--image-size", type=int, default=_default("image_size"), metavar="N",
                        help="square image size in pixels (default %(default)s)")
    parser.add_argument("--val-fraction", type=float, default=_default("val_fraction"), metavar="F",
                        help="validation share of train/ (default %(default)s)")
    parser.add_argument("--seed", type=int, default=_default("seed"),
                        help="seed of the split, sampling and training (default %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="at most N images per class in each split, for quick runs")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="cache of images, features and (JAX) compiled steps "
                             "(else $XRAY_TUNER_CACHE, else ~/.cache/xray-tuner)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=program_name(),
                     description="Keras Tuner toolkit for pediatric chest X-ray pneumonia classification.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="read and split the data set, and summarise it")
    _add_data_arguments(data)
    data.add_argument("--format", choices=("table", "json"), default="table")

    commands.add_parser("spaces", help="list the search spaces and their hyperparameters")

    search = commands.add_parser("search", help="run (or resume) a Hyperband search")
    search.add_argument("--space", help=f"search space: {_space_names()} (see `spaces`)")
    search.add_argument("--from-run", metavar="NAME", help="repeat an earlier run's exact settings, into a new run")
    _add_training_arguments(search)
    distributed = search.add_argument_group("distributed search (Keras Tuner's chief/worker mode)")
    distributed.add_argument("--workers", type=int, metavar="N",
                             help="run the search with N worker processes on this machine (one GPU each if several)")
    distributed.add_argument("--role", choices=("chief", "worker"),
                             help="this process's part in a search spread over machines sharing --results-dir")
    distributed.add_argument("--oracle", metavar="HOST:PORT",
                             help="the chief's oracle address (the chief listens there; keep it on a trusted network)")
    distributed.add_argument("--worker-id", metavar="ID", help="this worker's name (default: host and process id)")

    train = commands.add_parser("train", help="train one fixed configuration (e.g. a reference model) as a run")
    train.add_argument("--space", required=True, help=f"search space: {_space_names()}")
    train.add_argument("--hp", required=True, metavar="FILE.json",
                       help="hyperparameter values (see search_spaces/reference/ for the reference models)")
    _add_training_arguments(train)

    report = commands.add_parser("report", help="ranked trials of a run (default: the most recent)")
    _add_run_arguments(report)
    report.add_argument("--top", type=int, metavar="N", help="show the N best trials")
    report.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table")
    report.add_argument("--output", metavar="PATH",
                        help="write the csv/json/markdown export (or the --html page) to PATH")
    report.add_argument("--html", action="store_true",
                        help="one self-contained HTML page of the run: trials, plots, test card, error gallery "
                             "(default results/<run>/report.html)")
    report.add_argument("--wide", action="store_true", help="every column, the hyperparameters included")
    report.add_argument("--plots", action="store_true", help="also draw the run's plots (PNG, in results/<run>/plots)")
    report.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="two runs' settings and best trials side by side")
    report.add_argument("--operating-points", action="store_true",
                        help="the run's operating points (validation's and each calibrated site's) instead of the "
                             "trials, in --format table, csv, json or markdown")

    test = commands.add_parser("test", help="evaluate the chosen model once on the test folder")
    _add_run_arguments(test)
    test.add_argument("--trial", metavar="ID", help="evaluate this trial instead of the best one")
    test.add_argument("--data", metavar="DIR", help="the run's data folder, if it has moved")
    test.add_argument("--format", choices=("table", "json"), default="table")
    test.add_argument("--explain", type=int, default=0, metavar="N",
                      help="also Grad-CAM pictures of the N most confident false positives and negatives "
                           "(in results/<run>/test/errors)")
    test.add_argument("--site", metavar="NAME",
                      help="at the operating point calibrated for site NAME (see `calibrate`) instead of validation's")
    test.add_argument("--site-study", action="store_true",
                      help="what site calibration would recover, with the test folder as the site: labelled "
                           "calibration on 25-200 images scored on the rest, unlabelled alignment (one look)")

    predict = commands.add_parser("predict", help="probability and label of image files and folders")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders searched for images")
    _add_run_arguments(predict)
    predict.add_argument("--trial", metavar="ID", help="use this trial instead of the chosen one")
    predict.add_argument("--format", choices=("table", "csv", "json"), default="table")
    predict.add_argument("--explain", action="store_true",
                         help="also a Grad-CAM picture of each image: where the model sees pneumonia")
    predict.add_argument("--explain-dir", metavar="DIR",
                         help="where --explain writes its pictures (default results/<run>/explanations)")
    predict.add_argument("--site", metavar="NAME", help="at the operating point calibrated for site NAME")
    predict.add_argument("--prevalence", type=float, metavar="P",
                         help="share of PNEUMONIA where the images come from, for the shift check of 50 or more "
                              "images (default: the site's, else the run's)")

    calibrate = commands.add_parser("calibrate", help="an operating point for a site, from its labelled or "
                                                      "unlabelled images, recorded in the run")
    source = calibrate.add_mutually_exclusive_group(required=True)
    source.add_argument("--labelled", metavar="DIR", help="the site's images in DIR/NORMAL and DIR/PNEUMONIA")
    source.add_argument("--images", metavar="DIR", help="the site's images, unlabelled (needs --prevalence)")
    calibrate.add_argument("--name", required=True, help="the site point's name, for test/predict --site NAME")
    calibrate.add_argument("--prevalence", type=float, metavar="P",
                           help="share of PNEUMONIA at the site (default with --labelled: the images' own)")
    calibrate.add_argument("--conservative", action="store_true",
                           help="--labelled: the highest threshold whose 95 %% lower bound on recall reaches the "
                                "recall target (or one that finds every site pneumonia where none does)")
    _add_run_arguments(calibrate)
    calibrate.add_argument("--trial", metavar="ID", help="calibrate this trial instead of the chosen one")
    calibrate.add_argument("--overwrite", action="store_true", help="replace a site point of the same name")
    calibrate.add_argument("--format", choices=("table", "json"), default="table")

    demo = commands.add_parser("demo", help="search, report and test on a small SYNTHETIC image set (~1 min)")
    demo.add_argument("--results-dir", default="results", metavar="DIR")
    parser.commands = commands.choices
    return parser


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `search` and `train`: data, run, objective, Hyperband and training settings."""
    from search_spaces.registry import finetune_recipes

    _add_data_arguments(parser)
    _add_run_arguments(parser)
    parser.add_argument("--precision-floor", type=float, default=_default("precision_floor"), metavar="P",
                        help="validation precision a threshold must keep (default %(default)s)")
    parser.add_argument("--recall-target", type=float, default=_default("recall_target"), metavar="R",
                        help="recall the threshold aims at; above it, specificity counts (default %(default)s; "
                             "1 = the highest recall the floor allows)")
    parser.add_argument("--prevalence", type=float, metavar="P",
                        help="share of PNEUMONIA where the model will be used: the floor applies to the precision "
                             "there (default: the validation split's own)")
    parser.add_argument("--finetune-epochs", type=int, metavar="N",
                        help="mobilenet_head: epochs of fine-tuning the best head with MobileNetV2's layers on "
                             f"augmented images after the search (default {_space_default('finetune_epochs')}; "
                             "0 = none)")
    parser.add_argument("--finetune-layers", choices=finetune_recipes(),
                        help="mobilenet_head: which layers fine-tuning trains: all = every layer, on crops from 8 %% "
                             "of the image (default); top = blocks 13-16, on crops from a quarter of it, the "
                             "recipe before, about 0.6 times the time an epoch (give it --finetune-epochs 4)")
    parser.add_argument("--ensemble", action="store_true",
                        help="mobilenet_head: also score the average of the fine-tuned model and its frozen "
                             "parent, and hand it over when it keeps the contract on validation (the default before)")
    parser.add_argument("--max-epochs", type=int, default=_default("max_epochs"),
                        help="Hyperband's most epochs per model (default %(default)s)")
    parser.add_argument("--factor", type=int, default=_default("factor"),
                        help="Hyperband's reduction factor (default %(default)s)")
    parser.add_argument("--hyperband-iterations", type=int, default=_default("hyperband_iterations"),
                        help="Hyperband iterations (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"training batch size (default: the space's, {_space_default('batch_size')})")
    parser.add_argument("--weights", default="imagenet",
                        help="MobileNetV2 weights: imagenet (download), a local .h5 PATH, or none")
    parser.add_argument("--no-feature-cache", dest="feature_cache", action="store_false",
                        help="mobilenet_head: run the backbone in every epoch instead of caching its features")
    parser.add_argument("--mixed-precision", action="store_true", help="float16 compute (for GPUs)")
    parser.add_argument("--tensorboard", action="store_true",
                        help="per-trial TensorBoard logs in results/<run>/tensorboard (TensorFlow backend)")
    parser.add_argument("--deterministic", action="store_true",
                        help="the backend's deterministic ops (slower; identical results on a GPU too)")
    parser.add_argument("--max-failed-trials", type=int, default=_default("max_failed_trials"), metavar="N",
                        help="stop after N failed trials in a row (default %(default)s)")
    parser.add_argument("--time-budget", type=_duration, metavar="TIME",
                        help="start no new trial after TIME (e.g. 45m, 2h, 90s); the same command goes on later")
    parser.add_argument("--overwrite", action="store_true", help="start the run over, deleting its results")
    parser.add_argument("--quiet", action="store_true", help="no live progress display")


def _default(name: str):
    """A setting's default, from its one home (tuner/core/settings.py), for the flag and its help."""
    from dataclasses import MISSING, fields

    from tuner.core.settings import DataSettings, SearchSettings

    for settings_class in (SearchSettings, DataSettings):
        for field in fields(settings_class):
            if field.name == name and field.default is not MISSING:
                return field.default
    raise KeyError(name)


def _space_names() -> str:
    from search_spaces.registry import SPACES

    return " or ".join(SPACES)


def _space_default(name: str) -> str:
    """A flag default that depends on the space, as help text: "32 for cnn_depth, 128 for mobilenet_head"."""
    from search_spaces.registry import SPACES

    return ", ".join(f"{getattr(entry, name)} for {space}" for space, entry in SPACES.items())


def _duration(text: str) -> float:
    """'45m', '2h', '1h30m', '90s' -> seconds."""
    import re

    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 45m, 2h, 1h30m or 90s")
    hours, minutes, seconds = (float(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", metavar="NAME", help="run name (default: new for search, most recent otherwise)")
    parser.add_argument("--results-dir", default="results", metavar="DIR", help="where runs live (default results)")


def data_settings(args: argparse.Namespace):
    from tuner.core.settings import DataSettings, resolve_data_dir

    return DataSettings(
        data_dir=resolve_data_dir(args.data), image_size=args.image_size, val_fraction=args.val_fraction,
        seed=args.seed, limit=args.limit, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
    )


def cmd_data(args: argparse.Namespace) -> None:
    from tuner.data.dataset import load_dataset
    from tuner.data.summary import data_summary
    from tuner.reporting.tables import print_data_summary

    settings = data_settings(args)
    summary = data_summary(load_dataset(settings))
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print_data_summary(summary, _console())


def cmd_spaces(args: argparse.Namespace) -> None:
    from tuner.reporting.tables import print_spaces

    print_spaces(_console())


def cmd_search(args: argparse.Namespace) -> None:
    # The flags are checked before the engine (and with it Keras) is imported: a typo is refused at once.
    if getattr(args, "from_run", None):
        settings = _settings_from_earlier_run(args)
    elif not args.space:
        raise ToolkitError(f"search needs --space NAME ({_space_names()}) or --from-run NAME")
    else:
        settings = _settings_from_flags(args)
    if args.workers is not None:
        from tuner.engine.distributed import search_with_local_workers

        if args.role:
            raise ToolkitError("--workers starts its own chief and workers: leave out --role")
        run = search_with_local_workers(settings, args.argv, args.workers, show_progress=not args.quiet)
    else:
        from tuner.engine.distributed import Distribution
        from tuner.engine.search import run_search

        distribution = Distribution.parse(args.role, args.oracle, args.worker_id) if args.role else None
        run = run_search(settings, command_line=args.command_line, distribution=distribution)
        if args.role == "worker":
            return  # the chief reports
    from tuner.reporting.tables import print_report

    _console().print(f"\nSearch finished: {run.directory}")
    print_report(run, 5, _console())


def cmd_train(args: argparse.Namespace) -> None:
    from search_spaces.reference import load_reference
    from tuner.engine.search import run_search
    from tuner.reporting.tables import print_report

    point = load_reference(args.hp, args.space)
    hp = point["hyperparameters"]
    values = {declared.name: hp.values[declared.name] for declared in hp.space if hp.is_active(declared)}
    run = run_search(_settings_from_flags(args, fixed_hyperparameters=values, name=point["name"]),
                     command_line=args.command_line)
    _console().print(f"\nTrained {point['name']}: {run.directory}")
    print_report(run, None, _console())


def _settings_from_flags(args: argparse.Namespace, fixed_hyperparameters: dict | None = None,
                         name: str | None = None):
    from dataclasses import replace

    from search_spaces.registry import DEFAULT_FINETUNE_RECIPE
    from search_spaces.weights import validate_weights
    from tuner.core.settings import SearchSettings, settings_digest
    from tuner.core.spaces import space_entry

    space = space_entry(args.space)
    weights = None if args.weights.lower() == "none" else args.weights
    if weights not in (None, "imagenet") and space.frozen_backbone:
        weights = validate_weights(weights)
    settings = SearchSettings(
        space=args.space, data=data_settings(args), results_dir=Path(args.results_dir),
        run_name=args.run or "pending",
        precision_floor=args.precision_floor, recall_target=args.recall_target, prevalence=args.prevalence,
        fixed_hyperparameters=fixed_hyperparameters,
        max_epochs=args.max_epochs, factor=args.factor, hyperband_iterations=args.hyperband_iterations,
        batch_size=space.batch_size if args.batch_size is None else args.batch_size,
        weights=weights, feature_cache=args.feature_cache,
        finetune_epochs=space.finetune_epochs if args.finetune_epochs is None else args.finetune_epochs,
        finetune_layers=args.finetune_layers or space.default_recipe or DEFAULT_FINETUNE_RECIPE, ensemble=args.ensemble,
        mixed_precision=args.mixed_precision, max_failed_trials=args.max_failed_trials,
        deterministic=args.deterministic, tensorboard=args.tensorboard, overwrite=args.overwrite,
        time_budget=args.time_budget,
        show_progress=not args.quiet,
    )
    for flag, given in (("--finetune-layers", args.finetune_layers), ("--ensemble", args.ensemble)):
        if given and not settings.finetunes:
            raise ToolkitError(f"{flag}{' ' + given if isinstance(given, str) else ''} needs the fine-tuning stage: "
                               "use it with --space mobilenet_head and --finetune-epochs 1 or more")
    if args.run:
        return settings
    # The default name is the settings' own: the same command finds, and resumes, the same run.
    prefix = f"{args.space}-{name}" if name else args.space
    return replace(settings, run_name=f"{prefix}-{settings_digest(settings)}")


def _settings_from_earlier_run(args: argparse.Namespace):
    """An earlier run's settings, exactly, for a new run (`--run`, else the old name + '-rerun-<time>')."""
    from dataclasses import replace

    from tuner.core.runs import find_run
    from tuner.core.settings import settings_digest, settings_from_run

    earlier = find_run(Path(args.results_dir), args.from_run)
    settings = settings_from_run(earlier)
    name = args.run or f"{earlier.name}-rerun-{settings_digest(settings)}"
    return replace(settings, run_name=name, overwrite=args.overwrite, show_progress=not args.quiet)


def _find_run(args: argparse.Namespace):
    from tuner.core.runs import find_run

    return find_run(Path(args.results_dir), args.run)


def cmd_report(args: argparse.Namespace) -> None:
    from tuner.core.runs import find_run
    from tuner.reporting.tables import format_report, print_comparison, print_report

    if args.compare:
        first, second = (find_run(Path(args.results_dir), name) for name in args.compare)
        print_comparison(first, second, _console())
        return
    if args.operating_points and (args.html or args.plots or args.top or args.wide):
        raise ToolkitError("--operating-points is an export of its own: leave out --html, --plots, --top and --wide")
    if args.output and args.format == "table" and not args.html:
        raise ToolkitError("--output needs --format csv, json or markdown, or --html")
    run = _find_run(args)
    if args.html:
        from tuner.reporting.html import write_html_report

        if args.format != "table":
            raise ToolkitError("--html is a page of its own: leave out --format")
        path = write_html_report(run, Path(args.output) if args.output else run.directory / "report.html")
        print(f"wrote {path}", file=sys.stderr)
        return
    if args.operating_points:
        from tuner.reporting.tables import format_operating_points, print_operating_points

        if args.format == "table":
            print_operating_points(run, _console(wide=True), always=True)
        else:
            _write_or_print(format_operating_points(run, args.format), args.output)
        return
    if args.plots:
        from tuner.reporting.plots import plot_search, plot_site_study, plot_test

        paths = plot_search(run) + (plot_test(run) if (run.test_dir / "metrics.json").is_file() else [])
        paths += plot_site_study(run)
        for path in paths:
            print(f"plot: {path}", file=sys.stderr)
    if args.format == "table":
        print_report(run, args.top, _console(wide=args.wide))
        return
    _write_or_print(format_report(run, args.format, args.top), args.output)


def _write_or_print(text: str, output: str | None) -> None:
    """An export to the file `output` (atomically), else to standard output."""
    if output:
        from tuner.core.atomic import write_text

        write_text(Path(output), text if text.endswith("\n") else text + "\n")
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(text)


def cmd_test(args: argparse.Namespace) -> None:
    from tuner.evaluation.holdout import run_test
    from tuner.reporting.plots import plot_site_study, plot_test
    from tuner.reporting.tables import print_site_study, print_test_result

    if args.explain < 0:
        raise ToolkitError(f"--explain {args.explain} must be 0 (no pictures) or more")
    if args.site_study and (args.site or args.explain):
        raise ToolkitError("--site-study is a study of its own: leave out --site and --explain")
    run = _find_run(args)
    if args.site_study:
        from tuner.evaluation.site_study import run_site_study

        result = run_site_study(run, args.trial, args.data)
        _print_result(result, args.format, print_site_study, plot_site_study(run))
        return
    if args.site:
        from tuner.evaluation.sites import check_site_name

        check_site_name(run, args.site, must_exist=True)  # before the model loads
    result = run_test(run, args.trial, args.data, explain=args.explain, site=args.site)
    for item in result.error_gallery:
        print(f"{item['kind']}: {run.test_dir / item['picture']}", file=sys.stderr)
    _print_result(result, args.format, print_test_result, [] if args.site else plot_test(run))


def _print_result(result, fmt: str, print_table, plots: list[Path]) -> None:
    """A test run's plots (named on stderr), then its result (a `HoldoutResult` or the site study's dict) as JSON
    or as `print_table` draws it."""
    for path in plots:
        print(f"plot: {path}", file=sys.stderr)
    if fmt == "json":
        print(json.dumps(result.to_json() if hasattr(result, "to_json") else result, indent=2))
    else:
        print_table(result, _console())


def cmd_predict(args: argparse.Namespace) -> None:
    from tuner.core.settings import check_prevalence
    from tuner.evaluation.predict import predict_files
    from tuner.evaluation.shift import shift_warning
    from tuner.reporting.tables import print_predictions

    if args.explain_dir and not args.explain:
        raise ToolkitError("--explain-dir goes with --explain")
    check_prevalence(args.prevalence, "where the images come from")
    run = _find_run(args)
    if args.site:
        from tuner.evaluation.sites import check_site_name

        check_site_name(run, args.site, must_exist=True)
    explain_dir = None
    if args.explain:
        explain_dir = Path(args.explain_dir) if args.explain_dir else run.directory / "explanations"
    result = predict_files(run, args.images, args.trial, explain_dir, site=args.site, prevalence=args.prevalence)
    rows = result["predictions"]
    if args.format == "json":
        print(json.dumps(result, indent=2))
    elif args.format == "csv":
        import pandas as pd

        print(pd.DataFrame(rows).to_csv(index=False), end="")
    else:
        print_predictions(rows, _console())
    for row in result["skipped"]:
        print(f"skipped {row['file']}: {row['reason']}", file=sys.stderr)
    for row in rows:
        if "explanation" in row:
            print(f"explanation: {row['explanation']}", file=sys.stderr)
    warning = shift_warning(result["shift_check"])
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_calibrate(args: argparse.Namespace) -> None:
    from tuner.evaluation.sites import calibrate_site
    from tuner.reporting.tables import print_site_point

    run = _find_run(args)
    point = calibrate_site(run, args.name, labelled=args.labelled, images=args.images, prevalence=args.prevalence,
                           trial_id=args.trial, conservative=args.conservative, overwrite=args.overwrite)
    for row in point["skipped"]:
        print(f"skipped {row['file']}: {row['reason']}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({key: value for key, value in point.items() if key != "image_sha256"}, indent=2))
    else:
        print_site_point(point, _console())


def cmd_demo(args: argparse.Namespace) -> None:
    from tuner.demo import run_demo

    run_demo(Path(args.results_dir), _console())


def _console(wide: bool = False):
    from rich.console import Console

    # Piped or captured output (a log, a file, a notebook cell) gets room for the wide trial table.
    # Colour carries meaning only where the text marks it up: no automatic highlighting of numbers and paths.
    if wide or not sys.stdout.isatty():
        return Console(width=max(Console().width, 160), highlight=False)
    return Console(highlight=False)


COMMANDS = {"data": cmd_data, "spaces": cmd_spaces, "search": cmd_search, "train": cmd_train, "report": cmd_report,
            "test": cmd_test, "predict": cmd_predict, "calibrate": cmd_calibrate, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    errors.PROGRAM = program_name()  # messages name the program as the user typed it
    try:
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # reported by the command's own parser, which knows its flags
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
        args.argv = list(sys.argv[1:] if argv is None else argv)
        args.command_line = shlex.join([*program_name().split(), *args.argv])
        COMMANDS[args.command](args)
    except ToolkitError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def run() -> None:
    from tuner.core.allocator import relaunch_with_tcmalloc
    from tuner.core.quiet import filter_native_stderr

    relaunch_with_tcmalloc(sys.argv[1:])
    filter_native_stderr()
    sys.exit(main())


if __name__ == "__main__":
    run()
