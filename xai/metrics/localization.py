"""Localization: does the attribution fall on the object? Scored against ground-truth masks.

The relevance of a position is the attribution summed over channels (sign kept), so maps of
every method (Grad-CAM's ``(N, 1, H, W)`` included) are scored the same way. Masks are boolean
``(N, 1, H, W)``, ``(N, H, W)`` or ``(N, F)`` (relevant tabular features); a sample whose mask
is empty (or full) has no defined score and gets NaN with a warning.

Text: token attributions ``(N, L)`` are scored against keyword masks ``(N, L)``; with an
``attention_mask`` (the model's, 1 on real tokens) the padded positions are left out
entirely: the maximum is taken over real tokens, the mass and the ranking count real tokens
only, and an empty or full mask means no keyword among (or only keywords as) the real tokens.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F

from xai._validation import check_positive_int
from xai.metrics._checks import (
    check_attention_mask,
    check_attributions,
    relevance_maps,
    valid_positions,
)
from xai.metrics.base import QualityMetric

__all__ = [
    "chance_level",
    "pointing_game_score",
    "relevance_mass_score",
    "relevance_rank_score",
]


def _check_masks(masks: Any, attributions: torch.Tensor, dilate: int = 0) -> torch.Tensor:
    """Masks as bool ``(N, P)`` aligned with :func:`relevance_maps` of the attributions."""
    if masks is None:
        raise ValueError(
            "masks: localization metrics need ground-truth masks (N, 1, H, W) or (N, H, W); got "
            "None. shapes_cnn's test set carries them: ref.data['test'].tensors[2]."
        )
    if not isinstance(masks, torch.Tensor):
        masks = torch.as_tensor(masks)
    n = attributions.shape[0]
    spatial = tuple(attributions.shape[2:]) if attributions.ndim >= 3 else (attributions.shape[1],)
    if masks.ndim == attributions.ndim and masks.ndim >= 3:
        if masks.shape[0] != n or tuple(masks.shape[2:]) != spatial:
            raise ValueError(
                f"masks: expected shape ({n}, 1, {', '.join(map(str, spatial))}), got "
                f"{tuple(masks.shape)}."
            )
        masks = masks.bool().any(dim=1)
    if tuple(masks.shape) != (n, *spatial):
        raise ValueError(
            f"masks: expected one mask per sample, shape ({n}, 1, "
            f"{', '.join(map(str, spatial))}) or ({n}, {', '.join(map(str, spatial))}), got "
            f"{tuple(masks.shape)}."
        )
    masks = masks.to(attributions.device).bool()
    if dilate and masks.ndim == 3:
        size = 2 * dilate + 1
        masks = F.max_pool2d(masks[:, None].float(), size, stride=1, padding=dilate)[:, 0] > 0
    return masks.reshape(n, -1)


def _undefined(
    masks: torch.Tensor, values: torch.Tensor, name: str, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``values`` with NaN (and a warning) where the mask is empty or covers every position
    that counts (``valid``: the real tokens; default every position)."""
    if valid is None:
        area, size = masks.sum(dim=1), torch.full_like(masks.sum(dim=1), masks.shape[1])
    else:
        area, size = (masks & valid).sum(dim=1), valid.sum(dim=1)
    bad = (area == 0) | (area == size)
    if bool(bad.any()):
        warnings.warn(
            f"masks: {int(bad.sum())} sample(s) have an empty or full mask; {name} is undefined "
            "for them and set to NaN.",
            RuntimeWarning,
            stacklevel=3,
        )
        values = values.masked_fill(bad, float("nan"))
    return values


def pointing_game_score(
    attributions: torch.Tensor,
    masks: torch.Tensor,
    *,
    tolerance: int = 0,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pointing game: 1 when the map's maximum lies on the object, else 0. Higher is better.

    Zhang, Bargal, Lin, Brandt, Shen & Sclaroff, *Top-down Neural Attention by Excitation
    Backprop*, ECCV 2016 (https://arxiv.org/abs/1608.00507). When several positions share the
    maximum, the score is the fraction of them on the object, so a constant map scores the
    object's area fraction (chance), not 1.

    Args:
        attributions: ``(N, C, H, W)`` or ``(N, 1, H, W)`` maps (or ``(N, F)``).
        masks: ground truth, ``(N, 1, H, W)`` / ``(N, H, W)`` (or ``(N, F)``), bool.
        tolerance: pixels by which the mask is dilated (the paper uses 15 on 224-pixel images).
        attention_mask: for token attributions ``(N, L)``: 1 on real tokens, 0 on padding;
            the maximum is taken over the real tokens only (default: every position).

    Returns:
        ``(N,)`` values in [0, 1].
    """
    attributions = check_attributions(attributions)
    tolerance = check_positive_int("tolerance", tolerance, minimum=0)
    inside = _check_masks(masks, attributions, tolerance)
    relevance = relevance_maps(attributions)
    keep = check_attention_mask(attention_mask, relevance)
    valid = valid_positions(keep, relevance)
    relevance = relevance.masked_fill(~valid, float("-inf"))
    top = (relevance == relevance.max(dim=1, keepdim=True).values) & valid
    values = (top & inside).sum(dim=1).float() / top.sum(dim=1).clamp(min=1).float()
    return _undefined(_check_masks(masks, attributions), values, "pointing_game_score", keep)


def relevance_mass_score(
    attributions: torch.Tensor, masks: torch.Tensor, *, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Relevance mass accuracy: the share of the positive relevance that lies on the object.
    Higher is better; 0 when the map has no positive relevance.

    Arras, Osman & Samek, *CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
    neural network explanations*, Information Fusion 2022 (https://arxiv.org/abs/2003.07258).

    Args:
        attributions, masks: as for :func:`pointing_game_score`.
        attention_mask: for token attributions ``(N, L)``: only the real tokens (1) count.

    Returns:
        ``(N,)`` values in [0, 1].
    """
    attributions = check_attributions(attributions)
    inside = _check_masks(masks, attributions)
    relevance = relevance_maps(attributions)
    keep = check_attention_mask(attention_mask, relevance)
    valid = valid_positions(keep, relevance)
    positive = relevance.clamp(min=0) * valid
    total = positive.sum(dim=1)
    on_object = (positive * inside).sum(dim=1)
    values = torch.where(total > 0, on_object / total.clamp(min=1e-30), torch.zeros_like(total))
    return _undefined(inside, values.float(), "relevance_mass_score", keep)


def relevance_rank_score(
    attributions: torch.Tensor, masks: torch.Tensor, *, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Relevance rank accuracy: with ``K`` the object's size in positions, the share of the
    ``K`` most relevant positions that lie on the object. Higher is better.

    Arras, Osman & Samek, Information Fusion 2022 (https://arxiv.org/abs/2003.07258).
    Ties are broken by position.

    Args:
        attributions, masks: as for :func:`pointing_game_score`.
        attention_mask: for token attributions ``(N, L)``: only the real tokens (1) are
            ranked, and ``K`` counts the keywords among them.

    Returns:
        ``(N,)`` values in [0, 1].
    """
    attributions = check_attributions(attributions)
    inside = _check_masks(masks, attributions)
    relevance = relevance_maps(attributions)
    keep = check_attention_mask(attention_mask, relevance)
    valid = valid_positions(keep, relevance)
    undefined = inside
    inside = inside & valid
    relevance = relevance.masked_fill(~valid, float("-inf"))
    order = torch.sort(relevance, dim=1, descending=True, stable=True).indices
    ranked_inside = inside.gather(1, order)
    area = inside.sum(dim=1)
    positions = torch.arange(inside.shape[1], device=inside.device)
    in_top = ranked_inside & (positions[None, :] < area[:, None])
    values = in_top.sum(dim=1).float() / area.clamp(min=1).float()
    return _undefined(undefined, values, "relevance_rank_score", keep)


def chance_level(
    masks: torch.Tensor, *, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The object's area fraction per sample: what a random map scores on average on every
    localization metric here. With an ``attention_mask`` (token masks ``(N, L)``): the share
    of keywords among the real tokens."""
    if not isinstance(masks, torch.Tensor):
        masks = torch.as_tensor(masks)
    flat = masks.reshape(masks.shape[0], -1).bool()
    keep = check_attention_mask(attention_mask, flat)
    if keep is None:
        return flat.float().mean(dim=1)
    return (flat & keep).sum(dim=1).float() / keep.sum(dim=1).clamp(min=1).float()


#: The metrics of this module, registered by :mod:`xai.metrics.registry`.
METRICS = (
    QualityMetric(
        name="pointing_game_score",
        function=pointing_game_score,
        higher_is_better=True,
        category="localization",
        reference="https://arxiv.org/abs/1608.00507",
        requires=("masks",),
        summary="the map's maximum lies on the object",
    ),
    QualityMetric(
        name="relevance_mass_score",
        function=relevance_mass_score,
        higher_is_better=True,
        category="localization",
        reference="https://arxiv.org/abs/2003.07258",
        requires=("masks",),
        summary="share of positive relevance on the object (relevance mass accuracy)",
    ),
    QualityMetric(
        name="relevance_rank_score",
        function=relevance_rank_score,
        higher_is_better=True,
        category="localization",
        reference="https://arxiv.org/abs/2003.07258",
        requires=("masks",),
        summary="share of the K most relevant positions on the object (relevance rank accuracy)",
    ),
)
