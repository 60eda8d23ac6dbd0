"""Figures of classification results: confusion matrix, ROC curves, reliability diagram and
training curves. Matplotlib only, no pyplot state: every function returns a ``Figure``.

Reached as ``xai.viz.plot_confusion_matrix`` and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.figure import Figure

from xai.evaluation.classification import ClassificationReport
from xai.metrics import classification as M
from xai.training.history import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_confusion_matrix",
    "plot_reliability_diagram",
    "plot_roc_curves",
    "plot_training_curves",
]


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.subplots()


def _check_report(report: Any) -> None:
    if not isinstance(report, ClassificationReport):
        raise TypeError(
            f"report: expected the ClassificationReport returned by xai.evaluate, got "
            f"{type(report).__name__}."
        )


def plot_confusion_matrix(
    report: ClassificationReport | torch.Tensor | np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """The confusion matrix as a heat map with counts (or row fractions) in each cell.

    Args:
        report: a report from :func:`xai.evaluate`, or a ``(K, K)`` matrix (rows: true class).
        class_names: tick labels (default: the report's class names, else ``0..K-1``).
        normalize: show each row as fractions of the true class's samples.
        ax: draw into this Axes instead of a new figure.

    Returns:
        The Figure drawn into.

    Raises:
        TypeError: ``report`` is neither a ClassificationReport nor a matrix.
        ValueError: the matrix is not square.
    """
    if isinstance(report, torch.Tensor | np.ndarray):
        matrix = np.asarray(report.tolist() if isinstance(report, torch.Tensor) else report)
        names = list(class_names) if class_names else [str(i) for i in range(len(matrix))]
    else:
        _check_report(report)
        matrix = report.confusion_matrix.numpy()
        names = list(class_names or report.class_names)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"report: expected a square (K, K) matrix, got shape {matrix.shape}.")
    values = matrix.astype(float)
    if normalize:
        values = values / np.clip(values.sum(axis=1, keepdims=True), 1, None)
    k = len(values)
    figure, ax = _new_axes(ax, (1.2 + 0.5 * k, 1.0 + 0.45 * k))
    shown = ax.imshow(values, cmap="Blues", vmin=0)
    threshold = values.max() / 2 if values.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else str(int(matrix[i, j]))
            color = "white" if values[i, j] > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""), fontsize=9)
    figure.colorbar(shown, ax=ax, shrink=0.8)
    return figure


def plot_roc_curves(report: ClassificationReport, *, ax: Axes | None = None) -> Figure:
    """ROC curves: the positive class for binary tasks, one-vs-rest per class for multiclass.

    The legend gives each curve's AUC (equal to ``report.roc_auc_per_class``).

    Args:
        report: the :class:`~xai.evaluation.classification.ClassificationReport` of
            :func:`xai.evaluate`.
        ax: draw into this Axes instead of a new figure.

    Returns:
        The Figure drawn into.

    Raises:
        TypeError: ``report`` is not a ClassificationReport.
    """
    _check_report(report)
    figure, ax = _new_axes(ax, (4.8, 4.2))
    classes = [1] if report.num_classes == 2 else range(report.num_classes)
    for c in classes:
        if not bool((report.y_true == c).any()) or bool((report.y_true == c).all()):
            continue
        fpr, tpr, _ = M.roc_curve(report.y_true, report.scores, positive=c)
        auc = report.roc_auc_per_class[c]
        ax.plot(
            fpr.numpy(), tpr.numpy(), linewidth=1.2, label=f"{report.class_names[c]} ({auc:.3f})"
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC (AUC {report.roc_auc:.3f})", fontsize=9)
    ax.legend(fontsize=7, loc="lower right", title="class (AUC)", title_fontsize=7)
    return figure


def plot_reliability_diagram(
    report: ClassificationReport, *, n_bins: int = 15, ax: Axes | None = None
) -> Figure:
    """Accuracy against confidence of the top-1 prediction, per bin, with the diagonal of
    perfect calibration; the title gives the expected calibration error.

    Args:
        report: the :class:`~xai.evaluation.classification.ClassificationReport` of
            :func:`xai.evaluate`.
        n_bins: confidence bins over [0, 1].
        ax: draw into this Axes instead of a new figure.

    Returns:
        The Figure drawn into.

    Raises:
        TypeError: ``report`` is not a ClassificationReport.
    """
    _check_report(report)
    bins = M.reliability_bins(report.y_true, report.probabilities, n_bins)
    edges = bins["edges"].numpy()
    centers = (edges[:-1] + edges[1:]) / 2
    accuracy = np.nan_to_num(bins["accuracy"].numpy())
    confidence = bins["confidence"].numpy()
    filled = bins["count"].numpy() > 0
    figure, ax = _new_axes(ax, (4.8, 4.2))
    width = 1.0 / n_bins
    ax.bar(
        centers[filled],
        accuracy[filled],
        width=width,
        color="#4c72b0",
        edgecolor="black",
        linewidth=0.6,
        label="accuracy",
    )
    low = np.minimum(accuracy, confidence)
    ax.bar(
        centers[filled],
        np.abs(confidence - accuracy)[filled],
        bottom=low[filled],
        width=width,
        fill=False,
        hatch="//",
        edgecolor="#c44e52",
        linewidth=0.6,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ece = M.expected_calibration_error(report.y_true, report.probabilities, n_bins)
    ax.set_title(f"reliability (ECE {ece:.3f})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return figure


def plot_training_curves(history: History | Sequence[dict[str, Any]]) -> Figure:
    """Losses (left) and validation accuracy (right, when recorded) per epoch of a history.

    Args:
        history: the :class:`~xai.training.History` from :func:`xai.fit`, or its records.

    Returns:
        A Figure with the loss panel and, when recorded, the validation-accuracy panel; the
        best epoch is marked.

    Raises:
        ValueError: the history is empty or its records have no ``"epoch"``.
    """
    records = list(getattr(history, "records", history))
    if not records or not all(isinstance(r, dict) and "epoch" in r for r in records):
        raise ValueError(
            "history: expected the History returned by xai.fit (or its list of per-epoch "
            "records), got an empty or malformed history."
        )
    epochs = [r["epoch"] for r in records]
    has_val = any("val_accuracy" in r for r in records)
    figure = Figure(figsize=(8.0 if has_val else 4.5, 3.4), layout="constrained")
    axes: Any = figure.subplots(1, 2 if has_val else 1)  # one Axes, or an array of two
    loss_ax = axes[0] if has_val else axes
    for key in ("train_loss", "val_loss"):
        if any(key in r for r in records):
            loss_ax.plot(epochs, [r.get(key, np.nan) for r in records], marker="o", label=key)
    best = getattr(history, "best_epoch", None)
    if best is not None:
        loss_ax.axvline(best, color="grey", linestyle=":", linewidth=0.8, label="best epoch")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize=7)
    if has_val:
        axes[1].plot(epochs, [r.get("val_accuracy", np.nan) for r in records], marker="o")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("val_accuracy")
        if best is not None:
            axes[1].axvline(best, color="grey", linestyle=":", linewidth=0.8)
    return figure
