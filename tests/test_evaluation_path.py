"""The evaluation path does each thing once, with the same numbers: completeness read from the
method's convergence delta equals the metric computed from the model; deletion and insertion
from one ranking equal the curves computed one by one. An explicit target still costs a forward
pass on every sample: without it, NaN scores would give finite, meaningless gradients."""

from __future__ import annotations

import pytest
import torch

import xai
from tests.explainers import models
from xai.metrics import completeness_error, perturbation_curves
from xai.metrics.faithfulness import deletion_insertion_curves


class _Rows(torch.nn.Module):
    """Counts the rows the wrapped model is called on."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return self.model(x)


def test_completeness_from_the_convergence_delta_equals_the_metric() -> None:
    model, x = models.small_mlp(), models.rows()
    explanation = xai.explain(model, x, method="integrated_gradients", n_steps=32)
    report = xai.evaluate_explanation(model, explanation, metrics=["completeness_error"])
    direct = completeness_error(model, x, explanation.attributions, explanation.target)
    torch.testing.assert_close(
        report.values["completeness_error"], direct.float(), atol=1e-6, rtol=1e-5
    )


def test_completeness_with_options_is_computed_from_the_model() -> None:
    model, x = models.small_mlp(), models.rows()
    explanation = xai.explain(model, x, method="integrated_gradients", n_steps=8)
    counted = _Rows(model)
    report = xai.evaluate_explanation(
        counted,
        explanation,
        metrics=["completeness_error"],
        options={"completeness_error": {"baseline": 0.5}},
    )
    assert counted.rows > 1  # f(x) and f(baseline), not the delta
    direct = completeness_error(
        model, x, explanation.attributions, explanation.target, baseline=0.5
    )
    torch.testing.assert_close(report.values["completeness_error"], direct.float())


def test_one_ranking_for_deletion_and_insertion_equals_each_alone() -> None:
    model, x = models.small_cnn(), models.images()
    attributions = torch.randn_like(x)
    target = torch.tensor([0, 1, 2])
    fractions, both = deletion_insertion_curves(
        model, x, attributions, target, steps=6, patch_size=3
    )
    for mode in ("deletion", "insertion"):
        alone_fractions, alone = perturbation_curves(
            model, x, attributions, target, mode=mode, steps=6, patch_size=3
        )
        torch.testing.assert_close(fractions, alone_fractions)
        torch.testing.assert_close(both[mode], alone)


def test_evaluate_explanation_curves_equal_the_metric_functions() -> None:
    model, x = models.small_mlp(), models.rows()
    explanation = xai.explain(model, x, method="integrated_gradients", n_steps=8)
    report = xai.evaluate_explanation(model, explanation, metrics=["deletion_auc", "insertion_auc"])
    for name, metric in (
        ("deletion_auc", xai.metrics.deletion_auc),
        ("insertion_auc", xai.metrics.insertion_auc),
    ):
        torch.testing.assert_close(
            report.values[name],
            metric(model, x, explanation.attributions, explanation.target).float(),
        )


class _NaNForLargeFirstPixel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = models.small_cnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return torch.where(x.flatten(1)[:, :1] > 10, float("nan"), out)


def test_an_explicit_target_out_of_range_or_nan_scores_are_still_errors() -> None:
    x = models.images(n=4)
    with pytest.raises(ValueError, match=r"target: class index 7 is outside the model's outputs"):
        xai.explain(models.small_cnn(), x, method="shap", nsamples=4, seed=0, target=7)
    x[2].view(-1)[0] = 100.0  # finite input, NaN scores for that sample only
    for target in (None, 0):
        with pytest.raises(
            ValueError,
            match=r"model's outputs are NaN or infinite for 1 sample\(s\) \(rows \[2\]\)",
        ):
            xai.explain(
                _NaNForLargeFirstPixel(), x, method="shap", nsamples=4, seed=0, target=target
            )


def test_evaluate_explanation_checks_its_tensors_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from xai.metrics import _checks

    model, x = models.small_mlp(), models.rows()
    explanation = xai.explain(model, x, method="integrated_gradients", n_steps=8)
    calls = {"all_finite": 0}
    real = _checks.all_finite

    def counted(tensor: torch.Tensor) -> bool:
        calls["all_finite"] += 1
        return real(tensor)

    monkeypatch.setattr(_checks, "all_finite", counted)
    report = xai.evaluate_explanation(
        model, explanation, options={"max_sensitivity_error": {"n_perturb_samples": 2}}
    )
    assert len(report.values) >= 5
    assert calls["all_finite"] == 1  # the attributions, once, not once per metric
    # outside evaluate_explanation every call still checks its arguments
    with pytest.raises(ValueError, match="attributions: expected finite values"):
        xai.metrics.deletion_auc(model, x, torch.full_like(x, float("nan")), explanation.target)
