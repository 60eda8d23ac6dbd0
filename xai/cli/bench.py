"""``xai bench``: the performance benchmarks of a source checkout (``make bench``).

The benchmarks are not part of the installed package (they compare against the peer libraries
and need the repository's harness); from an installed wheel the subcommand says how to get them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: The checkout this package was loaded from, if it is one: ``<root>/xai/cli/bench.py``.
CHECKOUT = Path(__file__).resolve().parents[2]

_HELP = (
    "time the explainers against their model-pass floor and the peer libraries, and the "
    "training loop; write JSON"
)


def _benchmarks_available() -> bool:
    return (CHECKOUT / "benchmarks" / "__main__.py").is_file()


def add_bench(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai bench [NAME ...] [--out --quick --threads --only]``."""
    description = (
        "Run the performance benchmarks (see docs/performance.md); each prints a table and "
        "writes OUT/NAME.json."
    )
    if not _benchmarks_available():
        parser = subparsers.add_parser("bench", help=_HELP, description=description)
        parser.add_argument("names", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(handler=_no_checkout)
        return
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from benchmarks.__main__ import add_arguments, run

    parser = subparsers.add_parser("bench", help=_HELP, description=description)
    add_arguments(parser)
    parser.set_defaults(handler=lambda args: run(args, parser))


def _no_checkout(args: argparse.Namespace) -> int:
    print(
        "xai bench: the benchmarks ship with the source, not with the installed package. "
        "Clone the repository, then run `make bench` (or `xai bench`) inside it.",
        file=sys.stderr,
    )
    return 2
