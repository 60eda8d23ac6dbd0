"""Complexity: how concentrated is the attribution? A few strong features read more easily
than relevance spread thinly over everything."""

from __future__ import annotations

import torch

from xai.metrics._checks import check_attributions, relevance_maps
from xai.metrics.base import QualityMetric

__all__ = ["sparseness_score"]


def sparseness_score(attributions: torch.Tensor) -> torch.Tensor:
    """Sparseness: the Gini index of the absolute relevance per position. Higher is sparser.

    Chalasani, Chen, Chowdhury, Wu & Jha, *Concise Explanations of Neural Networks using
    Adversarial Training*, ICML 2020 (https://arxiv.org/abs/1810.06583). Positions are pixels
    for images (channels summed first, so every method is scored on the same grid) and
    columns for tabular data. A map concentrated on one of ``P`` positions scores
    ``(P - 1) / P``; a uniform map 0; an all-zero map 0.

    Returns:
        ``(N,)`` values in [0, 1).
    """
    attributions = check_attributions(attributions)
    values = relevance_maps(attributions).abs().double()
    values = torch.sort(values, dim=1).values
    p = values.shape[1]
    index = torch.arange(1, p + 1, device=values.device, dtype=values.dtype)
    total = values.sum(dim=1)
    gini = ((2 * index - p - 1) * values).sum(dim=1) / (p * total.clamp(min=1e-300))
    return torch.where(total > 0, gini, torch.zeros_like(gini)).float()


#: The metrics of this module, registered by :mod:`xai.metrics.registry`.
METRICS = (
    QualityMetric(
        name="sparseness_score",
        function=sparseness_score,
        higher_is_better=True,
        category="complexity",
        reference="https://arxiv.org/abs/1810.06583",
        summary="Gini index of the absolute relevance",
    ),
)
