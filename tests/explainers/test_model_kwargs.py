"""``model_kwargs``: extra forward arguments, a common option of every method.

Tensors whose first dimension is the number of samples are the samples' own: every row a
method evaluates (interpolation points, perturbed copies, background rows) runs with its
sample's slice. The reference: each sample explained alone by a model with its argument baked
in — seeded methods explain each sample with the same seed, so the two must be equal.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import xai
from xai.explainers.registry import get_explainer

from . import models

TABULAR_METHODS = ("integrated_gradients", "smoothgrad", "occlusion", "lime", "shap")
IMAGE_METHODS = ("gradcam", "integrated_gradients", "smoothgrad", "occlusion", "lime", "shap")


class Masked(nn.Module):
    """``forward(x, mask, scale)``: features (or pixels) where ``mask`` is 0 are ignored."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, mask: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.net(x * mask.view(mask.shape[0], *x.shape[1:]) * scale)


class Baked(nn.Module):
    """The same model with one sample's mask fixed."""

    def __init__(self, masked: Masked, mask: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.masked = masked
        self.mask = mask
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.masked(x, self.mask.expand(x.shape[0], *self.mask.shape[1:]), self.scale)


def options(method: str, model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    chosen: dict[str, Any] = dict(type(get_explainer(method, model)).quick_options)
    if method in ("lime", "smoothgrad", "shap"):
        chosen["seed"] = 0
    if method == "shap" and x.ndim == 2:
        chosen.update(algorithm="kernel", background=x[:2] * 0.5)
    if method == "lime" and x.ndim == 2:
        chosen["background"] = torch.randn(
            20, x.shape[1], generator=torch.Generator().manual_seed(9)
        )
    return chosen


def check(method: str, model: Masked, x: torch.Tensor, mask: torch.Tensor) -> None:
    chosen = options(method, model, x)
    together = xai.explain(
        model, x, method=method, model_kwargs={"mask": mask, "scale": 2.0}, **chosen
    )
    assert together.params["model_kwargs"]["scale"] == 2.0
    for i in range(x.shape[0]):
        alone = xai.explain(
            Baked(model, mask[i : i + 1], 2.0), x[i : i + 1], method=method, **chosen
        )
        torch.testing.assert_close(
            together.attributions[i : i + 1], alone.attributions, rtol=1e-5, atol=1e-6
        )
        assert together.target[i] == alone.target[0]


@pytest.mark.parametrize("method", TABULAR_METHODS)
def test_tabular_model_taking_a_mask(method: str) -> None:
    x = models.rows(4)
    mask = (torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > 0.3).float()
    check(method, Masked(models.small_mlp()), x, mask)


@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_image_model_taking_a_mask(method: str) -> None:
    x = models.images(3)
    mask = (torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(2)) > 0.2).float()
    check(method, Masked(models.small_cnn()), x, mask)


def test_bad_model_kwargs_are_named() -> None:
    model, x = Masked(models.small_mlp()), models.rows(2)
    with pytest.raises(TypeError, match=r"model_kwargs: expected None or a dict"):
        xai.explain(model, x, model_kwargs=[("mask", x)])
    with pytest.raises(ValueError, match=r"model_kwargs: algorithm='deep'"):
        xai.explain(
            model, x, method="shap", algorithm="deep", model_kwargs={"mask": torch.ones(2, 6)}
        )
