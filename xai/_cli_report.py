"""``xai report``: run the bundled evaluation suite (:mod:`xai.report.suite`) through pytest
with the report plugin, against reference models or a user's own model."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

_log = logging.getLogger(__name__)


def suite_arguments(
    models: Sequence[str],
    out: str | Path,
    *,
    weights: str | None = None,
    data: str | None = None,
    min_accuracy: float = 0.8,
    min_f1: float = 0.8,
    min_roc_auc: float = 0.9,
    samples: int = 3,
    title: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The pytest command-line arguments that run the bundled suite on ``models`` into
    the report folder ``out``."""
    import xai.report.suite as suite

    arguments = [str(Path(suite.__file__).parent), "--xai-report", str(out)]
    arguments += ["-p", "no:cacheprovider", "--rootdir", str(Path(suite.__file__).parent)]
    arguments += ["-o", "addopts=", "-o", "testpaths=", "-q"]
    if not _plugin_loaded_by_entry_point():
        arguments += ["-p", "xai.pytest_plugin"]
    for model in models:
        arguments += ["--suite-model", model]
    if weights:
        arguments += ["--suite-weights", str(weights)]
    if data:
        arguments += ["--suite-data", str(data)]
    arguments += ["--min-accuracy", str(min_accuracy), "--min-f1", str(min_f1)]
    arguments += ["--min-roc-auc", str(min_roc_auc), "--suite-samples", str(samples)]
    if title:
        arguments += ["--xai-report-title", title]
    return [*arguments, *extra]


def _plugin_loaded_by_entry_point() -> bool:
    from importlib import metadata

    return any(ep.name == "xai" for ep in metadata.entry_points(group="pytest11"))


def run_suite(models: Sequence[str], out: str | Path, **options: object) -> int:
    """Run the bundled suite on ``models`` (reference names or one ``module:factory``) and
    write the report into ``out``; returns pytest's exit code (the report is written also
    when tests fail)."""
    import pytest

    return int(pytest.main(suite_arguments(models, out, **options)))  # type: ignore[arg-type]


def _report(args: argparse.Namespace) -> int:
    import reference_models

    models = args.model or reference_models.available()
    user = [m for m in models if m not in reference_models.available()]
    for model in user:
        if ":" not in model:
            raise SystemExit(
                f"xai report: --model: expected a reference model "
                f"({', '.join(reference_models.available())}) or module:factory, got {model!r}."
            )
    if args.samples < 1:
        raise SystemExit(f"xai report: --samples: expected a positive count, got {args.samples}.")
    if user and (not args.weights or not args.data):
        raise SystemExit(
            f"xai report: --model {user[0]} needs --weights FILE.safetensors and --data FILE.npz."
        )
    if len(user) > 1:
        raise SystemExit("xai report: one module:factory model per run (one --weights/--data).")
    code = run_suite(
        models,
        args.out,
        weights=args.weights,
        data=args.data,
        min_accuracy=args.min_accuracy,
        min_f1=args.min_f1,
        min_roc_auc=args.min_roc_auc,
        samples=args.samples,
    )
    return code


def add_report(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="run the bundled evaluation suite on a model, write an HTML/JSON/Markdown report",
    )
    parser.add_argument(
        "--model",
        action="append",
        help="reference model name, or module:factory for your own model (repeatable; "
        "default: every reference model)",
    )
    parser.add_argument("--weights", help="safetensors weights of a module:factory model")
    parser.add_argument("--data", help=".npz test data with arrays x and y (no pickle)")
    parser.add_argument("--out", default="xai_report", help="report folder (default: xai_report)")
    parser.add_argument("--min-accuracy", type=float, default=0.8, help="default: 0.8")
    parser.add_argument("--min-f1", type=float, default=0.8, help="default: 0.8")
    parser.add_argument("--min-roc-auc", type=float, default=0.9, help="default: 0.9")
    parser.add_argument("--samples", type=int, default=3, help="samples explained (default: 3)")
    parser.set_defaults(handler=_report)
