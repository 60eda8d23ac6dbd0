"""Superpixels for LIME on images.

lime's default (quickshift with kernel_size=4, max_dist=200) yields 1-3 segments on small
images such as 32x32 digits, which makes its explanations useless. The default here is SLIC on
the per-image normalised values, sized to give tens of segments whatever the image size, with
a regular grid as fallback when SLIC finds too few (flat or tiny images).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

SegmentationSpec = str | Callable[[np.ndarray], np.ndarray] | None
METHODS = ("slic", "grid", "quickshift")


def default_n_segments(height: int, width: int) -> int:
    """About one segment per 16 pixels, between 16 and 100 segments."""
    return int(min(100, max(16, (height * width) // 16)))


def grid_segments(height: int, width: int, n_segments: int) -> np.ndarray:
    """A regular grid of about ``n_segments`` rectangular cells."""
    rows = max(1, min(height, round(math.sqrt(n_segments * height / width))))
    cols = max(1, min(width, round(n_segments / rows)))
    row_index = (np.arange(height) * rows) // height
    col_index = (np.arange(width) * cols) // width
    return row_index[:, None] * cols + col_index[None, :]


def slic_segments(image: np.ndarray, n_segments: int) -> np.ndarray:
    """SLIC on the image scaled to [0, 1]; ``image`` is ``(H, W, C)``."""
    from skimage.segmentation import slic

    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    channels = scaled.shape[2]
    return slic(
        scaled if channels > 1 else scaled[:, :, 0],
        n_segments=n_segments,
        compactness=0.1,
        channel_axis=-1 if channels > 1 else None,
        convert2lab=False,
        start_label=0,
        enforce_connectivity=True,
    )


def quickshift_segments(image: np.ndarray) -> np.ndarray:
    """lime's own default segmentation (needs 3 channels; grey images are repeated)."""
    from skimage.segmentation import quickshift

    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.shape[2] != 3:
        raise ValueError(
            f"segmentation: 'quickshift' needs 1 or 3 channels, got {image.shape[2]}. Use 'slic' or 'grid'."
        )
    return quickshift(image.astype(np.float64), kernel_size=4, max_dist=200, ratio=0.2)


def relabel(segments: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..S-1 (lime indexes its features by label)."""
    _, inverse = np.unique(segments, return_inverse=True)
    return inverse.reshape(segments.shape).astype(np.int64)


def segment_image(
    image: np.ndarray, segmentation: Any, n_segments: int | None
) -> tuple[np.ndarray, str]:
    """Segment one ``(H, W, C)`` image; returns ``(labels (H, W), method actually used)``."""
    height, width = image.shape[:2]
    wanted = n_segments or default_n_segments(height, width)
    if callable(segmentation):
        labels = np.asarray(segmentation(image))
        if labels.shape != (height, width) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"segmentation: the callable must return integer labels of shape ({height}, "
                f"{width}), got {labels.dtype} {labels.shape}."
            )
        return relabel(labels), getattr(segmentation, "__name__", "callable")
    if segmentation in (None, "slic"):
        labels = slic_segments(image, wanted)
        if len(np.unique(labels)) >= max(4, wanted // 4):
            return relabel(labels), "slic"
        return grid_segments(height, width, wanted), "grid (slic found too few segments)"
    if segmentation == "grid":
        return grid_segments(height, width, wanted), "grid"
    if segmentation == "quickshift":
        return relabel(quickshift_segments(image)), "quickshift"
    raise ValueError(
        f"segmentation: expected one of {', '.join(map(repr, METHODS))}, a callable "
        f"image (H, W, C) -> labels (H, W), or an integer tensor of labels, got {segmentation!r}."
    )
