"""The ``xai`` command line. Each subcommand is a small function; heavy imports happen inside it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from xai._cli_bench import add_bench
from xai._cli_dashboard import add_dashboard
from xai._cli_explain import add_explain
from xai._cli_models import add_evaluate, add_train, fail, out_folder_problem, seed_problem
from xai._cli_report import add_report


def _demo(args: argparse.Namespace) -> int:
    problem = seed_problem(args.seed) or out_folder_problem("--out", args.out)
    if problem:
        return fail("demo", problem)
    from xai.demo import run_demo

    run_demo(args.out, seed=args.seed)
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="evaluate every reference model, explain a few test samples with every method, "
        "write figures and an evaluation report",
        description="Evaluate every reference model on its test split (prints a metrics "
        "table), explain a few test samples of each with every registered method, write the "
        "figures and explanation files to --out, then run the bundled evaluation suite "
        "(as `xai report`) on every reference model into --out/report/index.html.",
    )
    parser.add_argument(
        "--out",
        default="demo_output",
        help="folder for the figures, explanations and report (default: demo_output)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the stochastic methods (default: 0)"
    )
    parser.set_defaults(handler=_demo)


#: Functions that add one subcommand each; new subcommands append theirs here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_demo,
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
