"""Figures of explanations (matplotlib only, no pyplot state: every function returns a Figure).

Signed attributions use a diverging colormap centred on zero; non-negative ones (Grad-CAM) a
sequential one. ``shared_scale=True`` gives every sample of a batch the same colour scale, so
maps can be compared across samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xai._validation import check_bool, check_positive_int, check_sample_index
from xai.errors import InputError, InputTypeError
from xai.explanation import Explanation
from xai.viz._common import DIVERGING, SEQUENTIAL, color_scale, display_image


def _check_explanation(value: object, name: str) -> None:
    if not isinstance(value, Explanation):
        raise InputTypeError(
            name,
            f"expected an xai.Explanation (from xai.explain), got {type(value).__name__}.",
        )


def plot_explanation(
    explanation: Explanation,
    index: int = 0,
    *,
    shared_scale: bool = False,
    overlay: bool = True,
    feature_names: Sequence[str] | None = None,
    max_features: int = 20,
    ax: Axes | None = None,
) -> Figure:
    """Plot the explanation of sample ``index``.

    Images: the input next to its attribution map (overlaid on the input when ``overlay``).
    Tabular: a bar chart of the ``max_features`` largest attributions with feature names
    (``feature_names``, else ``explanation.extras["feature_names"]``, else ``x0, x1, ...``).

    Args:
        explanation: the explanation to plot.
        index: which sample.
        shared_scale: use one colour/axis scale for all samples of the batch.
        overlay: draw image maps over a faded copy of the input.
        feature_names: names of tabular features.
        max_features: bars shown for tabular data.
        ax: draw the attribution panel into this Axes instead of a new figure.

    Returns:
        The matplotlib Figure.

    Raises:
        TypeError: ``explanation``, ``feature_names`` or ``ax`` is of the wrong type.
        ValueError: ``feature_names`` does not have one name per feature, or
            ``max_features`` is not positive.
        IndexError: ``index`` is not one of the explained samples.
    """
    _check_explanation(explanation, "explanation")
    index = check_sample_index(index, len(explanation))
    shared_scale = check_bool("shared_scale", shared_scale)
    overlay = check_bool("overlay", overlay)
    check_positive_int("max_features", max_features)
    if feature_names is not None and (
        isinstance(feature_names, str | bytes)
        or not isinstance(feature_names, Sequence | np.ndarray)
        or not all(isinstance(name, str | np.str_) for name in feature_names)
    ):
        raise InputTypeError(
            "feature_names",
            "expected a sequence of names (strings), one per feature, got "
            f"{type(feature_names).__name__} {feature_names!r:.60}.",
        )
    if ax is not None and not isinstance(ax, Axes):
        raise InputTypeError("ax", f"expected a matplotlib Axes, got {type(ax).__name__}.")
    heatmaps = explanation.heatmap().detach().float().cpu()
    values = heatmaps[index]
    magnitude, signed = color_scale(heatmaps if shared_scale else values)
    signed = signed or (shared_scale and bool((heatmaps < 0).any()))
    title = f"{explanation.method} · sample {index} · target {int(explanation.target[index])}"

    if explanation.is_image:
        return draw_image_panel(explanation, index, values, magnitude, signed, overlay, ax, title)
    return draw_bar_panel(
        explanation, values.flatten(), magnitude, feature_names, max_features, ax, title
    )


def draw_image_panel(
    explanation: Explanation,
    index: int,
    values: torch.Tensor,
    magnitude: float,
    signed: bool,
    overlay: bool,
    ax: Axes | None,
    title: str,
) -> Figure:
    image, image_cmap = display_image(explanation.inputs[index])
    if ax is None:
        figure = Figure(figsize=(7.0, 3.4), layout="constrained")
        input_ax, ax = figure.subplots(1, 2)
        input_ax.imshow(image, cmap=image_cmap)
        input_ax.set_title("input")
        input_ax.axis("off")
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    cmap, vmin = (DIVERGING, -magnitude) if signed else (SEQUENTIAL, 0.0)
    if overlay:
        ax.imshow(image, cmap=image_cmap, alpha=0.35)
    shown = ax.imshow(
        values.numpy(), cmap=cmap, vmin=vmin, vmax=magnitude, alpha=0.75 if overlay else 1.0
    )
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    figure.colorbar(shown, ax=ax, shrink=0.8)
    return figure


def draw_bar_panel(
    explanation: Explanation,
    values: torch.Tensor,
    magnitude: float,
    feature_names: Sequence[str] | None,
    max_features: int,
    ax: Axes | None,
    title: str,
) -> Figure:
    names = list(feature_names or explanation.extras.get("feature_names") or [])
    if names and len(names) != values.numel():
        raise InputError("feature_names", f"expected {values.numel()} names, got {len(names)}.")
    names = names or [f"x{i}" for i in range(values.numel())]
    order = values.abs().argsort(descending=True)[:max_features].flip(0).tolist()
    shown = values[order].numpy()
    if ax is None:
        figure = Figure(figsize=(6.0, 0.3 * len(order) + 1.2), layout="constrained")
        ax = figure.subplots()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    colors = ["#b2182b" if v > 0 else "#2166ac" for v in shown]
    ax.barh(range(len(order)), shown, color=colors)
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlim(-magnitude * 1.05, magnitude * 1.05)
    ax.set_xlabel("attribution")
    ax.set_title(title, fontsize=9)
    return figure


def plot_comparison(
    explanations: Sequence[Explanation], index: int = 0, *, shared_scale: bool = False
) -> Figure:
    """The maps of several explanations of the same sample, side by side (one row).

    Args:
        explanations: explanations of the same inputs (by different methods, say).
        index: which sample.
        shared_scale: one colour scale for every map (default: each map its own).

    Returns:
        A Figure with one panel per explanation.

    Raises:
        ValueError: ``explanations`` is empty.
        TypeError: an element is not an :class:`~xai.Explanation`.
        IndexError: ``index`` is not a sample of every explanation.
    """
    if not explanations:
        raise InputError("explanations", "expected at least one explanation, got none.")
    for position, explanation in enumerate(explanations):
        _check_explanation(explanation, f"explanations[{position}]")
    index = check_sample_index(index, min(len(e) for e in explanations))
    shared_scale = check_bool("shared_scale", shared_scale)
    figure = Figure(figsize=(3.2 * len(explanations), 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(explanations)))
    for axis, explanation in zip(axes, explanations, strict=True):
        heatmaps = explanation.heatmap().detach().float().cpu()
        magnitude, signed = color_scale(heatmaps if shared_scale else heatmaps[index])
        title = explanation.method
        if explanation.is_image:
            draw_image_panel(
                explanation, index, heatmaps[index], magnitude, signed, True, axis, title
            )
        else:
            draw_bar_panel(explanation, heatmaps[index].flatten(), magnitude, None, 15, axis, title)
    return figure
