"""The ``xai`` command line. Each subcommand is a small function; heavy imports happen inside it.

Conventions every subcommand follows (docs/command_line.md): ``-q``/``-v``; ``--json`` where it
prints results; log lines and progress on stderr, results on stdout; exit code 0 on success,
2 (:data:`~xai.cli.common.USAGE_ERROR`) for every usage error, 130 when interrupted;
``xai report`` keeps pytest's codes (1: a check failed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from xai.cli.bench import add_bench
from xai.cli.common import USAGE_ERROR, add_output_flags, logging_to_stderr, plain_help
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


def _version() -> str:
    import xai

    return f"xai {xai.__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The ``xai`` parser: ``--version`` and one subparser per entry of :data:`SUBCOMMANDS`,
    each with ``-q``/``-v`` (added here when the subcommand did not add them itself), help in
    plain words."""
    parser = argparse.ArgumentParser(
        prog="xai",
        description="Explainability and evaluation for PyTorch.",
        epilog="Run `xai COMMAND --help` for a command's options. Exit codes: 0 success, "
        f"{USAGE_ERROR} usage error (a bad flag, value or file), 130 interrupted; "
        "`xai report` exits as pytest does (1: a check failed).",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    for subparser in dict.fromkeys(subparsers.choices.values()):
        if not any("--quiet" in action.option_strings for action in subparser._actions):
            add_output_flags(subparser)
    plain_help(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``xai ARGV`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return USAGE_ERROR
    with logging_to_stderr(args.command, args):
        return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
