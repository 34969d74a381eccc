#!/usr/bin/env python
"""Command line of the chest X-ray Keras Tuner toolkit: `python cli.py --help`.

Parses arguments, turns a UsageError into a one-line message with exit code 2, and calls one
function of `tuner/` per command. Heavy imports (Keras, TensorFlow) happen inside those functions.
"""

from __future__ import annotations

import argparse
import json
import sys

from tuner.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every bad input
        raise UsageError(f"{message} (see `python cli.py {self.prog.split()[-1]} --help`)"
                         if " " in self.prog else f"{message} (see `python cli.py --help`)")


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR", help="data folder (else $XRAY_TUNER_DATA, else ./data/chest_xray)")
    parser.add_argument("--image-size", type=int, default=224, metavar="N", help="square image size in pixels (default 224)")
    parser.add_argument("--val-fraction", type=float, default=0.2, metavar="F", help="validation share of train/ (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, sampling and training (default 0)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N images per class in each split, for quick runs")
    parser.add_argument("--cache-dir", metavar="DIR", help="image/feature cache (else $XRAY_TUNER_CACHE, else ~/.cache/xray-tuner)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cli.py", description="Keras Tuner toolkit for pediatric chest X-ray pneumonia classification.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="read and split the data set, and summarise it")
    _add_data_arguments(data)
    data.add_argument("--format", choices=("table", "json"), default="table")

    commands.add_parser("spaces", help="list the search spaces and their hyperparameters")
    return parser


def data_settings(args: argparse.Namespace):
    from pathlib import Path

    from tuner.settings import DataSettings, resolve_data_dir

    return DataSettings(
        data_dir=resolve_data_dir(args.data), image_size=args.image_size, val_fraction=args.val_fraction,
        seed=args.seed, limit=args.limit, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
    )


def cmd_data(args: argparse.Namespace) -> None:
    from tuner.data_report import data_summary, print_data_summary
    from tuner.dataset import load_dataset

    settings = data_settings(args)
    summary = data_summary(load_dataset(settings))
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        from rich.console import Console

        print_data_summary(summary, Console())


def cmd_spaces(args: argparse.Namespace) -> None:
    from rich.console import Console

    from tuner.reporting import print_spaces

    print_spaces(Console())


COMMANDS = {"data": cmd_data, "spaces": cmd_spaces}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
