"""Complexity: how concentrated is the attribution? A few strong features read more easily
than relevance spread thinly over everything."""

from __future__ import annotations

import torch

from xai.metrics._checks import check_attention_mask, check_attributions, relevance_maps
from xai.metrics.base import QualityMetric

__all__ = ["sparseness_score"]


def sparseness_score(
    attributions: torch.Tensor, *, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Sparseness: the Gini index of the absolute relevance per position. Higher is sparser.

    Chalasani, Chen, Chowdhury, Wu & Jha, *Concise Explanations of Neural Networks using
    Adversarial Training*, ICML 2020 (https://arxiv.org/abs/1810.06583). Positions are pixels
    for images (channels summed first, so every method is scored on the same grid) and
    columns for tabular data. A map concentrated on one of ``P`` positions scores
    ``(P - 1) / P``; a uniform map 0; an all-zero map 0.

    Args:
        attributions: ``(N, ...)``.
        attention_mask: for token attributions ``(N, L)``: 1 on real tokens; ``P`` is then
            each row's number of real tokens (padding is not counted as zero relevance).

    Returns:
        ``(N,)`` values in [0, 1).
    """
    attributions = check_attributions(attributions)
    relevance = relevance_maps(attributions)
    keep = check_attention_mask(attention_mask, relevance)
    values = relevance.abs().double()
    positions = values.shape[1]
    if keep is None:
        values = torch.sort(values, dim=1).values
        valid = torch.ones_like(values, dtype=torch.bool)
        p = torch.full_like(values[:, 0], positions)
    else:  # padding sorts first (-1) and is left out of the sums
        values = torch.sort(values.masked_fill(~keep, -1.0), dim=1).values
        valid = values >= 0
        values = values.clamp(min=0)
        p = valid.sum(dim=1).to(values.dtype)
    # rank of each value among the row's P counted values: 1..P
    index = torch.arange(1, positions + 1, device=values.device, dtype=values.dtype)
    index = index[None, :] - (positions - p)[:, None]
    total = values.sum(dim=1)
    weights = (2 * index - p[:, None] - 1) * valid
    gini = (weights * values).sum(dim=1) / (p.clamp(min=1) * total.clamp(min=1e-300))
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
