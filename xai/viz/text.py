"""Token-id explanations as text: each token on a background coloured by its attribution.

Both views use the diverging colormap (:data:`xai.viz.DIVERGING`) on a scale symmetric about
0, so a token of attribution 0 gets the colormap's centre colour and the largest magnitude one
of its ends; ``shared_scale=True`` takes the magnitude of the whole batch instead of the
sample's. Tokens are the explanation's ``tokens`` (else the ids as ``"#17"``); positions that
``params["model_kwargs"]["attention_mask"]`` switches off (padding) are left out.

- :func:`draw_text_panel`: the matplotlib panel :func:`xai.viz.plot_explanation` draws for
  token ids (wrapped lines of tokens, a colorbar, the usual title);
- :func:`text_html`: the same as a self-contained HTML snippet (inline styles, no scripts, no
  external resources; every token HTML-escaped), what :meth:`xai.Explanation.to_html` returns.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath
from matplotlib.ticker import ScalarFormatter
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from xai._validation import check_bool, check_sample_index
from xai.errors import InputTypeError
from xai.explanation import Explanation
from xai.viz._common import (
    DIVERGING,
    check_explanation,
    color_scale,
    figure_labels,
    sample_title,
    text_colour,
    value_label,
)

__all__ = ["draw_text_panel", "shown_positions", "text_html", "token_colours", "token_strings"]

#: Token text size (points), the padding of its coloured box (a fraction of the size), the
#: space between two boxes and between two lines' centres (points), and the room (points per
#: character) kept for glyphs that hinting draws wider than their outlines.
_FONT_SIZE = 10.0
_PAD = 0.3
_GAP = 3.0
_LINE = 2.1 * _FONT_SIZE
_HINTING = 0.45
#: Width (inches) of a figure of its own, and its margins.
_FIGURE_WIDTH = 7.4
_MARGIN = 0.3


def token_strings(explanation: Explanation, index: int) -> list[str]:
    """The strings of sample ``index``'s tokens: ``explanation.tokens``, else ``"#<id>"``."""
    if explanation.tokens is not None:
        return list(explanation.tokens[index])
    return [f"#{int(token)}" for token in explanation.inputs[index].tolist()]


def shown_positions(explanation: Explanation, index: int) -> list[int]:
    """The positions of sample ``index`` a text view shows: those the attention mask
    (``params["model_kwargs"]["attention_mask"]``, when it is a tensor of the inputs' shape)
    keeps, else all of them."""
    kwargs = explanation.params.get("model_kwargs")
    mask = kwargs.get("attention_mask") if isinstance(kwargs, Mapping) else None
    length = int(explanation.inputs.shape[1])
    if isinstance(mask, torch.Tensor) and mask.shape == explanation.inputs.shape:
        return torch.nonzero(mask[index].detach().cpu() != 0).flatten().tolist()
    return list(range(length))


def token_colours(values: torch.Tensor, magnitude: float) -> np.ndarray:
    """RGBA colours ``(L, 4)`` of ``values`` on the diverging colormap, ``-magnitude`` to
    ``magnitude`` (0 at its centre)."""
    norm = Normalize(vmin=-magnitude, vmax=magnitude)
    cmap = matplotlib.colormaps[DIVERGING]
    return np.asarray(cmap(norm(values.detach().double().cpu().numpy())), dtype=float)


def _scale(
    explanation: Explanation, index: int, shared_scale: bool
) -> tuple[torch.Tensor, float, bool]:
    """Sample ``index``'s values, the magnitude their colours run to and whether the scale's
    values are signed (as :func:`xai.viz.plot_explanation` decides them)."""
    heatmaps = explanation.heatmap().detach().float().cpu()
    magnitude, signed = color_scale(heatmaps if shared_scale else heatmaps[index])
    return heatmaps[index], magnitude, signed


def _lines(widths: Sequence[float], line_width: float) -> list[list[int]]:
    """Greedy wrapping: which tokens (positions in ``widths``) go on each line; a token wider
    than a line gets one of its own."""
    lines: list[list[int]] = [[]]
    used = 0.0
    for position, width in enumerate(widths):
        if lines[-1] and used + width > line_width:
            lines.append([])
            used = 0.0
        lines[-1].append(position)
        used += width + _GAP
    return lines


def draw_text_panel(
    explanation: Explanation,
    index: int,
    values: torch.Tensor,
    magnitude: float,
    signed: bool,
    ax: Axes | None,
    title: str,
) -> Figure:
    """The tokens of sample ``index`` on wrapped lines, each on a box of its attribution's
    colour (``values`` ``(L,)`` on ``-magnitude .. magnitude``), with a horizontal colorbar.

    Each shown token is one text artist of ``ax`` (``ax.texts``, in order); the box colour is
    its ``get_bbox_patch().get_facecolor()``. Lines wrap at the width of ``ax`` (of a figure
    ``7.4`` inches wide when ``ax`` is None).
    """
    positions = shown_positions(explanation, index)
    strings = token_strings(explanation, index)
    shown = [strings[p] for p in positions]
    colours = token_colours(values[positions], magnitude) if positions else np.zeros((0, 4))
    font = FontProperties(size=_FONT_SIZE)
    measure = TextToPath()
    pad = _PAD * _FONT_SIZE
    # the outlines' width, plus the room hinting takes at screen resolutions (each glyph is
    # drawn up to ~0.4 pt wider at 90 dpi)
    widths = [
        measure.get_text_width_height_descent(token, font, ismath=False)[0] * 1.02
        + _HINTING * len(token)
        + 2 * pad
        for token in shown
    ]
    if ax is None:
        line_width = (_FIGURE_WIDTH - 2 * _MARGIN) * 72.0
        lines = _lines(widths, line_width)
        capacity = float(len(lines))
        text_height = (len(lines) * _LINE + 2 * pad) / 72.0
        title_height, colorbar_height = 0.5, 0.65
        height = title_height + text_height + colorbar_height + 0.15
        figure = Figure(figsize=(_FIGURE_WIDTH, height))
        left, width = _MARGIN / _FIGURE_WIDTH, 1 - 2 * _MARGIN / _FIGURE_WIDTH
        ax = figure.add_axes((left, (colorbar_height + 0.15) / height, width, text_height / height))
        cax = figure.add_axes((0.25, 0.42 / height, 0.5, 0.12 / height))
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
        box = ax.get_position()
        line_width = max(box.width * figure.get_figwidth() * 72.0 - 2 * pad, 1.0)
        lines = _lines(widths, line_width)
        # lines at about their usual spacing from the top; closer, to fit, when the Axes is
        # short (its colorbar takes ~15% of its height; the layout may change it further)
        capacity = 0.85 * box.height * figure.get_figheight() * 72.0 / _LINE
        cax = None
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(max(float(len(lines)), capacity), 0.0)  # line 0 at the top
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    rows = blended_transform_factory(ax.transAxes, ax.transData)
    for row, members in enumerate(lines):
        offset = pad
        for position in members:
            colour = colours[position]
            ax.text(
                0.0,
                row + 0.5,
                shown[position],
                transform=rows + ScaledTranslation(offset / 72.0, 0.0, figure.dpi_scale_trans),
                fontsize=_FONT_SIZE,
                ha="left",
                va="center",
                color=text_colour(colour),
                parse_math=False,
                bbox={
                    "boxstyle": f"round,pad={_PAD}",
                    "facecolor": tuple(colour),
                    "edgecolor": "none",
                },
            )
            offset += widths[position] + _GAP
    mappable = ScalarMappable(norm=Normalize(-magnitude, magnitude), cmap=DIVERGING)
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-2, 3))
    if cax is not None:
        colorbar = figure.colorbar(mappable, cax=cax, orientation="horizontal", format=formatter)
    else:
        colorbar = figure.colorbar(
            mappable, ax=ax, orientation="horizontal", fraction=0.08, pad=0.04, format=formatter
        )
    colorbar.set_label(value_label(explanation.method, signed), fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
    return figure


def _check_text(explanation: Any) -> None:
    check_explanation(explanation, "explanation")
    if not explanation.is_text:
        raise InputTypeError(
            "explanation",
            "to_html (text_html) is for token-id explanations (integer inputs (N, L)); got "
            "inputs of "
            f"dtype {explanation.inputs.dtype} and shape {tuple(explanation.inputs.shape)}. "
            "Draw other explanations with plot().",
        )


def text_html(
    explanation: Explanation,
    index: int = 0,
    *,
    shared_scale: bool = False,
    class_names: Sequence[str] | None = None,
) -> str:
    """Sample ``index`` of a token-id explanation as a self-contained HTML snippet.

    One ``<div>``: a header line (method, sample, target class and the colour scale), then each
    shown token as a ``<span>`` whose background is its attribution's colour (the colours of
    :func:`draw_text_panel`, as ``#rrggbb``), with black or white text, whichever reads
    better, and its value in the ``title`` attribute. Inline styles only, no scripts, no
    external resources; tokens, class names and the method are HTML-escaped (attributes too),
    so nothing in them runs or changes the markup. Positions the attention mask switches off
    are left out.

    Args:
        explanation: an explanation of token ids (integer inputs ``(N, L)``).
        index: which sample.
        shared_scale: use the batch's largest magnitude as the colour scale.
        class_names: names of the classes in label order (default:
            ``explanation.extras["class_names"]``, else class numbers).

    Returns:
        The HTML text.

    Raises:
        TypeError: ``explanation`` is not an explanation of token ids, or ``class_names`` is
            not a sequence of strings.
        IndexError: ``index`` is not one of the explained samples.

    Example:
        >>> import torch, xai
        >>> expl = xai.Explanation(torch.tensor([[0.5, -1.0]]), torch.tensor([[7, 9]]),
        ...                        torch.tensor([0]), "demo", tokens=[["<b>", "ok"]])
        >>> "&lt;b&gt;" in xai.viz.text_html(expl) and "<b>" not in xai.viz.text_html(expl)
        True
    """
    _check_text(explanation)
    index = check_sample_index(index, len(explanation))
    shared_scale = check_bool("shared_scale", shared_scale)
    names, probabilities = figure_labels(explanation, class_names, None)
    values, magnitude, signed = _scale(explanation, index, shared_scale)
    positions = shown_positions(explanation, index)
    strings = token_strings(explanation, index)
    colours = token_colours(values[positions], magnitude) if positions else np.zeros((0, 4))
    header = sample_title(explanation, index, names, probabilities).replace("\n", " · ")
    scale = f"{value_label(explanation.method, signed)}: -{magnitude:.3g} to +{magnitude:.3g}"
    spans = []
    for colour, position in zip(colours, positions, strict=True):
        token = strings[position]
        value = float(values[position])
        spans.append(
            f'<span style="background-color:{to_hex(colour)};color:{text_colour(colour)};'
            'padding:0.1em 0.25em;margin:0 0.1em;border-radius:0.25em;white-space:pre" '
            f'title="{html.escape(f"{token}: {value:+.4g}", quote=True)}">'
            f"{html.escape(token, quote=True)}</span>"
        )
    return (
        '<div class="xai-text" style="font-family:sans-serif;line-height:2.1">'
        '<div style="font-size:0.85em;color:#444;line-height:1.4;margin-bottom:0.3em">'
        f"{html.escape(header, quote=True)}<br>{html.escape(scale, quote=True)}</div>"
        + " ".join(spans)
        + "</div>"
    )
