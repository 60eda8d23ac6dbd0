"""``xai demo``: evaluate every reference model and explain a few of its test samples with every
method, writing the figures to a folder.

The reference models (see :mod:`reference_models`) load instantly from their shipped weights.
Each is evaluated on its test split (a metrics table is printed), then four test samples are
explained with every registered method; figures and explanation files go to ``out``. Finally
the bundled evaluation suite (``xai report``) runs on every reference model and writes one
report to ``out/report/index.html``.

Some of the suite's checks fail on the reference models for reasons the literature predicts
(:mod:`xai.suite.findings`: Integrated Gradients fails the model-randomization check on
``digits_cnn``, as Adebayo et al. 2018 found for gradient times input). The demo prints each as
an ``expected: ...`` line, the report shows them as the failures they are, and the exit code
is 0 unless a check failed that is not such a finding (then 1).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from xai.cli.common import fail, out_folder_problem, seed_problem

if TYPE_CHECKING:
    import torch

_log = logging.getLogger(__name__)

#: Test samples explained per model.
SAMPLES_PER_MODEL = 4


def _demo(args: argparse.Namespace) -> int:
    problem = seed_problem(args.seed) or out_folder_problem("--out", args.out)
    if problem:
        return fail("demo", problem)
    out = run_demo(args.out, seed=args.seed)
    # 0 when every failed check is a known finding (printed as "expected: ..."), else 1
    _, unexpected = report_findings(out / "report")
    return 1 if unexpected else 0


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="evaluate every reference model, explain a few test samples with every method, "
        "write figures and an evaluation report",
        description="Evaluate every reference model on its test split (prints a metrics "
        "table), explain a few test samples of each with every registered method, write the "
        "figures and explanation files to --out, then run the bundled evaluation suite "
        "(as `xai report`) on every reference model into --out/report/index.html.",
    )
    parser.add_argument(
        "--out",
        default="demo_output",
        help="folder for the figures, explanations and report (default: demo_output)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the stochastic methods (default: 0)"
    )
    parser.set_defaults(handler=_demo)


def run_demo(out: str | Path = "demo_output", seed: int = 0, report: bool = True) -> Path:
    """Evaluate every reference model, explain a few test samples with every method, write
    figures to ``out``.

    Args:
        out: the output folder (created when missing).
        seed: seed of the stochastic explainers (and of the torch RNG).
        report: also run the bundled evaluation suite on every reference model and write
            its report to ``out/report`` (see ``xai report``).

    Returns:
        The output folder.
    """
    # Imported here: `xai --help` and the other subcommands do not load torch for the demo.
    import torch

    import reference_models
    import xai
    import xai.viz
    from xai.evaluation.classification import format_metrics_table
    from xai.explainers.parameters import applicable_methods
    from xai.viz import plot_comparison

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    print(f"xai demo: figures go to {out.resolve()}")

    loaded = [reference_models.load(name) for name in reference_models.available()]
    reports = []
    for ref in loaded:
        metrics = xai.evaluate(ref.model, ref.data["test"], class_names=ref.info.class_names)
        reports.append((ref.name, metrics))
        xai.viz.plot_confusion_matrix(metrics).savefig(
            out / f"{ref.name}_confusion_matrix.png", dpi=110
        )
    print("test-set metrics of the reference models:")
    print(format_metrics_table(reports))
    print()

    print(f"{'model':<20}{'method':<22}{'seconds':>9}{'evaluations':>13}")
    for ref in loaded:
        model = ref.model
        samples = ref.data["test"].tensors[0][:SAMPLES_PER_MODEL]
        extras = {"feature_names": ref.info.feature_names} if ref.info.feature_names else {}
        probabilities = _probabilities(model, samples)  # for the figures' titles
        explanations = []
        for method in applicable_methods(samples):
            options = {"seed": seed} if xai.get_explainer(method, model).stochastic else {}
            started = time.perf_counter()
            explanation = xai.explain(model, samples, method=method, **options)
            explanation.extras.update(extras)
            seconds = time.perf_counter() - started
            explanation.extras["class_names"] = list(ref.info.class_names)
            explanation.save(out / f"{ref.name}_{method}.safetensors")
            figure = xai.viz.plot_explanation(
                explanation, 0, probabilities=probabilities, model_name=ref.name
            )
            figure.savefig(out / f"{ref.name}_{method}.png", dpi=110)
            explanations.append(explanation)
            evaluations = explanation.extras["model_evaluations"]
            print(f"{ref.name:<20}{method:<22}{seconds:>9.2f}{evaluations:>13}")
        for index in range(len(samples)):
            figure = plot_comparison(
                explanations,
                index,
                class_names=ref.info.class_names,
                probabilities=probabilities,
                model_name=ref.name,
            )
            figure.savefig(out / f"{ref.name}_compare_sample{index}.png", dpi=110)
    print(f"xai demo: wrote {len(list(out.glob('*.png')))} figures to {out.resolve()}")
    if report:
        _run_report(out / "report")
    return out


def _probabilities(model: torch.nn.Module, samples: torch.Tensor) -> torch.Tensor:
    """The model's class probabilities of ``samples`` (for the figures' titles)."""
    import torch

    device = next(iter(model.parameters()), torch.empty(0)).device
    with torch.no_grad():
        return model(samples.to(device)).softmax(-1).cpu()


def report_findings(folder: Path) -> tuple[list[str], list[str]]:
    """The failed checks of the suite's report in ``folder``: ``(expected, unexpected)``, the
    known findings as their ``expected: ...`` lines, the other failures as their test ids.

    Args:
        folder: the report folder (``out/report``).

    Returns:
        The two lists; a folder without a readable ``report.json`` gives one unexpected entry.
    """
    import json

    from xai.suite.findings import expected_finding

    try:
        tests = json.loads((folder / "report.json").read_text(encoding="utf-8"))["tests"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [], [f"the evaluation suite wrote no readable report in {folder} ({error})"]
    expected, unexpected = [], []
    for test in tests:
        if test.get("outcome") not in ("failed", "error"):
            continue
        finding = expected_finding(str(test.get("nodeid", "")))
        if finding is None:
            unexpected.append(f"{test.get('nodeid')}: {test.get('summary', '')}")
        else:
            expected.append(finding.line())
    return expected, unexpected


def _run_report(folder: Path) -> None:
    """The bundled suite on every reference model, into one report (failing checks included),
    then its findings: the failures the literature predicts, and any other."""
    import reference_models
    from xai.cli.report import run_suite

    # dots while it runs; the failures are summarised below in plain words, not tracebacks
    code = run_suite(
        reference_models.available(),
        folder,
        title="xai demo: reference models",
        extra=("--tb=no", "-rN"),
    )
    if code not in (0, 1):  # 1: some checks failed, which the report shows
        _log.warning("xai demo: the evaluation suite ended with pytest exit code %s", code)
    expected, unexpected = report_findings(folder)
    if expected:
        print(
            f"xai demo: {len(expected)} check(s) failed as the literature predicts "
            "(findings about the methods, not errors; the report shows them):"
        )
        for line in expected:
            print(f"  {line}")
    if unexpected:
        print(f"xai demo: {len(unexpected)} check(s) failed unexpectedly:")
        for line in unexpected:
            print(f"  {line}")
    print(f"xai demo: evaluation report at {(folder / 'index.html').resolve()}")
