"""What the figures share: the two colormaps and how an image and a map are scaled."""

from __future__ import annotations

import numpy as np
import torch

#: Signed maps: diverging, centred on zero (red positive, blue negative).
DIVERGING = "RdBu_r"
#: Non-negative maps (Grad-CAM): sequential from zero.
SEQUENTIAL = "inferno"


def display_image(image: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """``(C, H, W)`` -> something imshow can draw: grey for 1 channel, RGB for 3, mean otherwise."""
    array = image.detach().float().cpu().numpy()
    if array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
        cmap = None
    else:
        array = array.mean(axis=0)
        cmap = "gray"
    low, high = float(array.min()), float(array.max())
    array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array, cmap


def color_scale(values: torch.Tensor) -> tuple[float, bool]:
    """(largest magnitude, whether values are signed)."""
    magnitude = float(values.abs().max()) if values.numel() else 0.0
    return (magnitude if magnitude > 0 else 1.0), bool((values < 0).any())
