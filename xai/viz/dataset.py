"""Figures of a whole-dataset run's summary (:meth:`xai.DatasetExplanation.summary`).

matplotlib only, no pyplot state: every function returns a Figure. Signed maps (per-class
means) use the diverging colormap centred on zero with one scale for every class, so classes
can be compared; mean ``|attribution|`` is non-negative and uses the sequential one.

The summary is read by its attributes (``kind``, ``importance``, ``class_maps`` ...), so this
module does not import the evaluation layer that computes it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xai.errors import InputError, InputTypeError
from xai.viz._common import DIVERGING, SEQUENTIAL, color_scale, display_image

__all__ = ["plot_class_maps", "plot_confidence_examples", "plot_dataset_summary"]

_FIELDS = ("kind", "importance", "class_maps", "class_counts", "class_map_counts", "method")


def _check_summary(summary: Any) -> None:
    missing = [name for name in _FIELDS if not hasattr(summary, name)]
    if missing:
        raise InputTypeError(
            "summary",
            "expected a dataset summary (xai.DatasetExplanation.summary()), got "
            f"{type(summary).__name__} without {', '.join(missing)}.",
        )


def _names(summary: Any, count: int) -> list[str]:
    names = list(getattr(summary, "feature_names", None) or [])
    return names if len(names) == count else [f"x{i}" for i in range(count)]


def _draw_importance(summary: Any, ax: Axes, max_features: int) -> None:
    values = summary.importance.detach().float().cpu()
    if summary.kind == "image":
        shown = ax.imshow(values.numpy(), cmap=SEQUENTIAL, vmin=0.0)
        ax.axis("off")
        ax.get_figure().colorbar(shown, ax=ax, shrink=0.8)  # type: ignore[union-attr]
        ax.set_title("mean |attribution| per pixel", fontsize=9)
        return
    flat = values.flatten()
    if summary.kind == "text":
        ax.bar(range(flat.numel()), flat.numpy(), color="#b2182b")
        ax.set_xlabel("token position")
        ax.set_title("mean |attribution| per position", fontsize=9)
        return
    names = _names(summary, flat.numel())
    order = flat.argsort(descending=True)[:max_features].flip(0).tolist()
    ax.barh(range(len(order)), flat[order].numpy(), color="#b2182b")
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=8)
    ax.set_xlabel("mean |attribution|")
    ax.set_title("global feature importance", fontsize=9)


def _draw_counts(summary: Any, ax: Axes) -> None:
    counts = summary.class_counts
    keys = [key for key in ("label", "predicted", "target") if key in counts]
    k = int(counts[keys[0]].numel())
    width = 0.8 / len(keys)
    for position, key in enumerate(keys):
        ax.bar(
            np.arange(k) + (position - (len(keys) - 1) / 2) * width,
            counts[key].cpu().numpy(),
            width=width,
            label=key,
        )
    names = list(getattr(summary, "class_names", None) or [str(c) for c in range(k)])
    ax.set_xticks(range(k), names[:k], fontsize=8)
    ax.set_ylabel("samples")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    ax.set_title("samples per class", fontsize=9)


def plot_dataset_summary(summary: Any, *, max_features: int = 15) -> Figure:
    """The overview of a dataset run: global importance (feature bars for tabular data, a
    mean ``|attribution|`` map for images, per-position bars for text), samples per class
    (labels, predictions, explained classes), and the per-class mean maps.

    Args:
        summary: ``run.summary()`` of a :class:`xai.DatasetExplanation`.
        max_features: bars shown for tabular data.

    Returns:
        The matplotlib Figure.

    Raises:
        TypeError: ``summary`` is not a dataset summary.
    """
    _check_summary(summary)
    if isinstance(max_features, bool) or not isinstance(max_features, int) or max_features < 1:
        raise InputError("max_features", f"expected a positive int, got {max_features!r}.")
    figure = Figure(figsize=(11.0, 3.6), layout="constrained")
    importance_ax, counts_ax, maps_ax = figure.subplots(1, 3)
    _draw_importance(summary, importance_ax, max_features)
    _draw_counts(summary, counts_ax)
    _draw_class_maps_compact(summary, maps_ax, max_features)
    figure.suptitle(f"{summary.method}: {summary.n_samples} samples", fontsize=10)
    return figure


def _draw_class_maps_compact(summary: Any, ax: Axes, max_features: int) -> None:
    """Per-class means as one matrix (classes x features / positions / pixels flattened)."""
    maps = summary.class_maps.detach().float().cpu()
    k = maps.shape[0]
    matrix = maps.reshape(k, -1)
    if summary.kind == "image":
        # one tile per class, side by side: (H, K * W)
        matrix = maps.permute(1, 0, 2).reshape(maps.shape[1], -1)
    elif summary.kind == "tabular" and matrix.shape[1] > max_features:
        keep = summary.importance.flatten().argsort(descending=True)[:max_features]
        matrix = matrix[:, keep]
    magnitude, signed = color_scale(matrix)
    cmap, low = (DIVERGING, -magnitude) if signed else (SEQUENTIAL, 0.0)
    # image tiles keep their shape
    aspect: Literal["equal", "auto"] = "equal" if summary.kind == "image" else "auto"
    shown = ax.imshow(matrix.numpy(), cmap=cmap, vmin=low, vmax=magnitude, aspect=aspect)
    ax.get_figure().colorbar(shown, ax=ax, shrink=0.8)  # type: ignore[union-attr]
    if summary.kind == "image":
        ax.set_xticks([(c + 0.5) * maps.shape[2] for c in range(k)], [str(c) for c in range(k)])
        ax.set_yticks([])
        ax.set_xlabel("explained class")
    else:
        ax.set_yticks(range(k), [str(c) for c in range(k)], fontsize=8)
        ax.set_ylabel("explained class")
    ax.set_title("mean attribution per class (one scale)", fontsize=9)


def _draw_bars(ax: Axes, values: Any, magnitude: float) -> None:
    """A map of tabular or text attributions as bars, red positive and blue negative, on a
    symmetric scale shared by the figure's panels."""
    flat = values.flatten().numpy()
    ax.bar(range(flat.size), flat, color=["#b2182b" if v > 0 else "#2166ac" for v in flat])
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylim(-magnitude * 1.05, magnitude * 1.05)


def plot_class_maps(summary: Any) -> Figure:
    """The mean signed map of each explained class, one panel per class, on one colour scale
    centred on zero (images: maps; tabular and text: bars). Classes never explained are left
    out.

    Args:
        summary: ``run.summary()`` of a :class:`xai.DatasetExplanation`.

    Returns:
        The matplotlib Figure.
    """
    _check_summary(summary)
    counts = summary.class_map_counts.cpu()
    classes = [c for c in range(int(counts.numel())) if int(counts[c]) > 0]
    maps = summary.class_maps.detach().float().cpu()
    magnitude, signed = color_scale(maps[classes] if classes else maps)
    figure = Figure(figsize=(2.4 * max(len(classes), 1) + 0.8, 2.8), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, max(len(classes), 1)))
    shown = None
    for ax, c in zip(axes, classes, strict=False):
        values = maps[c]
        if summary.kind == "image":
            cmap, low = (DIVERGING, -magnitude) if signed else (SEQUENTIAL, 0.0)
            shown = ax.imshow(values.numpy(), cmap=cmap, vmin=low, vmax=magnitude)
            ax.axis("off")
        else:
            _draw_bars(ax, values, magnitude)
        ax.set_title(f"class {c} ({int(counts[c])})", fontsize=9)
    if shown is not None:
        figure.colorbar(shown, ax=list(axes), shrink=0.8)
    figure.suptitle(f"{summary.method}: mean attribution per explained class", fontsize=10)
    return figure


def plot_confidence_examples(summary: Any, which: str = "most") -> Figure:
    """The ``top_k`` most (``which="most"``) or least confident samples of the run with their
    maps (images: the input under its map; tabular and text: bars), each titled with its index
    in the data and its confidence.

    Args:
        summary: ``run.summary()`` of a :class:`xai.DatasetExplanation`.
        which: ``"most"`` or ``"least"``.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: ``which`` is neither, or the summary holds no examples (``top_k=0``).
    """
    _check_summary(summary)
    if which not in ("most", "least"):
        raise InputError("which", f"expected 'most' or 'least', got {which!r}.")
    examples = getattr(summary, f"{which}_confident", None)
    if examples is None or len(examples) == 0:
        raise InputError("summary", "holds no example samples; summarise with top_k >= 1.")
    maps = examples.heatmap().detach().float().cpu()
    if maps.ndim > 2 and not examples.is_image:
        maps = maps.reshape(len(examples), -1)
    magnitude, signed = color_scale(maps)
    n = len(examples)
    figure = Figure(figsize=(2.3 * n + 0.8, 2.8), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, n))
    shown = None
    for i, ax in enumerate(axes):
        index = int(examples.extras["indices"][i])
        confidence = float(examples.extras["confidence"][i])
        if examples.is_image:
            image, image_cmap = display_image(examples.inputs[i])
            ax.imshow(image, cmap=image_cmap, alpha=0.35)
            cmap, low = (DIVERGING, -magnitude) if signed else (SEQUENTIAL, 0.0)
            shown = ax.imshow(maps[i].numpy(), cmap=cmap, vmin=low, vmax=magnitude, alpha=0.75)
            ax.axis("off")
        else:
            _draw_bars(ax, maps[i], magnitude)
        ax.set_title(f"#{index} · p={confidence:.3f}", fontsize=8)
    if shown is not None:
        figure.colorbar(shown, ax=list(axes), shrink=0.8)
    figure.suptitle(f"{summary.method}: {which} confident samples", fontsize=10)
    return figure
