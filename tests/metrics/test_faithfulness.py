"""Faithfulness metrics on cases with known answers, and against captum's own metrics."""

from __future__ import annotations

import pytest
import torch
from captum.metrics import infidelity, sensitivity_max
from torch import nn

import xai
from xai.metrics import (
    completeness_error,
    deletion_auc,
    infidelity_error,
    insertion_auc,
    max_sensitivity_error,
    perturbation_curves,
)


def linear_model(features: int = 8) -> tuple[nn.Module, torch.Tensor]:
    """f(x) = [w.x, -w.x] with known weights; its true attribution (baseline 0) is w * x."""
    weights = torch.linspace(0.5, 4.0, features)
    model = nn.Linear(features, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.stack([weights, -weights]))
    return model.eval(), weights


def positive_rows(n: int = 5, features: int = 8) -> torch.Tensor:
    return torch.rand(n, features, generator=torch.Generator().manual_seed(0)) + 0.5


def test_deletion_curve_of_a_linear_model_is_the_remaining_contribution() -> None:
    model, weights = linear_model()
    x = positive_rows()
    attributions = weights * x  # the exact attribution
    target = torch.zeros(len(x), dtype=torch.long)
    fractions, scores = perturbation_curves(model, x, attributions, target, steps=8, score="logit")
    # with 8 features and 8 steps, step s has the s largest contributions removed
    ordered = attributions.sort(dim=1, descending=True).values
    remaining = attributions.sum(dim=1, keepdim=True) - torch.cat(
        [torch.zeros(len(x), 1), ordered.cumsum(dim=1)], dim=1
    )
    torch.testing.assert_close(fractions, torch.linspace(0, 1, 9))
    torch.testing.assert_close(scores, remaining, rtol=1e-5, atol=1e-5)
    # insertion is the mirror image: what has been added so far
    _, inserted = perturbation_curves(
        model, x, attributions, target, mode="insertion", steps=8, score="logit"
    )
    torch.testing.assert_close(inserted, attributions.sum(dim=1, keepdim=True) - remaining)


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_true_attribution_beats_its_reverse(score: str) -> None:
    model, weights = linear_model()
    x = positive_rows()
    true = weights * x
    target = torch.zeros(len(x), dtype=torch.long)
    kwargs = {"steps": 8, "score": score}
    assert bool(
        (
            deletion_auc(model, x, true, target, **kwargs)
            < deletion_auc(model, x, -true, target, **kwargs)
        ).all()
    )
    assert bool(
        (
            insertion_auc(model, x, true, target, **kwargs)
            > insertion_auc(model, x, -true, target, **kwargs)
        ).all()
    )


def region_model(size: int = 8) -> nn.Module:
    """Class 0's logit is the sum of the top-left quarter of the image; class 1's is 0."""

    class Region(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            score = x[:, :, : size // 2, : size // 2].sum(dim=(1, 2, 3))
            return torch.stack([score, torch.zeros_like(score)], dim=1)

    return Region().eval()


def test_deletion_on_images_with_pixels_patches_and_superpixels() -> None:
    model = region_model()
    x = torch.rand(3, 2, 8, 8, generator=torch.Generator().manual_seed(1)) + 0.1
    true = torch.zeros_like(x)
    true[:, :, :4, :4] = x[:, :, :4, :4]
    target = torch.zeros(3, dtype=torch.long)
    for options in ({"patch_size": 1}, {"patch_size": 2}, {}):
        good = deletion_auc(model, x, true, target, score="logit", **options)
        bad = deletion_auc(model, x, -true, target, score="logit", **options)
        assert bool((good < bad).all()), options
    # superpixels: the quarter is one segment, the rest another
    segments = torch.ones(8, 8, dtype=torch.long)
    segments[:4, :4] = 0
    _fractions, scores = perturbation_curves(
        model, x, true, target, steps=2, segments=segments, score="logit"
    )
    assert scores[:, 1].abs().max() < 1e-5  # half the features (the quarter) gone: score 0
    # a grad-cam-like (N, 1, H, W) map is accepted
    auc = deletion_auc(model, x, true.sum(dim=1, keepdim=True), target)
    assert auc.shape == (3,)


def test_baseline_replaces_removed_features() -> None:
    model, weights = linear_model()
    x = positive_rows()
    baseline = torch.full((8,), 0.25)
    target = torch.zeros(len(x), dtype=torch.long)
    _, scores = perturbation_curves(
        model, x, weights * x, target, steps=4, baseline=baseline, score="logit"
    )
    torch.testing.assert_close(scores[:, -1], (weights * baseline).sum().expand(len(x)))


def test_infidelity_is_zero_for_the_exact_gradient_of_a_linear_model() -> None:
    model, weights = linear_model()
    x = positive_rows()
    target = torch.zeros(len(x), dtype=torch.long)
    for normalize in (False, True):
        value = infidelity_error(model, x, weights.expand_as(x), target, normalize=normalize)
        assert value.abs().max() < 1e-6
    wrong = infidelity_error(model, x, torch.ones_like(x), target, normalize=False)
    assert bool((wrong > 1e-3).all())


def test_infidelity_equals_captum_with_the_same_perturbations() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).eval()
    x = torch.randn(4, 5)
    attributions = torch.randn(4, 5)
    target = torch.tensor([0, 1, 2, 1])
    ours = infidelity_error(
        model,
        x,
        attributions,
        target,
        noise_scale=0.3,
        n_perturb_samples=6,
        seed=3,
        normalize=False,
    )
    bank = 0.3 * torch.randn((6, 5), generator=torch.Generator().manual_seed(3))

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = bank.repeat(inputs.shape[0] // 6, 1)
        return noise, inputs - noise

    reference = infidelity(model, perturb, x, attributions, target=target, n_perturb_samples=6)
    torch.testing.assert_close(ours, reference)
    # and by definition: E[(I.a - (f(x) - f(x - I)))^2]
    f = model(x).gather(1, target[:, None])
    perturbed = model((x[:, None] - bank[None]).reshape(-1, 5)).reshape(4, 6, 3)
    diff = f - perturbed.gather(2, target[:, None, None].expand(4, 6, 1)).squeeze(2)
    expected = ((bank[None] * attributions[:, None]).sum(-1) - diff).pow(2).mean(dim=1)
    torch.testing.assert_close(ours, expected.detach(), rtol=1e-4, atol=1e-6)


def test_max_sensitivity_known_answers_and_captum() -> None:
    _model, weights = linear_model()
    x = positive_rows()
    target = torch.zeros(len(x), dtype=torch.long)

    def gradient(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return weights.expand_as(inputs)

    assert max_sensitivity_error(gradient, x, target).abs().max() == 0

    def identity(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return inputs.clone()

    radius = 0.1
    value = max_sensitivity_error(identity, x, target, radius=radius, n_perturb_samples=5, seed=1)
    bound = radius * x.shape[1] ** 0.5 / x.norm(dim=1)
    assert bool((value > 0).all()) and bool((value <= bound + 1e-6).all())
    bank = (torch.rand((5, 8), generator=torch.Generator().manual_seed(1)) * 2 - 1) * radius
    reference = sensitivity_max(
        lambda inputs, target: inputs,
        x,
        lambda inputs: inputs + bank.repeat(inputs.shape[0] // 5, 1),
        n_perturb_samples=5,
        target=target,
    )
    torch.testing.assert_close(value, reference)


def test_max_sensitivity_through_the_public_explainer() -> None:
    model, _ = linear_model()
    x = positive_rows(3)
    target = torch.zeros(3, dtype=torch.long)

    def explain(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return xai.explain(
            model, inputs, "integrated_gradients", target=target, n_steps=8
        ).attributions

    # IG of a linear model is w * x: the relative change is at most radius * |w| / |w * x|
    value = max_sensitivity_error(explain, x, target, radius=0.01, n_perturb_samples=3)
    assert bool((value > 0).all()) and bool((value < 0.1).all())


def test_completeness_error_known_answers() -> None:
    model, weights = linear_model()
    x = positive_rows()
    target = torch.zeros(len(x), dtype=torch.long)
    exact = weights * x
    assert completeness_error(model, x, exact, target).abs().max() < 1e-5
    torch.testing.assert_close(
        completeness_error(model, x, 2 * exact, target), exact.sum(dim=1), rtol=1e-5, atol=1e-5
    )
    # a baseline of ones: the exact attribution is w * (x - 1)
    shifted = weights * (x - 1)
    assert completeness_error(model, x, shifted, target, baseline=1.0).abs().max() < 1e-5
    # reference_output overrides the baseline
    reference = torch.full((len(x),), 1.5)
    torch.testing.assert_close(
        completeness_error(model, x, exact, target, reference_output=reference),
        reference.abs(),
    )


def test_completeness_of_integrated_gradients_shrinks_with_steps() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    x = torch.randn(4, 6)
    errors = []
    for steps in (2, 64):
        expl = xai.explain(model, x, "integrated_gradients", n_steps=steps)
        errors.append(float(completeness_error(model, x, expl.attributions, expl.target).mean()))
        torch.testing.assert_close(
            completeness_error(model, x, expl.attributions, expl.target),
            expl.extras["convergence_delta"].abs(),
            rtol=1e-4,
            atol=1e-5,
        )
    assert errors[1] < errors[0] and errors[1] < 1e-3


def test_the_model_is_left_as_found() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    x = positive_rows()
    target = torch.zeros(len(x), dtype=torch.long)
    deletion_auc(model, x, torch.randn_like(x), target)
    infidelity_error(model, x, torch.randn_like(x), target)
    assert model.training and all(m.training for m in model.modules())


def test_errors_name_the_argument() -> None:
    model, _ = linear_model()
    x = positive_rows()
    target = torch.zeros(len(x), dtype=torch.long)
    with pytest.raises(ValueError, match="attributions: expected the inputs' shape"):
        deletion_auc(model, x, torch.zeros(5, 3), target)
    with pytest.raises(ValueError, match="score: expected one of"):
        deletion_auc(model, x, x, target, score="softmax")
    with pytest.raises(ValueError, match="baseline: expected"):
        deletion_auc(model, x, x, target, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match="target: expected one class index per sample"):
        deletion_auc(model, x, x, torch.zeros(2, dtype=torch.long))
    columns = model(x).shape[1]
    for metric in (deletion_auc, insertion_auc, infidelity_error, completeness_error):
        with pytest.raises(
            ValueError,
            match=rf"target: class index {columns} is outside the model's outputs; the model "
            rf"returns {columns} output column\(s\)",
        ):
            metric(model, x, x, columns)
        with pytest.raises(ValueError, match=r"target: expected class indices >= 0, got -1"):
            metric(model, x, x, -1)
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        deletion_auc(lambda v: v, x, x, target)
    with pytest.raises(ValueError, match="segments: only used for image inputs"):
        deletion_auc(model, x, x, target, segments=torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="noise_scale: expected a positive number"):
        infidelity_error(model, x, x, target, noise_scale=0)
    with pytest.raises(TypeError, match="explain: expected a callable"):
        max_sensitivity_error("integrated_gradients", x, target)
