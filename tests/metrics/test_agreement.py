"""Agreement measures against scipy and scikit-image, and on known cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity as skimage_ssim

from xai.metrics import rank_correlation, structural_similarity, top_k_overlap


def test_rank_correlation_equals_scipy_on_absolute_maps() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, 7, 7, generator=generator)
    b = a + 0.8 * torch.randn(5, 3, 7, 7, generator=generator)
    b[0] = b[0].round()  # ties
    ours = rank_correlation(a, b)
    for i in range(5):
        reference = spearmanr(a[i].sum(0).abs().flatten(), b[i].sum(0).abs().flatten()).statistic
        assert float(ours[i]) == pytest.approx(reference, abs=1e-6)


def test_rank_correlation_known_cases() -> None:
    a = torch.arange(1.0, 11.0)[None]
    assert float(rank_correlation(a, 3 * a)) == pytest.approx(1.0)
    assert float(rank_correlation(a, -a)) == pytest.approx(1.0)  # absolute relevance
    assert float(rank_correlation(a, 1.0 / a)) == pytest.approx(-1.0)
    assert float(rank_correlation(a, torch.ones_like(a))) == 0.0  # undefined: no agreement
    assert float(rank_correlation(torch.ones_like(a), torch.ones_like(a))) == 1.0
    # a layer map (N, 1, H, W) against a full-channel map
    maps = torch.rand(2, 3, 5, 5)
    assert rank_correlation(maps.sum(1, keepdim=True), maps).allclose(torch.ones(2))


def test_top_k_overlap_known_cases() -> None:
    a = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[5.0, 0.0, 3.0, 0.0, 1.0, 4.0, 0.0, 0.0, 0.0, 0.0]])
    assert float(top_k_overlap(a, a, k=3)) == 1.0
    assert float(top_k_overlap(a, b, k=2)) == 0.5  # {0, 1} vs {0, 5}
    assert float(top_k_overlap(a, b, k=0.3)) == pytest.approx(2 / 3)  # {0,1,2} vs {0,5,2}
    with pytest.raises(ValueError, match="k: expected"):
        top_k_overlap(a, b, k=0)
    with pytest.raises(ValueError, match="k: expected at most"):
        top_k_overlap(a, b, k=11)


def test_structural_similarity_equals_skimage() -> None:
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 16, 16, generator=generator)
    b = a + 0.3 * torch.rand(3, 1, 16, 16, generator=generator)
    ours = structural_similarity(a, b)
    for i in range(3):
        x, y = a[i, 0].numpy().astype(np.float64), b[i, 0].numpy().astype(np.float64)
        reference = skimage_ssim(x / x.max(), y / y.max(), data_range=1.0, win_size=7)
        assert float(ours[i]) == pytest.approx(reference, abs=1e-5)
    assert structural_similarity(a, a).allclose(torch.ones(3))


def test_errors() -> None:
    with pytest.raises(ValueError, match="other: expected attributions of the same samples"):
        rank_correlation(torch.rand(2, 5), torch.rand(3, 5))
    with pytest.raises(ValueError, match="SSIM compares image maps"):
        structural_similarity(torch.rand(2, 5), torch.rand(2, 5))
    with pytest.raises(TypeError, match=r"attributions: expected a torch\.Tensor"):
        rank_correlation([1, 2], torch.rand(1, 2))
