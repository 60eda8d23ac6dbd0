"""``xai train`` and ``xai evaluate``: retrain and evaluate the reference models."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

_log = logging.getLogger(__name__)

__all__ = [
    "add_evaluate",
    "add_train",
    "device_problem",
    "fail",
    "flag_message",
    "out_folder_problem",
    "seed_problem",
]

# --- Argument checks shared by the subcommands (cli.py, _cli_report.py, _cli_dashboard.py). ---
# Each returns None when the value can be used, else a one-line message that names the flag,
# what was expected and what was given.


def fail(command: str, message: str) -> int:
    """Print ``xai COMMAND: MESSAGE`` to stderr; returns the usage-error exit code 2."""
    print(f"xai {command}: {message}", file=sys.stderr)
    return 2


def flag_message(error: BaseException | str, renames: dict[str, str] | None = None) -> str:
    """A library error on one line, its leading parameter name (``weights: ...``) written as
    the command line's flag (``--weights: ...``). ``renames`` maps other leading names to
    flags (e.g. ``{"path": "--weights"}``)."""
    text = " ".join(str(error).split())
    if len(text) > 600:
        text = text[:600] + " ..."
    names = {name: f"--{name}" for name in ("weights", "data", "model", "device", "seed")}
    names.update(renames or {})
    head, colon, rest = text.partition(":")
    if colon and head in names:
        return f"{names[head]}:{rest}"
    return text


def device_problem(value: str) -> str | None:
    """Whether ``--device VALUE`` can be used on this machine (checked before any work, so a
    missing GPU is one line rather than a stack trace from inside torch)."""
    import torch

    expected = "expected auto, cpu, cuda, cuda:N or mps"
    if value == "auto":
        return None
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        return f"--device: {expected}, got {value!r}."
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            return (
                f"--device: {value!r} asks for a CUDA GPU, but no CUDA device is available "
                f"(torch {torch.__version__}, {build}). Use --device cpu, or --device auto to "
                "take a GPU when there is one."
            )
        if device.index is not None and device.index >= count:
            return (
                f"--device: {value!r} asks for GPU {device.index}, but this machine has {count} "
                f"(cuda:0..cuda:{count - 1})."
            )
        return None
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return None
        return (
            f"--device: {value!r} asks for an Apple GPU (MPS), but MPS is not available here. "
            "Use --device cpu, or --device auto."
        )
    return f"--device: {expected}, got {value!r}."


def seed_problem(value: int | None) -> str | None:
    """Whether ``--seed VALUE`` is a seed the explainers and ``xai.fit`` take."""
    if value is None or 0 <= value < 2**32:
        return None
    return f"--seed: expected an integer in [0, 2**32), got {value}."


def out_folder_problem(flag: str, value: str | Path) -> str | None:
    """Whether ``flag VALUE`` names a folder that can hold the command's files: it is created
    (as the command would) and a file is written in it and removed, before any work is done."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        return f"{flag}: expected a folder, got the existing file {str(value)!r}."
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        return (
            f"{flag}: expected a folder that can be created and written to, got {str(value)!r} "
            f"({error.strerror or error})."
        )
    return None


def _train(args: argparse.Namespace) -> int:
    import reference_models
    from xai.evaluation import format_metrics_table

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
    try:
        result = reference_models.train(
            args.name, epochs=args.epochs, device=args.device, seed=args.seed, out=args.out
        )
    except ValueError as error:
        return fail("train", flag_message(error))
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
    from xai.evaluation import format_metrics_table

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
