"""``xai demo``: evaluate every reference model and explain a few of its test samples with every
method, writing the figures to a folder.

The reference models (see :mod:`reference_models`) load instantly from their shipped weights.
Each is evaluated on its test split (a metrics table is printed), then four test samples are
explained with every registered method; figures and explanation files go to ``out``. Finally
the bundled evaluation suite (``xai report``) runs on every reference model and writes one
report to ``out/report/index.html``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from xai.cli.common import fail, out_folder_problem, seed_problem

_log = logging.getLogger(__name__)

#: Test samples explained per model.
SAMPLES_PER_MODEL = 4


def _demo(args: argparse.Namespace) -> int:
    problem = seed_problem(args.seed) or out_folder_problem("--out", args.out)
    if problem:
        return fail("demo", problem)
    run_demo(args.out, seed=args.seed)
    return 0


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
        explanations = []
        for method in applicable_methods(samples):
            options = {"seed": seed} if xai.get_explainer(method, model).stochastic else {}
            started = time.perf_counter()
            explanation = xai.explain(model, samples, method=method, **options)
            explanation.extras.update(extras)
            seconds = time.perf_counter() - started
            explanation.save(out / f"{ref.name}_{method}.safetensors")
            explanation.plot(0).savefig(out / f"{ref.name}_{method}.png", dpi=110)
            explanations.append(explanation)
            evaluations = explanation.extras["model_evaluations"]
            print(f"{ref.name:<20}{method:<22}{seconds:>9.2f}{evaluations:>13}")
        for index in range(len(samples)):
            figure = plot_comparison(explanations, index)
            figure.savefig(out / f"{ref.name}_compare_sample{index}.png", dpi=110)
    print(f"xai demo: wrote {len(list(out.glob('*.png')))} figures to {out.resolve()}")
    if report:
        _run_report(out / "report")
    return out


def _run_report(folder: Path) -> None:
    """The bundled suite on every reference model, into one report (failing checks included)."""
    import reference_models
    from xai.cli.report import run_suite

    code = run_suite(
        reference_models.available(),
        folder,
        title="xai demo: reference models",
        extra=("--tb=line",),
    )
    if code not in (0, 1):  # 1: some checks failed, which the report shows
        _log.warning("xai demo: the evaluation suite ended with pytest exit code %s", code)
    print(f"xai demo: evaluation report at {(folder / 'index.html').resolve()}")
