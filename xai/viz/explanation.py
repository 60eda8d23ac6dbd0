"""Figures of explanations (matplotlib only, no pyplot state: every function returns a Figure).

Signed attributions use a diverging colormap centred on zero; non-negative ones (Grad-CAM) a
sequential one; each colorbar says which (``"attribution (signed)"``, ``"Grad-CAM
relevance"``). ``shared_scale=True`` gives every sample of a batch the same colour scale, so
maps can be compared across samples. Token ids are drawn as their text, each token on a
background of its attribution's colour (:mod:`xai.viz.text`).

Titles name the sample and its target class, by name when the class names are known
(``class_names=``, else the explanation's ``extras["class_names"]``), and the model's predicted
class with its probability when the probabilities are given (``probabilities=``, e.g.
``model(x).softmax(-1)``, else ``extras["probabilities"]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from xai._validation import check_bool, check_positive_int, check_sample_index
from xai.errors import InputError, InputTypeError
from xai.explanation import Explanation
from xai.viz._common import (
    DIVERGING,
    SEQUENTIAL,
    check_explanation,
    check_model_name,
    color_scale,
    display_image,
    figure_labels,
    sample_title,
    value_label,
)
from xai.viz.text import draw_text_panel

#: The names this module has always offered (xai.viz.quality imports them from here).
_check_explanation = check_explanation
_check_model_name = check_model_name
_labels = figure_labels


def plot_explanation(
    explanation: Explanation,
    index: int = 0,
    *,
    shared_scale: bool = False,
    overlay: bool = True,
    feature_names: Sequence[str] | None = None,
    max_features: int = 20,
    class_names: Sequence[str] | None = None,
    probabilities: torch.Tensor | np.ndarray | None = None,
    model_name: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot the explanation of sample ``index``.

    Images: the input next to its attribution map (overlaid on the input when ``overlay``),
    with a labelled colorbar. Tabular: a bar chart of the ``max_features`` largest
    attributions with feature names (``feature_names``, else
    ``explanation.extras["feature_names"]``, else ``x0, x1, ...``). Token ids
    (:attr:`~xai.Explanation.is_text`): the sentence wrapped onto lines, each token on a
    background coloured by its attribution (diverging colormap, symmetric about 0), with a
    colorbar; positions that ``params["model_kwargs"]["attention_mask"]`` switches off are left
    out, and tokens are ``explanation.tokens`` (else the ids, ``"#17"``). The title names the
    method, the sample and its target class (and the model's prediction when
    ``probabilities`` are known).

    Args:
        explanation: the explanation to plot.
        index: which sample.
        shared_scale: use one colour/axis scale for all samples of the batch.
        overlay: draw image maps over a faded copy of the input.
        feature_names: names of tabular features.
        max_features: bars shown for tabular data.
        class_names: names of the classes in label order, for the title (default:
            ``explanation.extras["class_names"]``, else class numbers).
        probabilities: the model's class probabilities ``(N, K)`` of the explained inputs
            (e.g. ``model(x).softmax(-1)``; default ``explanation.extras["probabilities"]``):
            the title then shows the predicted class and its probability.
        model_name: the model's name, for the title.
        ax: draw the attribution panel into this Axes instead of a new figure (for text, its
            width sets where lines wrap).

    Returns:
        The matplotlib Figure.

    Raises:
        TypeError: ``explanation``, ``feature_names``, ``class_names``, ``probabilities``,
            ``model_name`` or ``ax`` is of the wrong type.
        ValueError: ``feature_names`` does not have one name per feature, ``probabilities``
            not one row per sample, or ``max_features`` is not positive.
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
    names, probs = _labels(explanation, class_names, probabilities)
    model_name = _check_model_name(model_name)
    heatmaps = explanation.heatmap().detach().float().cpu()
    values = heatmaps[index]
    magnitude, signed = color_scale(heatmaps if shared_scale else values)
    signed = signed or (shared_scale and bool((heatmaps < 0).any()))
    title = sample_title(explanation, index, names, probs, model_name)

    if explanation.is_image:
        return draw_image_panel(explanation, index, values, magnitude, signed, overlay, ax, title)
    if explanation.is_text:
        return draw_text_panel(explanation, index, values, magnitude, signed, ax, title)
    return draw_bar_panel(
        explanation, values.flatten(), magnitude, feature_names, max_features, ax, title
    )


def draw_input_panel(explanation: Explanation, index: int, ax: Axes) -> None:
    """The input image of sample ``index``, titled ``"input"``."""
    image, image_cmap = display_image(explanation.inputs[index])
    ax.imshow(image, cmap=image_cmap)
    ax.set_title("input", fontsize=9)
    ax.axis("off")


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
        figure = Figure(figsize=(7.4, 3.6), layout="constrained")
        input_ax, ax = figure.subplots(1, 2)
        draw_input_panel(explanation, index, input_ax)
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
    # short tick labels (a power of ten above the bar for tiny or huge scales), which the
    # layout keeps inside the figure; "0.00021" beside a narrow bar was cut off
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-2, 3))
    colorbar = figure.colorbar(shown, ax=ax, shrink=0.8, format=formatter)
    colorbar.set_label(value_label(explanation.method, signed), fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
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
        figure = Figure(figsize=(6.0, 0.3 * len(order) + 1.4), layout="constrained")
        ax = figure.subplots()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    colors = ["#b2182b" if v > 0 else "#2166ac" for v in shown]
    ax.barh(range(len(order)), shown, color=colors)
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlim(-magnitude * 1.05, magnitude * 1.05)
    ax.set_xlabel(value_label(explanation.method, bool((values < 0).any())))
    ax.set_title(title, fontsize=9)
    return figure


def plot_comparison(
    explanations: Sequence[Explanation],
    index: int = 0,
    *,
    shared_scale: bool = False,
    class_names: Sequence[str] | None = None,
    probabilities: torch.Tensor | np.ndarray | None = None,
    model_name: str | None = None,
) -> Figure:
    """The input and the maps of several explanations of the same sample, side by side (one
    row; token ids: one coloured text under the other), under a title naming the model, the
    sample, its target class and the prediction.

    Args:
        explanations: explanations of the same inputs (by different methods, say).
        index: which sample.
        shared_scale: one colour scale for every map (default: each map its own).
        class_names: names of the classes in label order (default: the first explanation's
            ``extras["class_names"]``, else class numbers).
        probabilities: the model's class probabilities ``(N, K)`` of the explained inputs
            (default: the first explanation's ``extras["probabilities"]``): the title then
            shows the predicted class and its probability.
        model_name: the model's name, for the title.

    Returns:
        A Figure with the input (image explanations) and one panel per explanation.

    Raises:
        ValueError: ``explanations`` is empty, or ``probabilities`` is not one row per sample.
        TypeError: an element is not an :class:`~xai.Explanation`, or ``class_names``,
            ``probabilities`` or ``model_name`` is of the wrong type.
        IndexError: ``index`` is not a sample of every explanation.
    """
    if not explanations:
        raise InputError("explanations", "expected at least one explanation, got none.")
    for position, explanation in enumerate(explanations):
        _check_explanation(explanation, f"explanations[{position}]")
    index = check_sample_index(index, min(len(e) for e in explanations))
    shared_scale = check_bool("shared_scale", shared_scale)
    first = explanations[0]
    names, probs = _labels(first, class_names, probabilities)
    model_name = _check_model_name(model_name)
    panels = len(explanations) + (1 if first.is_image else 0)
    if first.is_text:  # sentences read across: one panel under the other
        figure = Figure(figsize=(7.4, 0.6 + 1.5 * panels), layout="constrained")
        axes = list(np.atleast_1d(figure.subplots(panels, 1)))
    else:
        figure = Figure(figsize=(3.2 * panels, 3.6), layout="constrained")
        axes = list(np.atleast_1d(figure.subplots(1, panels)))
    if first.is_image:
        draw_input_panel(first, index, axes.pop(0))
    for axis, explanation in zip(axes, explanations, strict=True):
        heatmaps = explanation.heatmap().detach().float().cpu()
        magnitude, signed = color_scale(heatmaps if shared_scale else heatmaps[index])
        title = explanation.method
        if explanation.is_image:
            draw_image_panel(
                explanation, index, heatmaps[index], magnitude, signed, True, axis, title
            )
        elif explanation.is_text:
            draw_text_panel(explanation, index, heatmaps[index], magnitude, signed, axis, title)
        else:
            draw_bar_panel(explanation, heatmaps[index].flatten(), magnitude, None, 15, axis, title)
    figure.suptitle(
        sample_title(first, index, names, probs, model_name, method=False).replace("\n", " · "),
        fontsize=10,
    )
    return figure
