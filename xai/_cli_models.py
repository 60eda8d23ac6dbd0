"""``xai train`` and ``xai evaluate``: retrain and evaluate the reference models."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

_log = logging.getLogger(__name__)

__all__ = ["add_evaluate", "add_train"]


def _train(args: argparse.Namespace) -> int:
    import reference_models
    from xai.evaluation import format_metrics_table

    if args.epochs is not None and args.epochs < 1:
        print(f"xai train: --epochs: expected an integer >= 1, got {args.epochs}.", file=sys.stderr)
        return 2
    try:
        result = reference_models.train(
            args.name, epochs=args.epochs, device=args.device, seed=args.seed, out=args.out
        )
    except ValueError as error:
        print(f"xai train: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
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
    """Add ``xai train NAME [--epochs --device --seed --out --json]``."""
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
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(handler=_train)


def _evaluate(args: argparse.Namespace) -> int:
    import reference_models
    import xai
    from xai.evaluation import format_metrics_table

    names = list(args.names)
    if args.weights is not None:
        weights = Path(args.weights)
        if not names:
            meta_file = weights.with_suffix(".json")
            meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
            if "reference_model" not in meta:
                print(
                    f"xai evaluate: --weights: cannot tell which reference model {weights} "
                    "belongs to (no 'reference_model' in its JSON). Name it: "
                    f"xai evaluate NAME --weights {weights}.",
                    file=sys.stderr,
                )
                return 2
            names = [meta["reference_model"]]
        if len(names) != 1:
            print("xai evaluate: --weights goes with exactly one model NAME.", file=sys.stderr)
            return 2
    names = names or reference_models.available()
    results = {}
    rows = []
    for name in names:
        try:
            ref = reference_models.load(name, device=args.device, weights=args.weights)
        except (ValueError, FileNotFoundError) as error:
            print(f"xai evaluate: {error}", file=sys.stderr)
            return 2
        report = xai.evaluate(ref.model, ref.data[args.split], class_names=ref.info.class_names)
        results[name] = report.to_dict()
        rows.append((name, report))
    if args.json:
        print(json.dumps({"split": args.split, "models": results}, indent=2))
    else:
        print(f"split: {args.split}")
        print(format_metrics_table(rows))
    return 0


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai evaluate [NAME ...] [--weights PATH] [--split] [--device] [--json]``."""
    parser = subparsers.add_parser(
        "evaluate", help="evaluate reference models (shipped or given weights), print a table"
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="reference model(s) (default: all)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="a checkpoint (.safetensors) to evaluate instead of the shipped weights",
    )
    parser.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="data split (default: test)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(handler=_evaluate)
