"""Explanations: a few samples by every method side by side with their cost; the
explanation-quality metrics; the model-randomization sanity check."""

from __future__ import annotations

import time
from typing import Any

import xai
from xai.metrics import model_randomization_check

#: Small budgets so the whole suite runs in seconds per model.
METHOD_OPTIONS = {
    "integrated_gradients": {"n_steps": 24},
    "lime": {"num_samples": 200},
    "shap": {"nsamples": 200},
}
METRIC_OPTIONS = {
    "max_sensitivity_error": {"n_perturb_samples": 2},
    "seed_stability_score": {"seeds": (0, 1)},
    "deletion_auc": {"steps": 10},
}

_COMPARISONS: dict[str, Any] = {}


def _comparison(subject: Any, samples: int) -> Any:
    if subject.name not in _COMPARISONS:
        masks = subject.masks[:samples] if subject.masks is not None else None
        _COMPARISONS[subject.name] = xai.compare(
            subject.model,
            subject.inputs[:samples],
            masks=masks,
            options=METHOD_OPTIONS,
            metric_options=METRIC_OPTIONS,
            seed=0,
        )
    return _COMPARISONS[subject.name]


def test_attributions_side_by_side(subject: Any, samples: int, xai_report: Any) -> None:
    comparison = _comparison(subject, samples)
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


def test_explanation_quality(subject: Any, samples: int, xai_report: Any) -> None:
    comparison = _comparison(subject, samples)
    rows = []
    for method in comparison.methods:
        report = comparison.reports[method]
        row: dict[str, Any] = {"method": method}
        for name in comparison.metric_names():
            value = report.means.get(name)
            arrow = "↑" if report.higher_is_better.get(name, True) else "↓"
            row[f"{name} {arrow}"] = value
        rows.append(row)
    xai_report.table("explanation quality (mean over samples)", rows)
    matrix = comparison.agreement["rank_correlation"]
    xai_report.table(
        "agreement (rank correlation)",
        [[m, *(float(v) for v in matrix[i])] for i, m in enumerate(comparison.methods)],
        columns=["method", *comparison.methods],
    )
    xai_report.figure("methods compared", comparison.plot(0))
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
    xai_report.figure("model randomization (integrated gradients)", result.plot(), result.verdict)
    assert ok, result.verdict
