"""The options of each method worth adjusting by hand, with their ranges, and which methods
apply to which inputs — both asked of the methods' classes through the registry.

Front ends (the dashboard) build their controls from :func:`tunable_parameters` instead of
hard-coding them; the values they produce go straight into ``xai.explain(..., **options)``.
Each method declares its own in :meth:`xai.Explainer.tunable_parameters` (none by default: a
method without them is explained with its defaults).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from xai._layers import spatial_layers
from xai.explainers.base import AUTO, Parameter
from xai.explainers.registry import available_explainers, explainer_class

__all__ = ["AUTO", "Parameter", "applicable_methods", "spatial_layers", "tunable_parameters"]


def applicable_methods(
    inputs: torch.Tensor, methods: Sequence[str] | None = None, model: nn.Module | None = None
) -> list[str]:
    """The methods (default: every registered one) that accept inputs of this layout, e.g.
    Grad-CAM only for images ``(N, C, H, W)`` (and token ids of a ``model`` with a 1-D
    convolution)."""
    names = list(methods) if methods is not None else available_explainers()
    return [name for name in names if explainer_class(name).accepts(inputs, model)]


def tunable_parameters(
    method: str, model: nn.Module | None = None, inputs: torch.Tensor | None = None
) -> list[Parameter]:
    """The adjustable options of ``method`` for this model and these inputs ``(N, ...)``
    (both optional; they refine defaults such as Grad-CAM's layers and LIME's segments).

    Raises:
        ValueError: an unknown method name (with the closest names).
    """
    return explainer_class(method).tunable_parameters(model, inputs)
