"""Sparseness (Gini index) on maps whose value is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xai.metrics import sparseness_score


def gini_reference(values: np.ndarray) -> float:
    """The Gini index as a mean absolute difference: sum |x_i - x_j| / (2 n^2 mean)."""
    values = np.abs(values.ravel())
    n = values.size
    return float(np.abs(values[:, None] - values[None, :]).sum() / (2 * n * n * values.mean()))


def test_known_values() -> None:
    one_hot = torch.zeros(1, 10)
    one_hot[0, 3] = -2.0
    assert float(sparseness_score(one_hot)) == pytest.approx(0.9)  # (P - 1) / P
    assert float(sparseness_score(torch.full((1, 10), 0.7))) == 0.0
    assert float(sparseness_score(torch.zeros(1, 10))) == 0.0


def test_matches_the_mean_difference_definition_and_is_scale_invariant() -> None:
    maps = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    values = sparseness_score(maps)
    summed = maps.sum(dim=1).numpy()
    for value, array in zip(values, summed, strict=True):
        assert abs(float(value) - gini_reference(array)) < 1e-6
    torch.testing.assert_close(sparseness_score(5.0 * maps), values)


def test_concentrated_maps_are_sparser() -> None:
    spread = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1)) + 1.0
    peaked = spread.clone()
    peaked[:, :, 2:4, 2:4] *= 50
    assert bool((sparseness_score(peaked) > sparseness_score(spread)).all())
