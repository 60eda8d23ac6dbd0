"""``xai train``: retrain a reference model with its recipe and write its checkpoint."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from xai._files import dumps_json
from xai.cli.common import device_problem, fail, flag_message, out_folder_problem, seed_problem

_log = logging.getLogger(__name__)

__all__ = ["add_train"]


def _train(args: argparse.Namespace) -> int:
    import reference_models
    from xai.evaluation.classification import format_metrics_table

    if args.epochs is not None and args.epochs < 1:
        return fail("train", f"--epochs: expected an integer >= 1, got {args.epochs}.")
    try:
        reference_models.get_recipe(args.name)
    except ValueError as error:
        return fail("train", str(error))
    problem = (
        device_problem(args.device)
        or seed_problem(args.seed)
        or out_folder_problem("--out", args.out)
    )
    if problem:
        return fail("train", problem)
    checkpoint = Path(args.out) / f"{args.name}.safetensors"
    options: dict[str, Any] = {}
    if args.resume is not None:  # --resume alone: the run this command writes to
        options["resume"] = Path(args.resume) if args.resume else checkpoint
    try:
        result = reference_models.train(
            args.name,
            epochs=args.epochs,
            device=args.device,
            seed=args.seed,
            out=args.out,
            **options,
        )
    except ValueError as error:
        return fail("train", flag_message(error, {"resume": "--resume", "epochs": "--epochs"}))
    except KeyboardInterrupt:
        from xai.training.checkpoint import state_path

        if state_path(checkpoint).is_file():
            again = f"xai train {args.name} --out {args.out}"
            if args.epochs is not None:
                again += f" --epochs {args.epochs}"
            if args.seed is not None:
                again += f" --seed {args.seed}"
            saved = (
                f"the last complete checkpoint is in {checkpoint}; continue with `{again} --resume`"
            )
        else:
            saved = "no epoch had been checkpointed yet"
        print(f"xai train: interrupted; {saved}.", file=sys.stderr)
        return 130
    if args.json:
        print(
            dumps_json(
                {
                    "model": args.name,
                    "weights": str(result.path),
                    "metrics": result.metrics,
                    "best_epoch": result.history.best_epoch,
                    "epochs_run": len(result.history),
                },
                indent=2,
            )
        )
        return 0
    print(
        f"xai train: {args.name} trained for {len(result.history)} epoch(s), best epoch "
        f"{result.history.best_epoch}; weights in {result.path}"
    )
    rows = [(f"{args.name} [{split}]", metrics) for split, metrics in result.metrics.items()]
    print(format_metrics_table(rows))
    return 0


def add_train(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai train NAME [--epochs --device --seed --out --resume [PATH] --json]``."""
    parser = subparsers.add_parser(
        "train", help="retrain a reference model with its recorded recipe"
    )
    parser.add_argument("name", help="reference model (see `xai evaluate` for the list)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's)")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the recipe's)")
    parser.add_argument(
        "--out",
        default="trained_models",
        help="folder for NAME.safetensors, NAME.json, NAME.history.json (default: trained_models)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="continue an interrupted run from its checkpoint, with the same --epochs and "
        "--seed (PATH defaults to OUT/NAME.safetensors); the result equals an uninterrupted run",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(handler=_train)
