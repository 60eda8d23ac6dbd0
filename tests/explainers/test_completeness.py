"""Integrated Gradients' completeness axiom: sum of attributions = f(x) - f(baseline)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xai


def random_model(kind: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "tanh_mlp":
        return nn.Sequential(
            nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Softplus(), nn.Linear(32, 4)
        )
    if kind == "relu_mlp":
        return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.SiLU(), nn.Conv2d(6, 6, 3, padding=1), nn.Tanh(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 4),
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["tanh_mlp", "relu_mlp", "cnn"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sum_of_attributions_equals_output_difference(kind: str, seed: int) -> None:
    model = random_model(kind, seed).eval()
    shape = (5, 8) if kind != "cnn" else (5, 2, 10, 10)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    baseline = torch.randn(*shape[1:], generator=torch.Generator().manual_seed(seed + 100)) * 0.3
    expl = xai.explain(model, x, method="integrated_gradients", baselines=baseline, n_steps=300)
    with torch.no_grad():
        outputs = model(x).gather(1, expl.target[:, None]).squeeze(1)
        reference = model(baseline[None]).squeeze(0)[expl.target]
    total = expl.attributions.flatten(1).sum(1)
    scale = (outputs - reference).abs().max().item() + 1e-3
    # ReLU kinks make the Riemann/Gauss-Legendre sum converge slowly; smooth models converge fast.
    tolerance = 2e-2 if kind == "relu_mlp" else 2e-3
    torch.testing.assert_close(total, outputs - reference, rtol=0, atol=tolerance * scale)
    # extras["convergence_delta"] is exactly that error
    torch.testing.assert_close(
        expl.extras["convergence_delta"], total - (outputs - reference), rtol=0, atol=1e-4
    )
