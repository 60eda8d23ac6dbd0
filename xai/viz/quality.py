"""Figures of explanation quality (matplotlib only, no pyplot state: every function returns a
Figure): deletion/insertion curves, randomisation sanity checks, and method comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import torch
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from xai._validation import check_sample_index
from xai.errors import InputError
from xai.viz._common import color_scale, text_colour
from xai.viz.explanation import (
    _check_model_name,
    _labels,
    draw_bar_panel,
    draw_image_panel,
    draw_input_panel,
    sample_title,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from xai.evaluation.comparison import Comparison
    from xai.evaluation.quality import QualityReport
    from xai.metrics.sanity import RandomizationResult

__all__ = [
    "plot_agreement_matrix",
    "plot_method_comparison",
    "plot_perturbation_curves",
    "plot_randomization",
]


def plot_perturbation_curves(report: QualityReport, index: int | None = None) -> Figure:
    """Deletion and insertion curves of a quality report: the target score against the fraction
    of features removed (added), mean over samples with its spread, or sample ``index``.

    Args:
        report: a :class:`~xai.evaluation.quality.QualityReport` computed with ``deletion_auc`` and/or
            ``insertion_auc``.
        index: one sample; ``None`` draws the mean and the 10-90% band over samples.

    Returns:
        A Figure with one panel per curve (deletion, insertion), titled with its AUC.

    Raises:
        ValueError: the report holds no deletion/insertion curves.
        IndexError: ``index`` is not one of the report's samples.
    """
    if not report.curves:
        raise InputError(
            "report",
            "it holds no deletion/insertion curves; evaluate with "
            "metrics=['deletion_auc', 'insertion_auc'] (or the default set).",
        )
    figure = Figure(figsize=(4.2 * len(report.curves), 3.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(report.curves)))
    for axis, (mode, (fractions, scores)) in zip(axes, report.curves.items(), strict=True):
        x = fractions.numpy()
        values = scores.numpy()
        key = f"{mode}_auc"
        if index is not None:
            sample = check_sample_index(index, values.shape[0])
            axis.plot(x, values[sample], color="C0" if mode == "deletion" else "C1")
            auc = float(report.values[key][sample]) if key in report.values else float("nan")
        else:
            axis.plot(x, values.mean(axis=0), color="C0" if mode == "deletion" else "C1")
            low, high = np.percentile(values, [10, 90], axis=0)
            axis.fill_between(x, low, high, alpha=0.25, color="C0" if mode == "deletion" else "C1")
            auc = report.means.get(key, float("nan"))
        axis.set_xlim(0, 1)
        axis.set_xlabel(f"fraction of features {'removed' if mode == 'deletion' else 'added'}")
        axis.set_ylabel("target score")
        better = "lower" if mode == "deletion" else "higher"
        axis.set_title(f"{report.method} · {mode} AUC {auc:.3f} ({better} is better)", fontsize=8)
    return figure


def plot_randomization(result: RandomizationResult) -> Figure:
    """Similarity to the original attributions at each randomisation step (mean over samples
    with the 10-90% band), with the pass threshold.

    Args:
        result: the :class:`~xai.metrics.sanity.RandomizationResult` of
            :func:`~xai.metrics.sanity.model_randomization_check`.

    Returns:
        A Figure with one line per similarity measure, titled with the verdict.
    """
    figure = Figure(figsize=(max(4.5, 0.7 * len(result.steps) + 2), 3.6), layout="constrained")
    axis = figure.subplots()
    x = np.arange(len(result.steps))
    for number, (measure, values) in enumerate(result.similarity.items()):
        array = values.numpy()
        axis.plot(x, np.nanmean(array, axis=1), marker="o", label=measure, color=f"C{number}")
        low, high = np.nanpercentile(array, [10, 90], axis=1)
        axis.fill_between(x, low, high, alpha=0.2, color=f"C{number}")
    axis.axhline(result.threshold, color="black", linestyle="--", linewidth=0.8, label="threshold")
    axis.set_xticks(x, result.steps, rotation=45, ha="right", fontsize=8)
    axis.set_ylim(-1.05, 1.05)
    axis.set_ylabel("similarity to original")
    axis.set_xlabel("randomised (cumulative, from the top)" if len(x) > 1 else "")
    axis.set_title(result.verdict, fontsize=8, wrap=True)
    axis.legend(fontsize=8)
    return figure


def plot_agreement_matrix(
    comparison: Comparison, measure: str = "rank_correlation", ax: Axes | None = None
) -> Figure:
    """The ``(M, M)`` agreement matrix of a comparison as an annotated heatmap.

    Args:
        comparison: the :class:`~xai.evaluation.comparison.Comparison` of :func:`xai.compare`.
        measure: one of ``comparison.agreement``'s measures (``"rank_correlation"``,
            ``"top_k_overlap"``).
        ax: draw into this Axes instead of a new figure.

    Returns:
        The Figure drawn into.

    Raises:
        ValueError: ``measure`` is not one of the comparison's measures.
    """
    if measure not in comparison.agreement:
        raise InputError(
            "measure",
            f"expected one of {', '.join(map(repr, comparison.agreement))}, got {measure!r}.",
        )
    if ax is None:
        figure = Figure(figsize=(1.1 * len(comparison.methods) + 2.2, 3.4), layout="constrained")
        ax = figure.subplots()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    matrix = comparison.agreement[measure].numpy()
    cmap, norm = matplotlib.colormaps["RdBu_r"], Normalize(vmin=-1, vmax=1)
    shown = ax.imshow(matrix, cmap=cmap, norm=norm)
    ticks = range(len(comparison.methods))
    ax.set_xticks(ticks, comparison.methods, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, comparison.methods, fontsize=8)
    for i in ticks:
        for j in ticks:
            value = float(matrix[i, j])
            # white on the dark ends of the colormap (the diagonal's 1.00), black elsewhere
            colour = text_colour(cmap(norm(value))) if np.isfinite(value) else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(measure.replace("_", " "), fontsize=9)
    colorbar = figure.colorbar(shown, ax=ax, shrink=0.8)
    colorbar.set_label(f"{measure.replace('_', ' ')} (1: same ranking)", fontsize=8)
    return figure


def plot_method_comparison(
    comparison: Comparison,
    index: int = 0,
    *,
    class_names: Sequence[str] | None = None,
    probabilities: torch.Tensor | np.ndarray | None = None,
    model_name: str | None = None,
) -> Figure:
    """The input and the methods' maps of sample ``index`` side by side (each method's own
    scale), with the rank-correlation agreement matrix on the right, under a title naming the
    model, the sample, its target class and the prediction.

    Args:
        comparison: the :class:`~xai.evaluation.comparison.Comparison` of :func:`xai.compare`.
        index: which sample.
        class_names: names of the classes in label order (default: the first explanation's
            ``extras["class_names"]``, else class numbers).
        probabilities: the model's class probabilities ``(N, K)`` of the compared inputs: the
            title then shows the predicted class and its probability.
        model_name: the model's name, for the title.

    Returns:
        A Figure with the input (images), one panel per method and the agreement matrix.

    Raises:
        IndexError: ``index`` is not one of the compared samples.
        TypeError, ValueError: ``class_names``, ``probabilities`` or ``model_name`` is wrong.
    """
    methods = comparison.methods
    first = comparison.explanations[methods[0]]
    sample = check_sample_index(index, len(first))
    names, probs = _labels(first, class_names, probabilities)
    model_name = _check_model_name(model_name)
    extra = 2 if first.is_image else 1
    figure = Figure(figsize=(3.0 * (len(methods) + extra - 1) + 4.0, 4.0), layout="constrained")
    axes = list(np.atleast_1d(figure.subplots(1, len(methods) + extra)))
    if first.is_image:
        draw_input_panel(first, sample, axes.pop(0))
    figure.suptitle(
        sample_title(first, sample, names, probs, model_name, method=False).replace("\n", " · "),
        fontsize=10,
    )
    for axis, method in zip(axes[:-1], methods, strict=True):
        explanation = comparison.explanations[method]
        sample = check_sample_index(index, len(explanation))
        values = explanation.heatmap().detach().float().cpu()[sample]
        magnitude, signed = color_scale(values)
        title = method
        if explanation.is_image:
            draw_image_panel(explanation, sample, values, magnitude, signed, True, axis, title)
        else:
            draw_bar_panel(explanation, values.flatten(), magnitude, None, 12, axis, title)
    plot_agreement_matrix(comparison, "rank_correlation", ax=axes[-1])
    return figure
