"""``xai demo``: evaluate every reference model and explain a few of its test samples with every
method, writing the figures to a folder.

The reference models (see :mod:`reference_models`) load instantly from their shipped weights.
Each is evaluated on its test split (a metrics table is printed), then four test samples are
explained with every registered method that applies to its inputs (one that does not, such as
Grad-CAM on tabular rows, is printed as ``not applicable`` with the reason); figures and
explanation files go to ``out``. The text model, ``keywords_text_cnn``, is explained over its
token ids with their attention masks: every sentence gets a figure of its highlighted tokens
per method, and the demo prints the tokens each sentence's explanation rates highest. Where a
model has ground-truth masks (``shapes_cnn``'s objects, ``keywords_text_cnn``'s keywords), the
localization scores of every method (pointing game, relevance mass) are printed and written to
``out/localization.json``. Finally the bundled evaluation suite (``xai report``) runs on every
reference model and writes one report to ``out/report/index.html``.

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
from typing import TYPE_CHECKING, Any

from xai.cli.common import fail, out_folder_problem, seed_problem

if TYPE_CHECKING:
    from xai.explanation import Explanation
    from xai.suite.subject import Subject

_log = logging.getLogger(__name__)

#: Test samples explained per model.
SAMPLES_PER_MODEL = 4

#: The localization metrics the demo prints for a model with ground-truth masks.
LOCALIZATION = ("pointing_game_score", "relevance_mass_score")

#: Tokens named per sentence in the text model's printed section.
TOP_TOKENS = 3


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
        The output folder. It holds, per model ``NAME``: ``NAME_confusion_matrix.png``;
        ``NAME_METHOD.safetensors`` and ``NAME_METHOD.png`` (the first sample) per method
        that applies; ``NAME_compare_sampleI.png`` (every method on sample I); for the text
        model also ``NAME_METHOD_sentenceI.png`` (sentence I, its tokens coloured by
        attribution). Then ``localization.json`` (the scores of the models with ground-truth
        masks) and ``report/`` (unless ``report=False``).
    """
    # Imported here: `xai --help` and the other subcommands do not load torch for the demo.
    import torch

    import reference_models
    import xai.viz
    from xai.evaluation.classification import format_metrics_table
    from xai.suite.subject import reference_subject

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    print(f"xai demo: figures go to {out.resolve()}")

    subjects = [reference_subject(name) for name in reference_models.available()]
    reports = []
    for subject in subjects:
        metrics = subject.evaluate()  # the text model's scores with its attention masks
        reports.append((subject.name, metrics))
        xai.viz.plot_confusion_matrix(metrics).savefig(
            out / f"{subject.name}_confusion_matrix.png", dpi=110
        )
    print("test-set metrics of the reference models:")
    print(format_metrics_table(reports))
    print()

    print(f"{'model':<20}{'method':<22}{'seconds':>9}{'evaluations':>13}")
    explained = {subject.name: _explain_subject(subject, out, seed) for subject in subjects}
    print(f"xai demo: wrote {len(list(out.glob('*.png')))} figures to {out.resolve()}")
    print()
    for subject in subjects:
        if subject.is_text:
            _print_sentences(subject, explained[subject.name])
    _localization(subjects, explained, out)
    if report:
        _run_report(out / "report")
    return out


def _explain_subject(subject: Subject, out: Path, seed: int) -> list[Explanation]:
    """Explain the subject's first test samples with every method that applies (with their
    attention masks and tokens, for the text model); write the explanations and figures;
    print one line per method (``not applicable`` with the reason for the others)."""
    import xai
    import xai.viz
    from xai.explainers.registry import explainer_class
    from xai.suite.subject import method_applicability
    from xai.viz import plot_comparison

    rows = slice(0, SAMPLES_PER_MODEL)
    samples = subject.inputs[rows]
    kwargs = subject.forward_kwargs(rows)
    tokens = subject.tokens(rows)
    extras: dict[str, Any] = {"class_names": list(subject.class_names or [])}
    if subject.feature_names:
        extras["feature_names"] = subject.feature_names
    probabilities = subject.outputs(rows).softmax(-1)  # for the figures' titles
    explanations = []
    for method, reason in method_applicability(samples, subject.model).items():
        if reason:
            print(f"{subject.name:<20}{method:<22}not applicable: {reason}")
            continue
        options: dict[str, Any] = {"seed": seed} if explainer_class(method).stochastic else {}
        if kwargs:
            options["model_kwargs"] = kwargs
        if tokens is not None:
            options["tokens"] = tokens
        started = time.perf_counter()
        explanation = xai.explain(subject.model, samples, method=method, **options)
        seconds = time.perf_counter() - started
        explanation.extras.update(extras)
        explanation.save(out / f"{subject.name}_{method}.safetensors")
        figures = {f"{subject.name}_{method}.png": 0}
        if subject.is_text:  # every sentence, its tokens coloured by attribution
            figures.update(
                {f"{subject.name}_{method}_sentence{i}.png": i for i in range(len(samples))}
            )
        for file, index in figures.items():
            figure = xai.viz.plot_explanation(
                explanation, index, probabilities=probabilities, model_name=subject.name
            )
            figure.savefig(out / file, dpi=110)
        explanations.append(explanation)
        evaluations = explanation.extras["model_evaluations"]
        print(f"{subject.name:<20}{method:<22}{seconds:>9.2f}{evaluations:>13}")
    for index in range(len(samples)):
        figure = plot_comparison(
            explanations,
            index,
            class_names=subject.class_names,
            probabilities=probabilities,
            model_name=subject.name,
        )
        figure.savefig(out / f"{subject.name}_compare_sample{index}.png", dpi=110)
    return explanations


def _print_sentences(subject: Subject, explanations: list[Explanation]) -> None:
    """The text model's sentences, each with the tokens an explanation (Integrated Gradients
    when it applies) rates highest, the keywords of the ground truth starred."""
    if not explanations:
        return
    explanation = next(
        (e for e in explanations if e.method == "integrated_gradients"), explanations[0]
    )
    rows = slice(0, len(explanation))
    tokens = subject.tokens(rows) or []
    attention = subject.forward_kwargs(rows).get("attention_mask")
    print(
        f"{subject.name}: {len(tokens)} test sentences, each with the {TOP_TOKENS} tokens "
        f"{explanation.method} rates highest (* a keyword of the ground truth):"
    )
    for row, words in enumerate(tokens):
        length = int(attention[row].sum()) if attention is not None else len(words)
        values = explanation.attributions[row, :length].detach().float().cpu()
        order = values.argsort(descending=True)[:TOP_TOKENS].tolist()
        keyword = subject.masks[row] if subject.masks is not None else None
        top = ", ".join(
            words[i] + ("*" if keyword is not None and bool(keyword[i]) else "") for i in order
        )
        label = subject.class_name(int(subject.labels[row]))
        print(f"  [{label}] {' '.join(words[:length])!r} -> {top}")
    print()


def _localization(
    subjects: list[Subject], explained: dict[str, list[Explanation]], out: Path
) -> None:
    """The localization scores of every method on the models with ground-truth masks,
    printed and written to ``out/localization.json``."""
    import xai
    from xai._files import write_json

    results: dict[str, dict[str, dict[str, float]]] = {}
    for subject in subjects:
        if subject.masks is None:
            continue
        results[subject.name] = {}
        for explanation in explained[subject.name]:
            rows = slice(0, len(explanation))
            kwargs = subject.forward_kwargs(rows)
            quality = xai.evaluate_explanation(
                subject.model,
                explanation,
                metrics=list(LOCALIZATION),
                masks=subject.masks[rows],
                progress=False,
                model_kwargs=kwargs or None,
            )
            results[subject.name][explanation.method] = {
                name: quality.means[name] for name in LOCALIZATION if name in quality.means
            }
    if not results:
        return
    print(
        f"localization against the ground-truth masks ({SAMPLES_PER_MODEL} test samples per "
        "model; higher is better):"
    )
    print(f"{'model':<20}{'method':<22}" + "".join(f"{name:>22}" for name in LOCALIZATION))
    for name, methods in results.items():
        for method, scores in methods.items():
            cells = "".join(
                f"{scores[m]:>22.3f}" if m in scores else f"{'n/a':>22}" for m in LOCALIZATION
            )
            print(f"{name:<20}{method:<22}{cells}")
    write_json(out / "localization.json", {"samples_per_model": SAMPLES_PER_MODEL, **results})
    print()


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
