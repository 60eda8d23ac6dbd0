"""``xai evaluate``: evaluate a reference model (or retrained weights) on its test split."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from xai._files import dumps_json
from xai.cli.common import device_problem, fail, flag_message

_log = logging.getLogger(__name__)

__all__ = ["add_evaluate"]


def _weights_problem(value: str) -> str | None:
    path = Path(value)
    if not path.exists():
        return (
            f"--weights: expected a .safetensors checkpoint, got {value!r}, which does not exist."
        )
    if not path.is_file():
        return f"--weights: expected a .safetensors checkpoint, got the folder {value!r}."
    return None


def _evaluate(args: argparse.Namespace) -> int:
    import reference_models
    import xai
    from xai.evaluation.classification import format_metrics_table

    problem = device_problem(args.device)
    if problem:
        return fail("evaluate", problem)
    names = list(dict.fromkeys(args.names))
    if args.weights is not None:
        problem = _weights_problem(args.weights)
        if problem:
            return fail("evaluate", problem)
        weights = Path(args.weights)
        if not names:
            meta_file = weights.with_suffix(".json")
            try:
                meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
            except (ValueError, OSError) as error:
                return fail(
                    "evaluate",
                    f"--weights: the metadata beside {str(weights)!r} ({meta_file}) cannot be "
                    f"read as JSON ({error}). Name the model: "
                    f"xai evaluate NAME --weights {weights}.",
                )
            if not isinstance(meta, dict) or "reference_model" not in meta:
                return fail(
                    "evaluate",
                    f"--weights: cannot tell which reference model {weights} "
                    "belongs to (no 'reference_model' in its JSON). Name it: "
                    f"xai evaluate NAME --weights {weights}.",
                )
            names = [meta["reference_model"]]
        if len(names) != 1:
            return fail("evaluate", "--weights goes with exactly one model NAME.")
    names = names or reference_models.available()
    results = {}
    rows = []
    for name in names:
        try:
            # a bad --weights file is load's "weights: ..." ValueError, shown with the flag
            ref = reference_models.load(name, device=args.device, weights=args.weights)
        except (ValueError, FileNotFoundError) as error:
            message = flag_message(error, {"path": "--weights"}) if args.weights else str(error)
            return fail("evaluate", message)
        report = xai.evaluate(ref.model, ref.data[args.split], class_names=ref.info.class_names)
        results[name] = report.to_dict()
        rows.append((name, report))
    if args.json:
        print(dumps_json({"split": args.split, "models": results}, indent=2))
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
