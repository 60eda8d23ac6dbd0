"""``xai bench``: the performance benchmarks (the ``benchmarks`` package, as ``make bench``)."""

from __future__ import annotations

import argparse


def add_bench(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai bench [NAME ...] [--out --quick --threads --only]``."""
    from benchmarks.__main__ import add_arguments, run

    parser = subparsers.add_parser(
        "bench",
        help="time the explainers against their model-pass floor and the peer libraries, "
        "and the training loop; write JSON",
        description="Run the performance benchmarks (see docs/performance.md); each prints a "
        "table and writes OUT/NAME.json.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=lambda args: run(args, parser))
