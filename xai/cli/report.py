"""``xai report``: run the bundled evaluation suite (:mod:`xai.suite`) through pytest
with the report plugin, against reference models or a user's own model."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from xai.cli.common import USAGE_ERROR, add_output_flags, flag_message, out_folder_problem

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
    import xai.suite as suite

    arguments = [str(Path(suite.__file__).parent), "--xai-report", str(out)]
    arguments += ["-p", "no:cacheprovider", "--rootdir", str(Path(suite.__file__).parent)]
    # the suite's rootdir is xai's; the project the report describes is the user's
    arguments += ["--xai-report-root", str(Path.cwd())]
    arguments += ["-o", "addopts=", "-o", "testpaths=", "-q"]
    # xai and reference_models (and benchmarks, from a checkout) are imported before pytest starts, so pytest warns
    # that it cannot rewrite their asserts; they are not test modules: the warning is noise
    arguments += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
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


def _usage_error(message: str) -> int:
    print(f"xai report: {message}", file=sys.stderr)
    return USAGE_ERROR


def _pytest_missing() -> str | None:
    """A one-line message when pytest (a dependency of xai-toolkit: the suite runs in it)
    cannot be imported, e.g. after ``pip install --no-deps``."""
    import importlib.util

    if importlib.util.find_spec("pytest") is not None:
        return None
    return (
        "needs pytest, which runs the evaluation suite; it is a dependency of xai-toolkit: "
        "pip install 'pytest>=8' (or reinstall xai-toolkit with its dependencies)."
    )


def _report(args: argparse.Namespace) -> int:
    """Bad arguments are one line on stderr and exit code 2 (the usage error of every ``xai``
    command), all found before the suite starts; then pytest's codes (1: a check failed)."""
    import reference_models

    problem = _pytest_missing()
    if problem:
        print(f"xai report: {problem}", file=sys.stderr)
        return 1

    references = reference_models.available()
    models = args.model or references
    user = [m for m in models if m not in references]
    for model in user:
        if ":" not in model:
            return _usage_error(
                f"--model: expected a reference model "
                f"({', '.join(references)}) or module:factory, got {model!r}."
            )
    if args.samples < 1:
        return _usage_error(f"--samples: expected a positive count, got {args.samples}.")
    for flag, value in (
        ("--min-accuracy", args.min_accuracy),
        ("--min-f1", args.min_f1),
        ("--min-roc-auc", args.min_roc_auc),
    ):
        if not 0.0 <= value <= 1.0:  # NaN too
            return _usage_error(f"{flag}: expected a number in [0, 1], got {value}.")
    given = [f for f, v in (("--weights", args.weights), ("--data", args.data)) if v]
    if given and not user:
        verb = "apply" if len(given) > 1 else "applies"
        return _usage_error(
            f"{' and '.join(given)} only {verb} to a module:factory model (your own), "
            f"but the models are all reference models ({', '.join(models)}), which use their "
            f"shipped weights and data. Drop {'/'.join(given)}, or add --model module:factory."
        )
    if user and (not args.weights or not args.data):
        return _usage_error(
            f"--model {user[0]} needs --weights FILE.safetensors and --data FILE.npz."
        )
    if len(user) > 1:
        return _usage_error("one module:factory model per run (one --weights/--data).")
    if user:  # load it once now: a wrong file is one line here, not an error in every test
        from xai.suite.subject import user_subject

        try:
            user_subject(user[0], args.weights, args.data)
        except (ValueError, TypeError) as error:
            return _usage_error(flag_message(error))
    problem = out_folder_problem("--out", args.out)
    if problem:
        return _usage_error(problem)
    from xai.errors import InputError
    from xai.report.writers import prepare_folder

    try:  # a folder holding files xai did not write is refused before the suite runs
        prepare_folder(args.out)
    except InputError as error:
        return _usage_error(f"--out: {error.detail}")
    except OSError as error:
        return _usage_error(f"--out: cannot write the report into {str(args.out)!r} ({error}).")
    # pytest prints one line of progress per test file (-q); -v a line per test, -q less
    extra = ["-q"] if args.quiet else ["-v", "-v"] if args.verbose else []
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        code = run_suite(
            models,
            args.out,
            weights=args.weights,
            data=args.data,
            min_accuracy=args.min_accuracy,
            min_f1=args.min_f1,
            min_roc_auc=args.min_roc_auc,
            samples=args.samples,
            extra=extra,
        )
    if args.json:
        print(_summary_json(Path(args.out), code))
    return code


def _summary_json(out: Path, code: int) -> str:
    """What ``--json`` prints: the exit code, the report's files and its summary."""
    import json

    from xai._files import dumps_json

    document: dict[str, object] = {
        "exit_code": code,
        "report": str(out / "index.html"),
        "json": str(out / "report.json"),
        "markdown": str(out / "summary.md"),
    }
    try:
        document["summary"] = json.loads((out / "report.json").read_text())["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        document["summary"] = None  # pytest stopped before the report was written
    return dumps_json(document, indent=2)


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
    parser.add_argument(
        "--weights", help="safetensors weights of the module:factory model (only for that)"
    )
    parser.add_argument(
        "--data", help=".npz test data with arrays x and y of the module:factory model (no pickle)"
    )
    parser.add_argument("--out", default="xai_report", help="report folder (default: xai_report)")
    parser.add_argument(
        "--min-accuracy", type=float, default=0.8, help="threshold in [0, 1] (default: 0.8)"
    )
    parser.add_argument(
        "--min-f1", type=float, default=0.8, help="macro F1 threshold in [0, 1] (default: 0.8)"
    )
    parser.add_argument(
        "--min-roc-auc", type=float, default=0.9, help="threshold in [0, 1] (default: 0.9)"
    )
    parser.add_argument("--samples", type=int, default=3, help="samples explained (default: 3)")
    add_output_flags(
        parser,
        json="print the exit code, the report's files and its summary (counts, headline "
        "metrics) as JSON; pytest's own output goes to stderr",
    )
    parser.set_defaults(handler=_report)
