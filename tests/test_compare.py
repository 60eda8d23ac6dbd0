"""xai.compare: several methods on the same inputs, their quality, cost and agreement."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import xai
import xai.viz
from xai.evaluation.comparison import Comparison
from xai.explainers.parameters import applicable_methods


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).eval()


def rows(n: int = 4) -> torch.Tensor:
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(1))


FAST = {
    "integrated_gradients": {"n_steps": 16},
    "lime": {"num_samples": 200},
    "shap": {"nsamples": 32},
}
FAST_METRICS = {
    "max_sensitivity_error": {"n_perturb_samples": 2},
    "seed_stability_score": {"seeds": (0, 1)},
}


def test_compare_tabular_methods() -> None:
    model = mlp()
    comparison = xai.compare(model, rows(), options=FAST, metric_options=FAST_METRICS)
    assert isinstance(comparison, Comparison)
    # The defaults: every registered method that explains tabular inputs; Grad-CAM needs
    # images, so it is not among them
    assert comparison.methods == applicable_methods(rows())
    assert {"integrated_gradients", "lime", "shap"} <= set(comparison.methods)
    assert "gradcam" not in comparison.methods
    count = len(comparison.methods)
    targets = [e.target for e in comparison.explanations.values()]
    assert all(torch.equal(t, targets[0]) for t in targets)  # one target for every method
    for method in comparison.methods:
        assert comparison.model_evaluations[method] > 0
        assert comparison.seconds[method] >= 0
        assert "deletion_auc" in comparison.reports[method]
    for measure in ("rank_correlation", "top_k_overlap"):
        matrix = comparison.agreement[measure]
        assert matrix.shape == (count, count)
        torch.testing.assert_close(matrix, matrix.T)
        torch.testing.assert_close(matrix.diagonal(), torch.ones(count))
    # IG and gradient-SHAP with the same zero reference agree closely
    ig, shap = (comparison.methods.index(m) for m in ("integrated_gradients", "shap"))
    assert comparison.agreement["rank_correlation"][ig, shap] > 0.8
    table = comparison.table()
    assert "deletion_auc ↓" in table and "insertion_auc ↑" in table
    assert table.count("\n") == count + 1 and "| lime |" in table
    assert "| - |" in table  # completeness does not apply to LIME
    assert "integrated_gradients" in comparison.agreement_table("top_k_overlap")
    json.dumps(comparison.to_dict())
    assert isinstance(xai.viz.plot_method_comparison(comparison, 1), Figure)
    from xai import viz

    assert isinstance(viz.plot_agreement_matrix(comparison, "top_k_overlap"), Figure)
    assert isinstance(viz.plot_method_comparison(comparison, 0), Figure)
    with pytest.raises(ValueError, match="measure: expected one of"):
        viz.plot_agreement_matrix(comparison, "ssim")


def test_compare_images_with_masks_and_an_explicit_target() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    ).eval()
    images = torch.rand(2, 3, 8, 8)
    masks = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    masks[:, :, 2:5, 2:5] = True
    comparison = xai.compare(
        model,
        images,
        methods=["gradcam", "integrated_gradients"],
        target=1,
        masks=masks,
        metrics=["deletion_auc", "pointing_game_score"],
        options={"integrated_gradients": {"n_steps": 8}},
        top_k=5,
    )
    assert all(e.target.tolist() == [1, 1] for e in comparison.explanations.values())
    assert set(comparison.metric_names()) == {"deletion_auc", "pointing_game_score"}
    assert comparison.agreement_per_sample[
        ("top_k_overlap", "gradcam", "integrated_gradients")
    ].shape == (2,)
    assert isinstance(xai.viz.plot_method_comparison(comparison, 0), Figure)


def test_compare_errors() -> None:
    model = mlp()
    with pytest.raises(ValueError, match="methods: each method may appear once"):
        xai.compare(model, rows(), methods=["lime", "lime"])
    with pytest.raises(ValueError, match="options: given for"):
        xai.compare(model, rows(), methods=["integrated_gradients"], options={"lime": {}})
    with pytest.raises(ValueError, match="method: unknown method"):
        xai.compare(model, rows(), methods=["integrated_gradient"])
    with pytest.raises(ValueError, match="methods: expected at least one"):
        xai.compare(model, rows(), methods=[])
    with pytest.raises(ValueError, match=r"inputs: the model failed on inputs of shape \(4, 5\)"):
        xai.compare(model, rows()[:, :5], methods=["integrated_gradients"])


@pytest.mark.slow
def test_quality_table_command_quick(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.quality_table import main

    out = tmp_path / "table.json"
    assert main(["--quick", "--samples", "2", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert set(payload["models"]) == {"shapes_cnn", "breast_cancer_mlp"}
    shapes = payload["models"]["shapes_cnn"]
    assert shapes["n_samples"] == 2 and "| `gradcam` |" in shapes["markdown"]
    assert "pointing game ↑" in shapes["markdown"]
    assert "pointing game" not in payload["models"]["breast_cancer_mlp"]["markdown"]
    for method, checks in shapes["sanity"].items():
        assert isinstance(checks["model"]["passed"], bool), method
    assert "deletion AUC ↓" in capsys.readouterr().out


def test_deletion_uses_the_same_features_for_every_method() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 2),
    ).eval()  # fmt: skip
    images = torch.rand(2, 3, 8, 8)
    comparison = xai.compare(
        model,
        images,
        methods=["lime"],
        metrics=["deletion_auc"],
        options={"lime": {"num_samples": 50}},
    )
    lime = comparison.explanations["lime"]
    own = xai.evaluate_explanation(model, lime, metrics=["deletion_auc"])  # LIME's superpixels
    grid = xai.evaluate_explanation(
        model, lime, metrics=["deletion_auc"], options={"deletion_auc": {"segments": None}}
    )
    torch.testing.assert_close(comparison.reports["lime"]["deletion_auc"], grid["deletion_auc"])
    assert own["deletion_auc"].shape == (2,)


def test_compare_token_ids_with_an_attention_mask() -> None:
    """Token ids: model_kwargs go to every method and metric, the same mask token removes
    tokens for every method, and the agreement leaves the padding out."""
    import reference_models
    from xai.metrics import rank_correlation

    ref = reference_models.load("keywords_text_cnn")
    ids, _labels, keywords, attention = (t[:8] for t in ref.data["test"].tensors)
    comparison = xai.compare(
        ref.model,
        ids,
        methods=["integrated_gradients", "occlusion"],
        masks=keywords,
        model_kwargs={"attention_mask": attention},
        metrics=["deletion_auc", "pointing_game_score"],
        progress=False,
    )
    for method, expl in comparison.explanations.items():
        assert torch.equal(expl.params["model_kwargs"]["attention_mask"], attention), method
        assert bool((expl.attributions[attention == 0] == 0).all()), method
        assert comparison.reports[method].settings["deletion_auc"]["mask_token"] == 1
    ig, occlusion = (comparison.explanations[m].attributions for m in comparison.methods)
    expected = rank_correlation(ig, occlusion, attention_mask=attention).mean()
    assert float(comparison.agreement["rank_correlation"][0, 1]) == pytest.approx(float(expected))
    assert comparison.reports["integrated_gradients"].means["pointing_game_score"] >= 0.9
