"""Sanity checks: model randomization flags an edge detector and passes IG on a trained model;
data randomization retrains on shuffled labels; seed stability of stochastic methods."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import reference_models
import xai
import xai.viz
from xai.explainers.registry import _REGISTRY
from xai.metrics import (
    RandomizationResult,
    data_randomization_check,
    model_randomization_check,
    seed_stability_score,
)


class SobelEdges(xai.Explainer):
    """An "explanation" that ignores the model: the edge magnitude of the input."""

    name = "sobel_edges_test"
    input_ndims = (4,)

    def attribute(self, function, inputs, target, params):  # type: ignore[no-untyped-def]
        grey = inputs.mean(dim=1, keepdim=True)
        kernel = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], device=inputs.device)
        gx = F.conv2d(grey, kernel[None, None], padding=1)
        gy = F.conv2d(grey, kernel.T[None, None], padding=1)
        return (gx**2 + gy**2).sqrt().expand_as(inputs).clone(), {}


@pytest.fixture
def sobel_method() -> Any:
    xai.register_explainer(SobelEdges)
    try:
        yield SobelEdges.name
    finally:
        _REGISTRY.pop(SobelEdges.name, None)


@pytest.fixture(scope="module")
def shapes() -> Any:
    ref = reference_models.load("shapes_cnn")
    images, _, _ = ref.data["test"].tensors
    return ref.model, images[:8]


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_randomization_flags_an_edge_detector(shapes: Any, sobel_method: str) -> None:
    model, images = shapes
    result = model_randomization_check(model, images, sobel_method)
    assert not result.passed
    assert "FAILS" in result.verdict and "threshold 0.5" in result.verdict
    assert result.similarity["rank_correlation"].min() > 0.999
    assert result.similarity["structural_similarity"].min() > 0.999


def test_randomization_passes_integrated_gradients_on_a_trained_model(shapes: Any) -> None:
    model, images = shapes
    before = state(model)
    result = model_randomization_check(model, images, "integrated_gradients", n_steps=8)
    assert result.passed, result.verdict
    # cascading from the top: the classifier first, the first convolution last
    assert result.steps[0] == "classifier" and result.steps[-1] == "features.0"
    assert result.similarity["rank_correlation"].shape == (len(result.steps), 8)
    assert result.similarity["structural_similarity"].shape == (len(result.steps), 8)
    # the user's model is untouched
    for key, value in state(model).items():
        torch.testing.assert_close(value, before[key])
    assert not model.training
    data = result.to_dict()
    assert data["passed"] is True and len(data["mean_similarity"]["rank_correlation"]) == 7
    assert xai.viz.plot_randomization(result) is not None


def test_randomization_with_a_callable_and_chosen_layers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.randn(5, 6)

    def gradient(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        inputs = inputs.clone().requires_grad_(True)
        model(inputs).gather(1, target[:, None]).sum().backward()
        return inputs.grad

    result = model_randomization_check(model, x, gradient, layers=["2"], threshold=0.9)
    assert result.steps == ["2"] and "structural_similarity" not in result.similarity
    assert isinstance(result, RandomizationResult)
    one_name = model_randomization_check(model, x, gradient, layers="2", threshold=0.9)
    assert one_name.steps == ["2"]  # a string is one layer name, not one name per character
    with pytest.raises(ValueError, match="layers: the model has no submodule"):
        model_randomization_check(model, x, gradient, layers=["head"])
    with pytest.raises(ValueError, match=r"layers: the model has no submodule\(s\) \['head'\]"):
        model_randomization_check(model, x, gradient, layers="head")
    with pytest.raises(ValueError, match="method: unknown method"):
        model_randomization_check(model, x, "integrated_gradient")
    with pytest.raises(ValueError, match=r"threshold: expected a rank correlation in \(-1, 1\]"):
        model_randomization_check(model, x, gradient, threshold=5)


def test_data_randomization_retrains_a_copy_on_shuffled_labels() -> None:
    ref = reference_models.load("breast_cancer_mlp")
    features, labels = ref.data["train"].tensors[:2]
    inputs = ref.data["test"].tensors[0][:16]
    before = state(ref.model)
    result = data_randomization_check(
        ref.model,
        (features[:96], labels[:96]),
        inputs,
        "integrated_gradients",
        epochs=2,
        n_steps=8,
        fit_options={"batch_size": 32},
    )
    assert result.check == "data_randomization" and result.steps == ["shuffled labels"]
    values = result.similarity["rank_correlation"]
    assert values.shape == (1, 16) and bool(values.isfinite().all())
    assert -1.0 <= result.final_similarity <= 1.0
    assert result.details["epochs"] == 2 and result.details["n_train"] == 96
    assert "data randomization check" in result.verdict
    assert xai.viz.plot_randomization(result) is not None
    for key, value in state(ref.model).items():
        torch.testing.assert_close(value, before[key])
    with pytest.raises(TypeError, match="train_data: expected"):
        data_randomization_check(ref.model, features, inputs)


def test_seed_stability() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).eval()
    x = torch.randn(3, 5)
    target = torch.zeros(3, dtype=torch.long)

    def lime(inputs: torch.Tensor, target: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        return xai.explain(
            model, inputs, "lime", target=target, seed=seed, num_samples=300
        ).attributions

    values = seed_stability_score(lime, x, target, seeds=(0, 1, 2))
    assert values.shape == (3,) and bool((values <= 1).all()) and bool((values > 0.5).all())

    def deterministic(inputs: torch.Tensor, target: torch.Tensor, seed: int | None = None) -> Any:
        return inputs * 2

    torch.testing.assert_close(seed_stability_score(deterministic, x, target), torch.ones(3))

    def noise(inputs: torch.Tensor, target: torch.Tensor, seed: int | None = None) -> Any:
        return torch.randn(inputs.shape, generator=torch.Generator().manual_seed(seed))

    assert float(seed_stability_score(noise, x, target, seeds=range(6)).abs().mean()) < 0.5
    with pytest.raises(ValueError, match="seeds: expected at least two distinct seeds"):
        seed_stability_score(lime, x, target, seeds=(1, 1))


def test_randomization_leaves_a_training_model_in_training_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.2), nn.Linear(8, 3)).train()
    reference = copy.deepcopy(model)
    model_randomization_check(model, torch.randn(4, 6), "integrated_gradients", n_steps=4)
    assert model.training
    for (name, a), (_, b) in zip(
        model.state_dict().items(), reference.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=name)


def test_data_randomization_reuses_a_retrained_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    features = torch.randn(40, 4)
    labels = (features[:, 0] > 0).long()
    first = data_randomization_check(
        model, (features, labels), features[:6], "integrated_gradients", epochs=1, n_steps=4
    )
    assert isinstance(first.model, nn.Module) and first.model is not model
    again = data_randomization_check(
        model, None, features[:6], "integrated_gradients", retrained=first.model, n_steps=4
    )
    torch.testing.assert_close(
        again.similarity["rank_correlation"], first.similarity["rank_correlation"]
    )
    assert again.details["reused_model"] is True
    with pytest.raises(TypeError, match=r"retrained: expected None or an nn\.Module"):
        data_randomization_check(model, None, features[:6], retrained="model")
