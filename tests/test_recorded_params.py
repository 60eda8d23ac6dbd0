"""``Explanation.params`` holds the options that re-run the explanation: the values given,
``None`` for defaults, the values chosen automatically; never display text."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import xai
from tests.explainers import models
from xai.evaluation.quality import rerun_function
from xai.explanation import UnsavedOption


def _options(explanation: xai.Explanation) -> dict:
    cls = xai.explainers.explainer_class(explanation.method)
    return {k: v for k, v in explanation.params.items() if k in cls.accepted_options()}


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("integrated_gradients", {"n_steps": 8}),
        ("shap", {"nsamples": 16, "seed": 3}),
        ("lime", {"num_samples": 64, "seed": 3}),
    ],
)
def test_defaults_are_recorded_as_none_and_params_rerun_to_the_same_result(
    method: str, options: dict
) -> None:
    model, x = models.small_mlp(), models.rows()
    explanation = xai.explain(model, x, method=method, **options)
    for name in ("baselines", "background"):
        if name in explanation.params:
            assert explanation.params[name] is None, (method, name)
    assert not any(isinstance(v, str) and v.startswith("<") for v in explanation.params.values())
    again = xai.explain(model, x, method=method, target=explanation.target, **_options(explanation))
    torch.testing.assert_close(again.attributions, explanation.attributions)
    rerun = rerun_function(model, explanation)
    assert rerun is not None
    torch.testing.assert_close(rerun(x, explanation.target), explanation.attributions)


def test_callable_output_reruns_in_memory_and_not_after_loading(tmp_path: Path) -> None:
    model, x = models.small_mlp(), models.rows()

    def logits(out: torch.Tensor) -> torch.Tensor:
        return out

    explanation = xai.explain(model, x, n_steps=4, output=logits)
    assert explanation.params["output"] is logits
    assert rerun_function(model, explanation) is not None
    loaded = xai.Explanation.load(explanation.save(tmp_path / "e.safetensors"))
    assert isinstance(loaded.params["output"], UnsavedOption)
    assert "logits" in loaded.params["output"]
    assert rerun_function(model, loaded) is None  # only a description survived the file
    assert rerun_function(model, loaded, output=logits) is not None  # given again: re-runs
    saved_again = xai.Explanation.load(loaded.save(tmp_path / "again.safetensors"))
    assert saved_again.params["output"] == loaded.params["output"]


def test_lime_given_segmentation_is_kept_and_what_was_used_is_an_extra() -> None:
    model, x = models.small_cnn(), models.images(n=2)
    labels = (torch.arange(144).reshape(12, 12) // 36).long()
    explanation = xai.explain(model, x, method="lime", segmentation=labels, num_samples=32, seed=0)
    assert torch.equal(explanation.params["segmentation"], labels)
    assert explanation.extras["segmentation"] == "given labels"
    default = xai.explain(model, x, method="lime", num_samples=32, seed=0)
    assert default.params["segmentation"] in (None, "slic", "grid", "quickshift")
