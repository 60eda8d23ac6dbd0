"""Agreement between two attributions of the same samples (two methods, two seeds, a model and
its randomised copy).

Maps are compared as absolute relevance per position (channels summed first), so a Grad-CAM map
``(N, 1, H, W)`` and an IG map ``(N, 3, H, W)`` are compared on the same grid, and the sign
conventions of the methods do not matter. Token attributions ``(N, L)`` are compared on the
real tokens only when an ``attention_mask`` (1: a real token, 0: padding) is given.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from xai.metrics._checks import check_attention_mask, check_attributions, relevance_maps
from xai.metrics.base import QualityMetric

__all__ = ["rank_correlation", "structural_similarity", "top_k_overlap"]


def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a = check_attributions(a, name="attributions")
    b = check_attributions(b, name="other")
    ma, mb = relevance_maps(a).abs(), relevance_maps(b).abs()
    if ma.shape != mb.shape:
        raise ValueError(
            f"other: expected attributions of the same samples and positions as `attributions` "
            f"({tuple(a.shape)}), got {tuple(b.shape)}."
        )
    return ma, mb.to(ma.device)


def rank_correlation(
    attributions: torch.Tensor, other: torch.Tensor, *, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Spearman rank correlation of the absolute relevance of two maps, per sample.

    Spearman, *The proof and measurement of association between two things*, 1904; used for
    explanations by Adebayo et al., *Sanity Checks for Saliency Maps*, NeurIPS 2018
    (https://arxiv.org/abs/1810.03292). Ties get average ranks. When one map is constant the
    correlation is undefined and reported as 0 (no agreement); two constant maps agree (1).

    Args:
        attributions, other: two attributions of the same samples.
        attention_mask: for token attributions ``(N, L)``: 1 on real tokens; each row is
            ranked and correlated over its real tokens only (padding, 0 in every method's
            map, would otherwise add agreement that says nothing).

    Returns:
        ``(N,)`` values in [-1, 1].
    """
    from scipy.stats import rankdata

    ma, mb = _pair(attributions, other)
    keep = check_attention_mask(attention_mask, ma)
    a, b = ma.double().cpu().numpy(), mb.double().cpu().numpy()
    if keep is not None:  # padding as NaN: left out of the ranks and the sums
        padding = ~keep.cpu().numpy()
        a, b = np.where(padding, np.nan, a), np.where(padding, np.nan, b)
    ra = rankdata(a, axis=1, nan_policy="omit")
    rb = rankdata(b, axis=1, nan_policy="omit")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row without real tokens
        ra = np.nan_to_num(ra - np.nanmean(ra, axis=1, keepdims=True), nan=0.0)
        rb = np.nan_to_num(rb - np.nanmean(rb, axis=1, keepdims=True), nan=0.0)
    na, nb = np.sqrt((ra**2).sum(axis=1)), np.sqrt((rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=1) / (na * nb)
    rho = np.where((na == 0) & (nb == 0), 1.0, np.where((na == 0) | (nb == 0), 0.0, rho))
    return torch.from_numpy(np.clip(rho, -1.0, 1.0)).float().to(ma.device)


def top_k_overlap(
    attributions: torch.Tensor,
    other: torch.Tensor,
    *,
    k: float | int = 0.1,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Share of the ``k`` most relevant positions (absolute relevance) two maps have in common.

    Used to compare explanation methods by e.g. Krishna et al., *The Disagreement Problem in
    Explainable Machine Learning*, 2022 (https://arxiv.org/abs/2202.01602).

    Args:
        attributions, other: two attributions of the same samples.
        k: a fraction of the positions in (0, 1] (default 0.1) or a count >= 1.
        attention_mask: for token attributions ``(N, L)``: 1 on real tokens; only they are
            ranked, and a fraction ``k`` is of each row's real tokens (a count is capped at
            them).

    Returns:
        ``(N,)`` values in [0, 1].
    """
    ma, mb = _pair(attributions, other)
    keep = check_attention_mask(attention_mask, ma)
    p = ma.shape[1]
    if isinstance(k, bool) or not isinstance(k, int | float) or k <= 0:
        raise ValueError(f"k: expected a fraction in (0, 1] or a count >= 1, got {k!r}.")
    fraction = isinstance(k, float) and k <= 1
    count = max(1, round(k * p)) if fraction else int(k)
    if count > p:
        raise ValueError(f"k: expected at most {p} positions, got {count}.")
    if keep is None:
        counts = torch.full((ma.shape[0],), count, device=ma.device)
    else:  # padding ranks last (-inf); k of each row's real tokens
        ma, mb = ma.masked_fill(~keep, float("-inf")), mb.masked_fill(~keep, float("-inf"))
        real = keep.sum(dim=1)
        if fraction:
            counts = torch.round(k * real.double()).long().clamp(min=1)
        else:
            counts = torch.full_like(real, count)
        counts = torch.minimum(counts, real.clamp(min=1))
    ranks = torch.arange(p, device=ma.device)[None, :] < counts[:, None]
    top_a = torch.sort(ma, dim=1, descending=True, stable=True).indices
    top_b = torch.sort(mb, dim=1, descending=True, stable=True).indices
    in_a = torch.zeros_like(ma, dtype=torch.bool).scatter_(1, top_a, ranks)
    in_b = torch.zeros_like(mb, dtype=torch.bool).scatter_(1, top_b, ranks)
    return (in_a & in_b).sum(dim=1).float() / counts.float()


def structural_similarity(attributions: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """SSIM of two image maps (absolute relevance, each scaled to [0, 1] by its maximum).

    Wang, Bovik, Sheikh & Simoncelli, *Image Quality Assessment: From Error Visibility to
    Structural Similarity*, IEEE TIP 2004 (https://doi.org/10.1109/TIP.2003.819861), by
    ``skimage.metrics.structural_similarity``; used for saliency maps by Adebayo et al., 2018
    (https://arxiv.org/abs/1810.03292). Images only.

    Returns:
        ``(N,)`` values in [-1, 1].
    """
    from skimage.metrics import structural_similarity as ssim

    a = check_attributions(attributions)
    b = check_attributions(other, name="other")
    if a.ndim != 4 or b.ndim != 4:
        raise ValueError(
            f"attributions: SSIM compares image maps (N, C, H, W), got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}. Use rank_correlation for other data."
        )
    pa, pb = _pair(a, b)
    height, width = a.shape[2:]
    ma = pa.reshape(-1, height, width).double().cpu().numpy()
    mb = pb.reshape(-1, height, width).double().cpu().numpy()
    window = min(7, height, width)
    window -= 1 - window % 2  # odd
    values = []
    for x, y in zip(ma, mb, strict=True):
        x = x / x.max() if x.max() > 0 else x
        y = y / y.max() if y.max() > 0 else y
        if window < 3:
            values.append(float(np.allclose(x, y)))
            continue
        values.append(float(ssim(x, y, data_range=1.0, win_size=window)))
    return torch.tensor(values, dtype=torch.float32, device=a.device)


#: The metrics of this module, registered by :mod:`xai.metrics.registry`.
METRICS = (
    QualityMetric(
        name="rank_correlation",
        function=rank_correlation,
        higher_is_better=True,
        category="agreement",
        reference="https://arxiv.org/abs/1810.03292",
        requires=("other",),
        summary="Spearman correlation of absolute relevance between two maps",
    ),
    QualityMetric(
        name="top_k_overlap",
        function=top_k_overlap,
        higher_is_better=True,
        category="agreement",
        reference="https://arxiv.org/abs/2202.01602",
        requires=("other",),
        summary="share of the top-k positions two maps have in common",
    ),
    QualityMetric(
        name="structural_similarity",
        function=structural_similarity,
        higher_is_better=True,
        category="agreement",
        reference="https://doi.org/10.1109/TIP.2003.819861",
        requires=("other",),
        image_only=True,
        summary="SSIM of two normalised absolute image maps",
    ),
)
