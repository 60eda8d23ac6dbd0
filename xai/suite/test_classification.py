"""Classification quality: accuracy, F1, ROC-AUC against thresholds; confusion matrix, ROC
curves, calibration."""

from __future__ import annotations

from typing import Any

import xai.viz


def test_metrics_meet_thresholds(
    subject: Any,
    evaluation: Any,
    thresholds: dict[str, float],
    timings: dict[str, float],
    xai_report: Any,
) -> None:
    verdicts = {
        name: xai_report.metric(name, getattr(evaluation, name), threshold=limit)
        for name, limit in thresholds.items()
    }
    xai_report.metric("log_loss", evaluation.log_loss, higher_is_better=False)
    xai_report.metric(
        "evaluate_seconds", timings[f"evaluate {subject.name}"], higher_is_better=False
    )
    names = evaluation.class_names
    xai_report.table(
        "per class",
        [
            {"class": names[k], "f1": f1, "roc_auc": auc}
            for k, (f1, auc) in enumerate(
                zip(evaluation.f1_per_class, evaluation.roc_auc_per_class, strict=True)
            )
        ],
    )
    failing = [repr(verdict) for verdict in verdicts.values() if not verdict]
    assert not failing, f"{subject.name}: " + ", ".join(failing)  # "accuracy 0.41 < threshold 0.8"


def test_confusion_matrix(evaluation: Any, xai_report: Any) -> None:
    xai_report.figure("confusion matrix", xai.viz.plot_confusion_matrix(evaluation))
    assert int(evaluation.confusion_matrix.sum()) == evaluation.n_samples


def test_roc_curves(evaluation: Any, xai_report: Any) -> None:
    xai_report.figure("ROC curves", xai.viz.plot_roc_curves(evaluation))


def test_calibration(evaluation: Any, xai_report: Any) -> None:
    xai_report.figure("reliability diagram", xai.viz.plot_reliability_diagram(evaluation))
    xai_report.metric(
        "expected_calibration_error", evaluation.expected_calibration_error, higher_is_better=False
    )
