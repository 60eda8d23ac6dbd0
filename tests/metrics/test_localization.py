"""Localization metrics: an image model that by construction looks only at one region."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xai
from xai.metrics import (
    chance_level,
    pointing_game_score,
    relevance_mass_score,
    relevance_rank_score,
)

SIZE = 12


class RegionModel(nn.Module):
    """Class 0's logit depends only on the pixels of one region (rows 2-5, columns 6-10), so
    the ground truth of every explanation is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x[:, :, 2:6, 6:11] ** 2).sum(dim=(1, 2, 3))
        return torch.stack([score, -score], dim=1)


def region_masks(n: int) -> torch.Tensor:
    masks = torch.zeros(n, 1, SIZE, SIZE, dtype=torch.bool)
    masks[:, :, 2:6, 6:11] = True
    return masks


def test_a_perfect_map_scores_one_and_a_random_map_scores_chance() -> None:
    n = 200
    masks = region_masks(n)
    perfect = masks.float() * torch.rand(n, 1, SIZE, SIZE) + masks.float()
    for metric in (pointing_game_score, relevance_mass_score, relevance_rank_score):
        torch.testing.assert_close(metric(perfect, masks), torch.ones(n))
    chance = float(chance_level(masks)[0])  # 20 / 144
    uniform = torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    for metric in (pointing_game_score, relevance_mass_score, relevance_rank_score):
        mean = float(metric(uniform, masks).mean())
        assert abs(mean - chance) < 0.06, (metric.__name__, mean, chance)
    # a constant map: every position ties for the maximum, so the pointing game scores chance
    torch.testing.assert_close(
        pointing_game_score(torch.ones(n, 1, SIZE, SIZE), masks), torch.full((n,), chance)
    )


def test_integrated_gradients_of_the_region_model_localizes() -> None:
    model = RegionModel().eval()
    x = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) + 0.1
    expl = xai.explain(model, x, "integrated_gradients", target=0, n_steps=8)
    masks = region_masks(4)
    for metric in (pointing_game_score, relevance_mass_score, relevance_rank_score):
        torch.testing.assert_close(metric(expl.attributions, masks), torch.ones(4))


def test_known_fractions() -> None:
    masks = torch.tensor([[True, False, False, False]])
    attributions = torch.tensor([[1.0, 3.0, -5.0, 0.0]])  # tabular (N, F) with feature masks
    assert float(pointing_game_score(attributions, masks)) == 0.0
    assert float(relevance_mass_score(attributions, masks)) == pytest.approx(0.25)
    assert float(relevance_rank_score(attributions, masks)) == 0.0
    assert float(relevance_mass_score(-attributions.abs(), masks)) == 0.0  # no positive relevance


def test_tolerance_dilates_the_mask() -> None:
    masks = torch.zeros(1, 1, SIZE, SIZE, dtype=torch.bool)
    masks[0, 0, 5, 5] = True
    attributions = torch.zeros(1, 1, SIZE, SIZE)
    attributions[0, 0, 5, 7] = 1.0
    assert float(pointing_game_score(attributions, masks)) == 0.0
    assert float(pointing_game_score(attributions, masks, tolerance=2)) == 1.0


def test_mask_layouts_and_errors() -> None:
    masks = region_masks(2)
    attributions = torch.rand(2, 3, SIZE, SIZE)
    torch.testing.assert_close(
        relevance_mass_score(attributions, masks), relevance_mass_score(attributions, masks[:, 0])
    )
    with pytest.raises(ValueError, match="masks: expected"):
        relevance_mass_score(attributions, masks[:1])
    with pytest.raises(ValueError, match="masks: localization metrics need ground-truth masks"):
        pointing_game_score(attributions, None)
    empty = torch.zeros_like(masks)
    with pytest.warns(RuntimeWarning, match="empty or full mask"):
        values = relevance_rank_score(attributions, empty)
    assert bool(values.isnan().all())
