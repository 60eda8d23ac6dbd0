"""``xai train``: retrain a reference model with its recorded recipe, or train your own
``module:factory`` model on ``--data`` (optionally from ``--weights``) with ``xai.fit``; write
the checkpoint (safetensors + JSON) into ``--out``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from xai._files import dumps_json
from xai.cli.common import (
    add_output_flags,
    device_problem,
    fail,
    flag_message,
    out_folder_problem,
    progress_setting,
    seed_problem,
)

_log = logging.getLogger(__name__)

__all__ = ["add_train"]


def _train(args: argparse.Namespace) -> int:
    import reference_models
    from xai.evaluation.classification import format_metrics_table

    if args.epochs is not None and args.epochs < 1:
        return fail("train", f"--epochs: expected an integer >= 1, got {args.epochs}.")
    own = args.name not in reference_models.available() and ":" in args.name
    if own:
        if not args.data:
            return fail(
                "train",
                f"--data: {args.name} needs its training data, --data FILE.npz (arrays x, y).",
            )
    else:
        try:
            reference_models.get_recipe(args.name)
        except ValueError as error:
            return fail("train", str(error))
        given = [f for f, v in (("--weights", args.weights), ("--data", args.data),
                                ("--val-data", args.val_data)) if v]  # fmt: skip
        if given:
            return fail(
                "train",
                f"{given[0]}: only for a module:factory model; {args.name!r} is a reference "
                "model trained on its own data by its recipe.",
            )
    problem = (
        device_problem(args.device)
        or seed_problem(args.seed)
        or out_folder_problem("--out", args.out)
    )
    if problem:
        return fail("train", problem)
    name = args.name.partition(":")[2] if own else args.name
    checkpoint = Path(args.out) / f"{name}.safetensors"
    options: dict[str, Any] = {"progress": progress_setting(args)}
    if args.resume is not None:  # --resume alone: the run this command writes to
        options["resume"] = Path(args.resume) if args.resume else checkpoint
    try:
        if own:
            result = _train_own_model(args, checkpoint, options)
        else:
            result = reference_models.train(
                args.name,
                epochs=args.epochs,
                device=args.device,
                seed=args.seed,
                out=args.out,
                **options,
            )
    except (TypeError, ValueError) as error:
        renames = {"resume": "--resume", "epochs": "--epochs", "val_data": "--val-data"}
        return fail("train", flag_message(error, renames))
    except KeyboardInterrupt:
        from xai.training.checkpoint import state_path

        if state_path(checkpoint).is_file():
            again = f"xai train {args.name} --out {args.out}"
            for flag, value in (
                ("--data", args.data),
                ("--val-data", args.val_data),
                ("--weights", args.weights),
                ("--epochs", args.epochs),
                ("--seed", args.seed),
            ):
                if value is not None:
                    again += f" {flag} {value}"
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
    if not args.quiet:
        print(
            f"xai train: {args.name} trained for {len(result.history)} epoch(s), best epoch "
            f"{result.history.best_epoch}; weights in {result.path}"
        )
    rows = [(f"{name} [{split}]", metrics) for split, metrics in result.metrics.items()]
    print(format_metrics_table(rows))
    return 0


#: Epochs of a module:factory model's run without --epochs (xai.fit's default).
DEFAULT_EPOCHS = 10


def _train_own_model(args: argparse.Namespace, checkpoint: Path, options: dict[str, Any]) -> Any:
    """``xai.fit`` on the user's model and data; the result reads as a reference model's
    (``.path``, ``.history``, ``.metrics`` per split: the training data and ``--val-data``)."""
    from types import SimpleNamespace

    import xai
    from xai.suite.subject import user_data, user_model

    train = user_data(args.data)
    val = user_data(args.val_data, argument="val_data") if args.val_data else None
    model = user_model(args.name, args.weights)
    history = xai.fit(
        model,
        train,
        val,
        epochs=args.epochs or DEFAULT_EPOCHS,
        device=args.device,
        seed=0 if args.seed is None else args.seed,
        checkpoint=checkpoint,
        metadata={
            "model": args.name,
            "data": {"train": str(args.data), "val": str(args.val_data) if val else None},
            "initial_weights": str(args.weights) if args.weights else None,
        },
        **options,
    )
    metrics = {}
    for split, data in (("train", train), ("val", val)):
        if data is not None:
            report = xai.evaluate(model, data)
            metrics[split] = {
                k: report.to_dict()[k] for k in ("n_samples", "accuracy", "f1", "roc_auc")
            }
    return SimpleNamespace(path=checkpoint, history=history, metrics=metrics)


def add_train(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai train MODEL [--data --val-data --weights --epochs --device --seed --out
    --resume [PATH] --json]``."""
    parser = subparsers.add_parser(
        "train",
        help="retrain a reference model with its recorded recipe, or train your own model",
        description=__doc__,
    )
    parser.add_argument(
        "name",
        metavar="MODEL",
        help="reference model (see `xai evaluate` for the list), or module:factory for your own",
    )
    parser.add_argument("--data", help=".npz training data (arrays x, y) of a module:factory model")
    parser.add_argument(
        "--val-data", help=".npz validation data (arrays x, y) of a module:factory model"
    )
    parser.add_argument(
        "--weights", help="safetensors weights a module:factory model starts from (optional)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"epochs (default: the recipe's; {DEFAULT_EPOCHS} for a module:factory model)",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed (default: the recipe's; 0 for your own)"
    )
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
    add_output_flags(parser, json="print the metrics as JSON")
    parser.set_defaults(handler=_train)
