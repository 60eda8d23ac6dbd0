"""The ``xai`` command line. Each subcommand is a small function; heavy imports happen inside it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from xai._cli_dashboard import add_dashboard
from xai._cli_models import add_evaluate, add_train
from xai._cli_report import add_report


def _demo(args: argparse.Namespace) -> int:
    from xai.demo import run_demo

    run_demo(args.out, seed=args.seed)
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="explain a small model with every method, write figures"
    )
    parser.add_argument(
        "--out", default="demo_output", help="folder for figures (default: demo_output)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.set_defaults(handler=_demo)


#: Functions that add one subcommand each; new subcommands append theirs here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_demo,
    add_train,
    add_evaluate,
    add_report,
    add_dashboard,
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
