"""Explanations: a few samples by every method side by side with their cost; the
explanation-quality metrics; the model-randomization sanity check."""

from __future__ import annotations

import time
from typing import Any

import xai
import xai.viz
from xai.evaluation.quality import method_mismatch
from xai.metrics import model_randomization_check, quality_metrics
from xai.suite.conftest import METRIC_OPTIONS

#: Max-sensitivity re-explains every perturbed input: the suite computes it for the methods
#: whose explanation took at most this many model evaluations per sample (the gradient
#: methods, not LIME's and SHAP's hundreds of perturbed samples).
CHEAP_EVALUATIONS_PER_SAMPLE = 64


def test_attributions_side_by_side(comparison: Any, samples: int, xai_report: Any) -> None:
    explanations = [comparison.explanations[m] for m in comparison.methods]
    xai_report.explanation("attributions", explanations, samples=samples)
    xai_report.table(
        "time per method",
        [
            {
                "method": m,
                "seconds": comparison.seconds[m],
                "model evaluations": comparison.model_evaluations[m],
            }
            for m in comparison.methods
        ],
    )
    for method in comparison.methods:
        assert comparison.explanations[method].attributions.isfinite().all(), method


def _applies(metric: str, method: str) -> bool:
    """Whether ``metric`` is meaningful for ``method`` (what the method's class declares); the
    suite names its metrics explicitly, so compare computes every one for every method."""
    spec = quality_metrics().get(metric)
    return spec is None or not method_mismatch(spec, method)


def test_explanation_quality(subject: Any, comparison: Any, xai_report: Any) -> None:
    rows = []
    directions: dict[str, bool] = {}  # from every report: a skipped metric is absent from some
    for report in comparison.reports.values():
        directions.update(report.higher_is_better)
    for method in comparison.methods:
        report = comparison.reports[method]
        row: dict[str, Any] = {"method": method}
        for name in comparison.metric_names():
            value = report.means.get(name) if _applies(name, method) else None
            arrow = "↑" if directions.get(name, True) else "↓"
            row[f"{name} {arrow}"] = value
        explanation = comparison.explanations[method]
        per_sample = comparison.model_evaluations[method] / len(explanation)
        if per_sample <= CHEAP_EVALUATIONS_PER_SAMPLE:  # cheap to re-explain
            sensitivity = xai.evaluate_explanation(
                subject.model,
                explanation,
                metrics=["max_sensitivity_error"],
                options={"max_sensitivity_error": METRIC_OPTIONS["max_sensitivity_error"]},
            )
            row["max_sensitivity_error ↓"] = sensitivity.means["max_sensitivity_error"]
        rows.append(row)
    xai_report.table("explanation quality (mean over samples)", rows)
    matrix = comparison.agreement["rank_correlation"]
    xai_report.table(
        "agreement (rank correlation)",
        [[m, *(float(v) for v in matrix[i])] for i, m in enumerate(comparison.methods)],
        columns=["method", *comparison.methods],
    )
    xai_report.figure("methods compared", xai.viz.plot_method_comparison(comparison, 0))
    assert rows


def test_sanity_model_randomization(subject: Any, samples: int, xai_report: Any) -> None:
    started = time.perf_counter()
    result = model_randomization_check(
        subject.model, subject.inputs[:samples], "integrated_gradients", n_steps=16
    )
    xai_report.metric("sanity_check_seconds", time.perf_counter() - started, higher_is_better=False)
    ok = xai_report.metric(
        "randomized_rank_correlation",
        result.final_similarity,
        threshold=result.threshold,
        higher_is_better=False,
    )
    xai_report.figure("model randomization (integrated gradients)", xai.viz.plot_randomization(result), result.verdict)
    assert ok, result.verdict
