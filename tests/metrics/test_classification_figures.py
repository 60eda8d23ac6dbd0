"""Figures of classification results (xai.viz): built from the report, no pyplot state."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import xai.viz
from xai.evaluation.classification import evaluate_outputs
from xai.metrics import expected_calibration_error, reliability_bins, roc_curve
from xai.training import History


def _report(k: int = 3):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, k, (120,), generator=g)
    logits = torch.randn(120, k, generator=g) + 2 * torch.nn.functional.one_hot(y, k)
    return evaluate_outputs(y, logits, class_names=[f"c{i}" for i in range(k)])


def test_confusion_matrix_figure_shows_the_counts() -> None:
    report = _report()
    figures_before = plt.get_fignums()
    figure = xai.viz.plot_confusion_matrix(report)
    assert isinstance(figure, Figure) and plt.get_fignums() == figures_before
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == [str(v) for v in report.confusion_matrix.flatten().tolist()]
    normalised = xai.viz.plot_confusion_matrix(report.confusion_matrix, normalize=True)
    row0 = [float(t.get_text()) for t in normalised.axes[0].texts[:3]]
    assert sum(row0) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="square"):
        xai.viz.plot_confusion_matrix(np.zeros((2, 3)))


def test_roc_curves_follow_roc_curve() -> None:
    report = _report()
    figure = xai.viz.plot_roc_curves(report)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 3 + 1  # one per class plus the diagonal
    fpr, tpr, _ = roc_curve(report.y_true, report.scores, positive=2)
    np.testing.assert_allclose(lines[2].get_xdata(), fpr.numpy())
    np.testing.assert_allclose(lines[2].get_ydata(), tpr.numpy())
    binary = _report(k=2)
    assert len(xai.viz.plot_roc_curves(binary).axes[0].get_lines()) == 2
    with pytest.raises(TypeError, match="report: expected the ClassificationReport"):
        xai.viz.plot_roc_curves({"accuracy": 1.0})  # type: ignore[arg-type]


def report_bins_empty(report) -> int:
    return int((reliability_bins(report.y_true, report.probabilities, 10)["count"] == 0).sum())


def test_reliability_diagram_and_training_curves() -> None:
    report = _report()
    figure = xai.viz.plot_reliability_diagram(report, n_bins=10)
    ece = expected_calibration_error(report.y_true, report.probabilities, n_bins=10)
    assert figure.axes[0].get_title() == f"reliability (ECE {ece:.3f})"
    assert len(figure.axes[0].patches) == 2 * (10 - report_bins_empty(report))
    history = History(
        records=[
            {"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_accuracy": 0.5},
            {"epoch": 2, "train_loss": 0.5, "val_loss": 0.9, "val_accuracy": 0.7},
        ],
        best_epoch=2,
    )
    figure = xai.viz.plot_training_curves(history)
    assert len(figure.axes) == 2
    train_line = figure.axes[0].get_lines()[0]
    assert list(train_line.get_ydata()) == [1.0, 0.5]
    with pytest.raises(ValueError, match="history"):
        xai.viz.plot_training_curves([])
