"""The ``xai`` command line. Each subcommand is a small function; heavy imports happen inside it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from xai.cli.bench import add_bench
from xai.cli.dashboard import add_dashboard
from xai.cli.demo import add_demo
from xai.cli.evaluate import add_evaluate
from xai.cli.explain import add_explain
from xai.cli.report import add_report
from xai.cli.train import add_train

#: Functions that add one subcommand each; new subcommands append theirs here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_demo,
    add_train,
    add_evaluate,
    add_explain,
    add_report,
    add_dashboard,
    add_bench,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xai", description="Explainability and evaluation for PyTorch."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
