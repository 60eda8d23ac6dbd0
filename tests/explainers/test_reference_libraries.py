"""Each method equals its reference library called directly on the same model and inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shap
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam
from lime import lime_image, lime_tabular

import xai
from tests.explainers import models

CASES = {
    "cnn": (models.small_cnn, models.images),
    "mlp": (models.small_mlp, models.rows),
}


# --------------------------------------------------------------------- Integrated Gradients
@pytest.mark.parametrize("case", ["cnn", "mlp"])
@pytest.mark.parametrize("target", [None, 1, "per_sample"])
def test_integrated_gradients_equals_captum(case: str, target: object) -> None:
    model, x = CASES[case][0](), CASES[case][1]()
    if target == "per_sample":
        target = [i % 3 for i in range(x.shape[0])]
    expl = xai.explain(model, x, method="integrated_gradients", target=target)
    reference, delta = IntegratedGradients(model).attribute(
        x, target=expl.target, n_steps=50, return_convergence_delta=True
    )
    torch.testing.assert_close(expl.attributions, reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(expl.extras["convergence_delta"], delta, rtol=0, atol=1e-5)


def test_integrated_gradients_baselines_and_steps_equal_captum() -> None:
    model, x = models.small_cnn(), models.images(4)
    baselines = torch.randn_like(x)
    expl = xai.explain(
        model, x, method="integrated_gradients", baselines=baselines, n_steps=20, target=2
    )
    reference = IntegratedGradients(model).attribute(x, baselines=baselines, target=2, n_steps=20)
    torch.testing.assert_close(expl.attributions, reference, rtol=0, atol=1e-5)
    scalar = xai.explain(
        model, x, method="integrated_gradients", baselines=0.5, n_steps=20, target=2
    )
    reference = IntegratedGradients(model).attribute(x, baselines=0.5, target=2, n_steps=20)
    torch.testing.assert_close(scalar.attributions, reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("internal_batch_size", [3, 17, 64])
def test_integrated_gradients_chunking_does_not_change_results(internal_batch_size: int) -> None:
    model, x = models.small_cnn(), models.images(5)
    chunked = xai.explain(
        model, x, method="integrated_gradients", internal_batch_size=internal_batch_size
    )
    reference = IntegratedGradients(model).attribute(x, target=chunked.target, n_steps=50)
    torch.testing.assert_close(chunked.attributions, reference, rtol=0, atol=1e-5)
    assert chunked.params["internal_batch_size"] == internal_batch_size


def test_integrated_gradients_chooses_internal_batch_size() -> None:
    model = models.small_cnn()
    expl = xai.explain(model, models.images(2), method="integrated_gradients")
    chosen = expl.params["internal_batch_size"]
    assert isinstance(chosen, int) and chosen >= 50  # one sample's steps in one pass at least


# ------------------------------------------------------------------------------- Grad-CAM
@pytest.mark.parametrize("layer", [None, "0", "2", "3"])
def test_gradcam_equals_captum_layer_gradcam(layer: str | None) -> None:
    model, x = models.small_cnn(), models.images(4, size=16)
    expl = xai.explain(model, x, method="gradcam", layer=layer)
    used = expl.params["layer"]
    assert used == (layer or "3")  # the last module with a spatial output is the 2nd ReLU
    reference = LayerGradCam(model, model.get_submodule(used)).attribute(
        x, target=expl.target, relu_attributions=True
    )
    upsampled = LayerAttribution.interpolate(reference, (16, 16), interpolate_mode="bilinear")
    torch.testing.assert_close(expl.attributions, upsampled, rtol=1e-5, atol=1e-6)


def test_gradcam_layer_given_as_module_and_without_relu() -> None:
    model, x = models.small_cnn(), models.images(3)
    expl = xai.explain(
        model, x, method="gradcam", layer=model[2], relu_attributions=False, target=0
    )
    assert expl.params["layer"] == "2"
    reference = LayerGradCam(model, model[2]).attribute(x, target=0)
    reference = F.interpolate(reference, size=x.shape[2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(expl.attributions, reference, rtol=1e-5, atol=1e-6)
    assert (expl.attributions < 0).any()  # signed maps are kept when relu is off


# ----------------------------------------------------------------------------------- SHAP
@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("case", ["cnn", "mlp"])
def test_shap_gradient_equals_shap_gradient_explainer(case: str, batch_size: int | None) -> None:
    model, x = CASES[case][0](), CASES[case][1]()
    background = CASES[case][1](10) * 0.5
    expl = xai.explain(
        model, x, method="shap", background=background, nsamples=40, seed=11, batch_size=batch_size
    )
    assert expl.params["algorithm"] == "gradient"
    explainer = shap.GradientExplainer(model, background)
    for j in range(x.shape[0]):
        # shap reseeds for each output column, so one sample per call, all columns, same seed.
        values = explainer.shap_values(x[j : j + 1], nsamples=40, rseed=11)
        expected = torch.from_numpy(values[..., int(expl.target[j])]).float()
        torch.testing.assert_close(expl.attributions[j : j + 1], expected, rtol=1e-5, atol=1e-6)


def test_shap_gradient_ranked_output_matches_predicted_target() -> None:
    """target=None explains the predicted class, as shap's ranked_outputs=1 does."""
    model, x = models.small_mlp(), models.rows(1)
    background = models.rows(8)
    expl = xai.explain(model, x, method="shap", background=background, nsamples=30, seed=3)
    values, ranks = shap.GradientExplainer(model, background).shap_values(
        x, nsamples=30, rseed=3, ranked_outputs=1
    )
    assert int(ranks[0, 0]) == int(expl.target[0])
    torch.testing.assert_close(
        expl.attributions, torch.from_numpy(values[..., 0]).float(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("case", ["cnn", "mlp"])
def test_shap_deep_equals_shap_deep_explainer(case: str) -> None:
    model, x = CASES[case][0](), CASES[case][1]()
    background = CASES[case][1](6)
    expl = xai.explain(model, x, method="shap", algorithm="deep", background=background, target=1)
    values = shap.DeepExplainer(model, background).shap_values(x)
    torch.testing.assert_close(
        expl.attributions, torch.from_numpy(values[..., 1]).float(), rtol=1e-4, atol=1e-5
    )
    # additivity: values sum to f(x) - E[f(background)]
    with torch.no_grad():
        gap = model(x)[:, 1] - model(background)[:, 1].mean()
    torch.testing.assert_close(expl.attributions.flatten(1).sum(1), gap, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(
        expl.extras["expected_value"], model(background)[:, 1].mean().expand(x.shape[0]).detach()
    )


def exact_shapley(
    model: torch.nn.Module, x: torch.Tensor, background: torch.Tensor, target: int
) -> torch.Tensor:
    """Shapley values by enumerating every coalition; v(S) = mean over background rows."""
    n_features = x.shape[0]
    coalitions = torch.tensor(list(itertools.product([0, 1], repeat=n_features)), dtype=torch.bool)
    rows = torch.where(coalitions[:, None, :], x, background[None])
    with torch.no_grad():
        value = (
            model(rows.reshape(-1, n_features))[:, target]
            .double()
            .view(len(coalitions), -1)
            .mean(1)
        )
    index = {tuple(c.tolist()): i for i, c in enumerate(coalitions)}
    phi = torch.zeros(n_features, dtype=torch.float64)
    for coalition in coalitions:
        size = int(coalition.sum())
        for j in torch.nonzero(~coalition).flatten().tolist():
            weight = (
                math.factorial(size)
                * math.factorial(n_features - size - 1)
                / math.factorial(n_features)
            )
            with_j = coalition.clone()
            with_j[j] = True
            phi[j] += weight * (
                value[index[tuple(with_j.tolist())]] - value[index[tuple(coalition.tolist())]]
            )
    return phi


def shap_kernel(
    model: torch.nn.Module, x: torch.Tensor, background: torch.Tensor, target: int, **options
) -> np.ndarray:
    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(rows).float())[:, target].double().numpy()

    explainer = shap.KernelExplainer(predict, background.double().numpy())
    return np.stack(
        [explainer.shap_values(row[None].double().numpy(), silent=True, **options)[0] for row in x]
    )


def test_shap_kernel_with_every_coalition_equals_shap_and_exact_values() -> None:
    model, x = models.small_mlp(features=6), models.rows(3)
    background = models.rows(5)
    expl = xai.explain(
        model,
        x,
        method="shap",
        algorithm="kernel",
        background=background,
        nsamples=62,
        seed=5,
        target=2,
    )
    reference = shap_kernel(model, x, background, 2, nsamples=62, l1_reg=False)
    torch.testing.assert_close(
        expl.attributions, torch.from_numpy(reference).float(), rtol=1e-5, atol=1e-6
    )
    for j in range(3):
        exact = exact_shapley(model, x[j], background, 2).float()
        torch.testing.assert_close(expl.attributions[j], exact, rtol=1e-4, atol=1e-6)


def test_shap_kernel_is_as_accurate_as_shap_with_the_same_coalitions() -> None:
    """Partial budgets (50-300 of 1022 coalitions), 5 seeds, 12 samples: the mean absolute
    error against exact Shapley values is no larger than shap.KernelExplainer's."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2)
    ).eval()
    x, background = torch.randn(12, 10), torch.randn(8, 10)
    exact = torch.stack([exact_shapley(model, row, background, 1) for row in x])
    ours, theirs = [], []
    for nsamples in (50, 100, 300):
        for seed in range(5):
            expl = xai.explain(
                model,
                x,
                method="shap",
                algorithm="kernel",
                background=background,
                nsamples=nsamples,
                seed=seed,
                target=1,
            )
            np.random.seed(seed)
            reference = torch.from_numpy(shap_kernel(model, x, background, 1, nsamples=nsamples))
            ours.append(float((expl.attributions.double() - exact).abs().mean()))
            theirs.append(float((reference - exact).abs().mean()))
            # efficiency holds exactly: values sum to f(x) - E[f(background)]
            torch.testing.assert_close(
                expl.attributions.double().sum(1), exact.sum(1), rtol=1e-5, atol=1e-6
            )
    assert np.mean(ours) <= np.mean(theirs)


def test_shap_kernel_gives_zero_to_features_equal_to_the_background() -> None:
    model, x = models.small_mlp(), models.rows(2)
    x[:, 3] = 0.0  # the default background is all zeros: feature 3 cannot matter
    expl = xai.explain(model, x, method="shap", algorithm="kernel", seed=0)
    assert torch.all(expl.attributions[:, 3] == 0)
    reference = shap_kernel(model, x, torch.zeros(1, 6), int(expl.target[0]), l1_reg=False)
    torch.testing.assert_close(
        expl.attributions[0], torch.from_numpy(reference[0]).float(), rtol=1e-5, atol=1e-6
    )


def test_shap_kernel_samples_varying_in_different_features_equal_shap() -> None:
    """Samples with as many varying features but different ones share the coalitions, each
    mapped onto its own features."""
    model, x = models.small_mlp(), models.rows(3)
    x[0, 3] = 0.0
    x[1, 1] = 0.0  # rows 0 and 1: five varying features each, not the same five
    expl = xai.explain(model, x, method="shap", algorithm="kernel", seed=0, target=2)
    reference = shap_kernel(model, x, torch.zeros(1, 6), 2, l1_reg=False)
    torch.testing.assert_close(
        expl.attributions, torch.from_numpy(reference).float(), rtol=1e-5, atol=1e-6
    )
    assert expl.attributions[0, 3] == 0 and expl.attributions[1, 1] == 0


# ----------------------------------------------------------------------------------- LIME
@pytest.mark.parametrize(("channels", "hide_color"), [(1, 0.0), (3, None), (3, 0.3)])
def test_lime_image_equals_lime_image_explainer(channels: int, hide_color: float | None) -> None:
    model, x = models.small_cnn(channels=channels), models.images(2, channels=channels, size=16)
    expl = xai.explain(
        model, x, method="lime", num_samples=150, seed=4, target=1, hide_color=hide_color
    )
    for j in range(2):
        segments = expl.extras["segments"][j].numpy()
        image = x[j].permute(1, 2, 0).double().numpy()

        def classify(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(batch).float().permute(0, 3, 1, 2)).double().numpy()

        result = lime_image.LimeImageExplainer(random_state=4).explain_instance(
            image,
            classify,
            labels=(1,),
            top_labels=None,
            hide_color=hide_color,
            num_samples=150,
            segmentation_fn=lambda _, segments=segments: segments,
            random_seed=4,
            batch_size=10,
        )
        weights = dict(result.local_exp[1])
        expected = torch.tensor(
            [[weights.get(int(s), 0.0) for s in row] for row in segments]
        ).float()
        torch.testing.assert_close(expl.heatmap()[j], expected, rtol=1e-5, atol=1e-6)
        assert expl.extras["score"][j] == pytest.approx(result.score)
        assert expl.extras["intercept"][j] == pytest.approx(result.intercept[1])


@pytest.mark.parametrize("n_features", [6, 12])  # lime fits by forward selection up to 6
@pytest.mark.parametrize("with_training_data", [True, False])
def test_lime_tabular_equals_lime_tabular_explainer(
    with_training_data: bool, n_features: int
) -> None:
    model, x = models.small_mlp(features=n_features), models.rows(3, features=n_features)
    background = models.rows(40, features=n_features) if with_training_data else None
    expl = xai.explain(
        model,
        x,
        method="lime",
        background=background,
        num_samples=300,
        seed=9,
        target=0,
        sampler="lime",
    )
    for j in range(3):
        if with_training_data:
            explainer = lime_tabular.LimeTabularExplainer(
                background.double().numpy(),
                mode="regression",
                random_state=9,
                discretize_continuous=True,
            )
        else:  # what xai does without training data: a unit Gaussian around the row
            explainer = lime_tabular.LimeTabularExplainer(
                np.zeros((1, n_features)),
                mode="regression",
                random_state=9,
                discretize_continuous=False,
                sample_around_instance=True,
            )

        def predict(rows: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(rows).float())[:, 0].double().numpy()

        result = explainer.explain_instance(
            x[j].double().numpy(), predict, num_features=n_features, num_samples=300
        )
        expected = torch.zeros(n_features)
        for feature, weight in result.local_exp[1]:
            expected[feature] = weight
        torch.testing.assert_close(expl.attributions[j], expected, rtol=1e-5, atol=1e-6)
        assert expl.extras["score"][j] == pytest.approx(result.score)
        assert expl.extras["intercept"][j] == pytest.approx(result.intercept[1])


def test_gradcam_costs_one_forward_backward_once_the_layer_is_known() -> None:
    model, x = models.small_cnn(), models.images(5)
    xai.explain(model, x, method="gradcam")  # finds and remembers the layer
    batches: list[int] = []
    handle = model.register_forward_hook(
        lambda module, inputs, output: batches.append(inputs[0].shape[0])
    )
    try:
        expl = xai.explain(model, x, method="gradcam")
    finally:
        handle.remove()
    assert batches == [5]  # the target comes from the same forward pass
    assert expl.extras["model_evaluations"] == 5


def test_gradcam_on_a_frozen_model_equals_captum() -> None:
    model, x = models.small_cnn(), models.images(3)
    reference = LayerGradCam(model, model[3]).attribute(x, target=1, relu_attributions=True)
    reference = F.interpolate(reference, size=x.shape[2:], mode="bilinear", align_corners=False)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    expl = xai.explain(model, x, method="gradcam", target=1)
    torch.testing.assert_close(expl.attributions, reference, rtol=1e-5, atol=1e-6)
    assert not any(parameter.requires_grad for parameter in model.parameters())
