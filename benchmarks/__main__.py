"""``python -m benchmarks [NAME ...] [--out DIR] [--quick]``: run the registered benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import BENCHMARKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark options (shared by ``python -m benchmarks`` and ``xai bench``)."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})",
    )
    parser.add_argument("--out", default="bench_output", help="folder for the JSON results")
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help="explainers benchmark only: comma-separated models and/or methods to measure, "
        "e.g. --only breast_cancer_mlp or --only shap,lime",
    )


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the benchmarks ``args`` name (all by default); bad arguments end in
    ``parser.error`` (exit code 2, a one-line message)."""
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {', '.join(BENCHMARKS)}")
    options = {}
    if args.only is not None:
        if args.names != ["explainers"]:
            parser.error("--only applies to the explainers benchmark: run `explainers --only ...`")
        options["only"] = [name.strip() for name in args.only.split(",") if name.strip()]
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected a positive count, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out: cannot create the folder {str(out)!r} ({error.strerror})")
    for name in args.names or list(BENCHMARKS):
        print(f"== benchmark {name}", flush=True)
        BENCHMARKS[name](out, quick=args.quick, **options)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
