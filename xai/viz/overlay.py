"""Attribution maps blended over their input images as RGB arrays: fast to draw (no matplotlib
figure), for interactive views such as the dashboard."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xai._validation import check_sample_index
from xai.errors import InputError
from xai.explanation import Explanation
from xai.viz._common import DIVERGING, SEQUENTIAL, color_scale, display_image


def input_image(image: torch.Tensor, *, size: int = 224) -> np.ndarray:
    """One input image as an RGB array, contrast stretched and enlarged by a whole factor
    (nearest pixel).

    Args:
        image: one image ``(C, H, W)``.
        size: the image is enlarged to about this width.

    Returns:
        A ``uint8`` array ``(H', W', 3)``.

    Raises:
        ValueError: ``image`` is not a ``(C, H, W)`` tensor.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError("image", f"expected one image tensor (C, H, W), got {shape}.")
    return _to_uint8(_rgb(image), size)


def _rgb(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` -> RGB floats in [0, 1] ``(H, W, 3)`` (grey repeated over the channels)."""
    array, _ = display_image(image)
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array


def _to_uint8(array: np.ndarray, size: int) -> np.ndarray:
    """RGB floats ``(H, W, 3)`` enlarged by a whole factor (nearest pixel) to about ``size``
    wide, as ``uint8``."""
    factor = max(1, size // array.shape[1])
    array = array.repeat(factor, axis=0).repeat(factor, axis=1)
    return (array.clip(0.0, 1.0) * 255).round().astype(np.uint8)


def attribution_scale(explanations: Sequence[Explanation], index: int = 0) -> float:
    """The largest absolute attribution of sample ``index`` over several explanations: one
    colour scale shared by their maps (:func:`overlay_image`'s ``magnitude``).

    Args:
        explanations: explanations of the same inputs.
        index: which sample.

    Returns:
        The largest absolute value of the sample's maps.

    Raises:
        ValueError: ``explanations`` is empty.
        IndexError: ``index`` is not a sample of every explanation.
    """
    if not explanations:
        raise InputError("explanations", "expected at least one explanation, got none.")
    index = check_sample_index(index, min(len(e) for e in explanations))
    return max(color_scale(e.heatmap()[index].detach().float().cpu())[0] for e in explanations)


def overlay_image(
    explanation: Explanation,
    index: int = 0,
    *,
    magnitude: float | None = None,
    size: int = 224,
    alpha: float = 0.65,
) -> np.ndarray:
    """The attribution map of sample ``index`` blended over its (faded) input image, as an RGB
    ``uint8`` array ``(H', W', 3)``: fast to draw (no matplotlib figure), for interactive views.

    Signed maps use the diverging colormap centred on zero (red positive, blue negative),
    non-negative ones the sequential colormap from zero.

    Args:
        explanation: an explanation of images ``(N, C, H, W)``.
        index: which sample.
        magnitude: the value drawn at full colour (default: the map's own largest absolute
            value); pass :func:`attribution_scale` of several explanations to compare them.
        size: the image is enlarged by a whole factor (nearest pixel) to about this width.
        alpha: opacity of the map over the input.

    Returns:
        A ``uint8`` array ``(H', W', 3)``.

    Raises:
        ValueError: not an image explanation, or ``alpha``/``magnitude`` out of range.
        IndexError: ``index`` is not one of the explained samples.
    """
    import matplotlib

    if not explanation.is_image:
        raise InputError(
            "explanation",
            f"overlay_image draws image explanations (N, C, H, W), got inputs of "
            f"shape {tuple(explanation.inputs.shape)}; use plot_explanation for tabular data.",
        )
    index = check_sample_index(index, len(explanation))
    if not 0.0 <= alpha <= 1.0:
        raise InputError("alpha", f"expected a float in [0, 1], got {alpha!r}.")
    values = explanation.heatmap()[index].detach().float().cpu()
    own_magnitude, signed = color_scale(values)
    if magnitude is None:
        magnitude = own_magnitude
    elif not magnitude > 0:
        raise InputError("magnitude", f"expected a positive float, got {magnitude!r}.")
    if signed:
        cmap, normalised = DIVERGING, (values / magnitude + 1.0) / 2.0
    else:
        cmap, normalised = SEQUENTIAL, values / magnitude
    colours = matplotlib.colormaps[cmap](normalised.clamp(0.0, 1.0).numpy())[..., :3]
    image = _rgb(explanation.inputs[index])
    return _to_uint8((1.0 - alpha) * (0.25 + 0.75 * image) + alpha * colours, size)
