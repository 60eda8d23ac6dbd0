"""``xai evaluate``: evaluate reference models (shipped or retrained weights) on a split, or your
own ``module:factory`` model with ``--weights`` and ``--data`` (as ``xai explain`` takes it)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from xai._files import dumps_json
from xai.cli.common import (
    add_output_flags,
    device_problem,
    fail,
    flag_message,
    subject_from_arguments,
)

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
    from xai.suite.subject import reference_subject

    problem = device_problem(args.device)
    if problem:
        return fail("evaluate", problem)
    names = list(dict.fromkeys(args.names))
    references = reference_models.available()
    factories = [name for name in names if name not in references and ":" in name]
    if factories or args.data is not None:
        return _evaluate_own_model(args, names, factories)
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
    names = names or references
    results = {}
    rows = []
    for name in names:
        try:
            # a bad --weights file is load's "weights: ..." ValueError, shown with the flag
            ref = reference_models.load(name, device=args.device, weights=args.weights)
        except (ValueError, FileNotFoundError) as error:
            message = flag_message(error, {"path": "--weights"}) if args.weights else str(error)
            return fail("evaluate", message)
        # the text model's sentences with their attention masks (its data's fourth tensor)
        report = reference_subject(name, lambda _, ref=ref: ref, split=args.split).evaluate()
        results[name] = report.to_dict()
        rows.append((name, report))
    _print(args, args.split, results, rows)
    return 0


def _print(
    args: argparse.Namespace, split: str, results: dict[str, Any], rows: list[tuple[str, Any]]
) -> None:
    from xai.evaluation.classification import format_metrics_table

    if args.json:
        print(dumps_json({"split": split, "models": results}, indent=2))
    else:
        print(f"split: {split}")
        print(format_metrics_table(rows))


def _evaluate_own_model(args: argparse.Namespace, names: list[str], factories: list[str]) -> int:
    """``xai evaluate module:factory --weights W --data D``: the model on the data of D."""
    import xai
    from xai._device import pick_device

    if len(names) != 1 or not factories:
        return fail(
            "evaluate",
            "MODEL: a module:factory model is evaluated alone (with its --weights and --data); "
            f"got {' '.join(names) or 'no MODEL'}"
            + (" with --data, which only a module:factory model takes." if not factories else "."),
        )
    if args.split != "test":
        return fail(
            "evaluate",
            f"--split: only for reference models; {names[0]}'s data is the --data file "
            "(drop --split).",
        )
    try:
        subject = subject_from_arguments(names[0], args.weights, args.data)
    except (TypeError, ValueError) as error:
        return fail("evaluate", flag_message(error, {"model": "MODEL"}))
    model = subject.model.to(pick_device(args.device))
    report = xai.evaluate(model, (subject.inputs, subject.labels), class_names=subject.class_names)
    split = Path(args.data).name
    _print(args, split, {subject.name: report.to_dict()}, [(subject.name, report)])
    return 0


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai evaluate [MODEL ...] [--weights PATH] [--data PATH] [--split] [--device]
    [--json]``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate reference models (shipped or given weights) or your own model, print "
        "a table",
        description=__doc__,
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="MODEL",
        help="reference model(s) (default: all), or one module:factory for your own",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="a checkpoint (.safetensors) to evaluate instead of the shipped weights; the "
        "weights of a module:factory model",
    )
    parser.add_argument(
        "--data", default=None, help=".npz data (arrays x, y) of a module:factory model"
    )
    parser.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="data split (default: test)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N")
    add_output_flags(parser, json="print the metrics as JSON")
    parser.set_defaults(handler=_evaluate)
