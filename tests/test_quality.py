"""xai.evaluate_explanation: the report, metric selection, options, errors, and the examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import xai
import xai.viz
from xai.evaluation.quality import QualityReport


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    ).eval()


def data(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(n, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(n, 1, 10, 10, dtype=torch.bool)
    masks[:, :, 2:6, 3:8] = True
    return images, masks


def test_default_report_of_integrated_gradients() -> None:
    model = small_cnn()
    images, masks = data()
    expl = xai.explain(model, images, "integrated_gradients", n_steps=8)
    report = xai.evaluate_explanation(model, expl, masks=masks)
    assert isinstance(report, QualityReport) and report.method == "integrated_gradients"
    expected = {
        "deletion_auc",
        "insertion_auc",
        "infidelity_error",
        "completeness_error",
        "max_sensitivity_error",
        "pointing_game_score",
        "relevance_mass_score",
        "relevance_rank_score",
        "sparseness_score",
    }
    assert set(report.values) == expected
    assert set(report.skipped) == {"seed_stability_score"}
    for name, values in report.values.items():
        assert values.shape == (3,) and bool(values.isfinite().all()), name
        assert report.means[name] == pytest.approx(float(values.mean()), abs=1e-6)
    assert report.higher_is_better["deletion_auc"] is False
    # IG's completeness error is its own convergence delta
    torch.testing.assert_close(
        report["completeness_error"], expl.extras["convergence_delta"].abs(), atol=1e-5, rtol=1e-4
    )
    data_dict = report.to_dict()
    json.dumps(data_dict)
    assert data_dict["n_samples"] == 3 and set(data_dict["means"]) == expected
    assert len(data_dict["curves"]["deletion"]["scores"][0]) == 21
    assert isinstance(xai.viz.plot_perturbation_curves(report), Figure) and isinstance(
        xai.viz.plot_perturbation_curves(report, 1), Figure
    )
    assert "lower is better" in repr(report)


def test_masks_are_optional_and_stochastic_methods_get_seed_stability() -> None:
    model = small_cnn()
    images, _ = data(2)
    expl = xai.explain(model, images, "lime", seed=0, num_samples=60)
    report = xai.evaluate_explanation(
        model,
        expl,
        options={
            "max_sensitivity_error": {"n_perturb_samples": 2},
            "seed_stability_score": {"seeds": (0, 1)},
        },
    )
    assert "seed_stability_score" in report and "completeness_error" not in report
    assert "masks" in report.skipped["pointing_game_score"]
    # deletion/insertion use LIME's own superpixels as features
    assert report.curves["deletion"][1].shape == (2, 21)


def test_gradcam_layer_maps_and_chosen_metrics() -> None:
    model = small_cnn()
    images, masks = data()
    expl = xai.explain(model, images, "gradcam")
    report = xai.evaluate_explanation(
        model,
        expl,
        metrics=["deletion_auc", "pointing_game_score"],
        masks=masks,
        options={"deletion_auc": {"steps": 5, "score": "logit", "patch_size": 2}},
    )
    assert list(report.values) == ["deletion_auc", "pointing_game_score"]
    assert report.curves["deletion"][0].shape == (6,)
    assert "insertion" not in report.curves


def test_tabular_model_and_output_selector() -> None:
    torch.manual_seed(0)

    class DictModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": self.net(x)}

    model = DictModel().eval()
    rows = torch.randn(4, 5)
    expl = xai.explain(model, rows, "integrated_gradients", output="logits", n_steps=16)
    report = xai.evaluate_explanation(model, expl)
    assert "completeness_error" in report and float(report.means["completeness_error"]) < 0.05
    shap = xai.explain(model, rows, "shap", output="logits", seed=0, nsamples=50)
    shap_report = xai.evaluate_explanation(
        model, shap, metrics=["completeness_error", "seed_stability_score"]
    )
    assert set(shap_report.values) == {"completeness_error", "seed_stability_score"}


def test_the_model_is_left_as_found() -> None:
    model = small_cnn().train()
    images, masks = data(2)
    expl = xai.explain(model, images, "integrated_gradients", n_steps=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    xai.evaluate_explanation(model, expl, masks=masks)
    assert all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert all(p.grad is None for p in model.parameters())


def test_errors_name_the_argument_and_the_fix() -> None:
    model = small_cnn()
    images, masks = data(2)
    expl = xai.explain(model, images, "gradcam")
    with pytest.raises(ValueError, match="Did you mean 'deletion_auc'"):
        xai.evaluate_explanation(model, expl, metrics=["deletion_aucc"])
    with pytest.raises(ValueError, match=r"needs masks\. Pass masks="):
        xai.evaluate_explanation(model, expl, metrics=["pointing_game_score"])
    with pytest.raises(ValueError, match="compares two explanations"):
        xai.evaluate_explanation(model, expl, metrics=["rank_correlation"])
    with pytest.raises(TypeError, match=r"explanation: expected an xai\.Explanation"):
        xai.evaluate_explanation(model, expl.attributions)
    with pytest.raises(TypeError, match="model: expected"):
        xai.evaluate_explanation("model", expl)
    with pytest.raises(TypeError, match="has no option"):
        xai.evaluate_explanation(
            model, expl, metrics=["deletion_auc"], options={"deletion_auc": {"step": 3}}
        )
    with pytest.raises(TypeError, match="infidelity_error has no option"):
        xai.evaluate_explanation(model, expl, options={"infidelity_error": {"noise": 0.2}})
    with pytest.raises(ValueError, match="masks: expected"):
        xai.evaluate_explanation(model, expl, metrics=["pointing_game_score"], masks=masks[:1])
    other = nn.Sequential(nn.Flatten(), nn.Linear(5, 2))  # not the model that was explained
    with pytest.raises(
        ValueError,
        match=r"explanation: the model failed on inputs of shape \(1, .*Is `model` the model "
        r"that was explained \(method 'gradcam'\)\?",
    ):
        xai.evaluate_explanation(other, expl)


def test_saved_and_loaded_explanations_are_evaluated(tmp_path: Path) -> None:
    model = small_cnn()
    images, masks = data(2)
    expl = xai.explain(model, images, "integrated_gradients", n_steps=4)
    loaded = xai.Explanation.load(expl.save(tmp_path / "ig.safetensors"))
    a = xai.evaluate_explanation(model, expl, masks=masks)
    b = xai.evaluate_explanation(model, loaded, masks=masks)
    for name in a.values:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_quality_on_a_cuda_model_with_cpu_inputs() -> None:
    from xai.metrics import model_randomization_check

    model = small_cnn().cuda()
    images, masks = data(2)
    expl = xai.explain(model, images, "integrated_gradients", n_steps=4)
    report = xai.evaluate_explanation(model, expl, masks=masks)
    assert all(bool(v.isfinite().all()) for v in report.values.values())
    comparison = xai.compare(
        model, images, masks=masks, options={"lime": {"num_samples": 50}, "shap": {"nsamples": 8}}
    )
    assert comparison.agreement["rank_correlation"].shape == (4, 4)
    result = model_randomization_check(model, images, "gradcam")
    assert result.similarity["rank_correlation"].shape[1] == 2
    assert next(model.parameters()).is_cuda


def test_named_metrics_that_do_not_apply_to_the_method_are_skipped_with_the_reason() -> None:
    model = small_cnn()
    images, _ = data(2)
    expl = xai.explain(model, images, "gradcam")
    report = xai.evaluate_explanation(
        model, expl, metrics=["completeness_error", "seed_stability_score", "deletion_auc"]
    )
    assert list(report.values) == ["deletion_auc"]
    assert report.skipped == {
        "completeness_error": "defined for integrated_gradients, shap only",
        "seed_stability_score": "the method is deterministic",
    }
    comparison = xai.compare(
        model, images, methods=["gradcam", "integrated_gradients"], metrics=["completeness_error"]
    )
    assert "completeness_error" not in comparison.reports["gradcam"].values
    assert "completeness_error" in comparison.reports["integrated_gradients"].values


def test_per_sample_model_kwargs_go_with_every_metric() -> None:
    """A tabular model with a per-sample forward argument: every default metric (the ones
    that re-run the method on perturbed copies too) scores a batch like its rows one by one,
    so each row was paired with its own argument."""
    torch.manual_seed(0)

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))

        def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return self.net(x * scale[:, None])

    model = Scaled().eval()
    rows = torch.randn(3, 5, generator=torch.Generator().manual_seed(2))
    kwargs = {"scale": torch.tensor([0.5, 1.0, 2.0])}
    expl = xai.explain(model, rows, "integrated_gradients", n_steps=16, model_kwargs=kwargs)
    options = {"max_sensitivity_error": {"n_perturb_samples": 3}}
    report = xai.evaluate_explanation(model, expl, options=options, progress=False)
    assert {"deletion_auc", "infidelity_error", "max_sensitivity_error"} <= set(report.values)
    assert report.means["completeness_error"] < 0.05
    for i in range(3):
        single = xai.evaluate_explanation(model, expl[i], options=options, progress=False)
        for name, values in report.values.items():
            torch.testing.assert_close(single[name], values[i : i + 1], rtol=1e-4, atol=1e-5)
    # the model cannot run without its argument: given explicitly, the recorded ones are replaced
    again = xai.evaluate_explanation(
        model, expl, metrics=["deletion_auc"], model_kwargs=kwargs, progress=False
    )
    torch.testing.assert_close(again["deletion_auc"], report["deletion_auc"])
