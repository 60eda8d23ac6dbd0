"""Awkward models through every method: what trips users of the peer libraries."""

from __future__ import annotations

import pytest
import torch

import xai
from tests.explainers import models
from tests.explainers.test_common import FAST_OPTIONS, assert_same_state, options_for, snapshot
from xai._model import ModelFunction
from xai._state import preserved_state

ZOO = models.zoo()
METHODS = sorted(FAST_OPTIONS)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_method_explains_every_zoo_model(name: str, method: str) -> None:
    model, needed = ZOO[name]
    x = models.images(3)
    before = snapshot(model)
    expl = xai.explain(model, x, method=method, **needed, **options_for(method))
    assert_same_state(before, snapshot(model))
    assert torch.isfinite(expl.attributions).all()
    assert expl.attributions.shape[0] == 3 and expl.attributions.shape[2:] == x.shape[2:]
    if method == "gradcam":
        # A random model's Grad-CAM may be all negative evidence, which ReLU zeroes.
        expl = xai.explain(model, x, method=method, relu_attributions=False, **needed)
    assert expl.attributions.abs().sum() > 0
    if name == "single_output":
        assert expl.target.tolist() == [0, 0, 0]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_shap_deep_works_or_says_why(name: str) -> None:
    model, needed = ZOO[name]
    x, background = models.images(2), models.images(4) * 0.1
    try:
        expl = xai.explain(
            model, x, method="shap", algorithm="deep", background=background, **needed
        )
    except ValueError as error:
        message = str(error)
        assert message.startswith("algorithm:")
        assert "algorithm='gradient'" in message
        return
    # when it runs, it must be exact (additive), else it should have raised
    function = ModelFunction(model, needed.get("output"))
    with preserved_state(model), torch.no_grad():  # eval mode, as the explainer ran it
        scores, reference = function(x), function(background).mean(0)
    target = expl.target
    gap = scores.gather(1, target[:, None]).squeeze(1) - reference[target]
    torch.testing.assert_close(expl.attributions.flatten(1).sum(1), gap, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["inplace_relu", "reused_relu", "functional"])
def test_deep_rejects_known_unsupported_constructs_precisely(name: str) -> None:
    model, _ = ZOO[name]
    with pytest.raises(ValueError, match=r"algorithm: shap's DeepExplainer") as info:
        xai.explain(model, models.images(2), method="shap", algorithm="deep")
    reason = {
        "inplace_relu": "in-place",
        "reused_relu": "more than once",
        "functional": "functional",
    }[name]
    assert reason in str(info.value)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradcam"])
def test_inplace_relu_gives_the_same_attributions(method: str) -> None:
    x = models.images(3)
    plain = xai.explain(models.small_cnn(inplace=False), x, method=method)
    inplace = xai.explain(models.small_cnn(inplace=True), x, method=method)
    torch.testing.assert_close(plain.attributions, inplace.attributions)


def test_gradcam_skips_modules_called_more_than_once() -> None:
    model, _ = ZOO["reused_relu"]
    expl = xai.explain(model, models.images(2), method="gradcam")
    assert expl.params["layer"] == "conv2"
    with pytest.raises(ValueError, match=r"layer: 'act' is called 2 times"):
        xai.explain(model, models.images(2), method="gradcam", layer="act")


def test_gradcam_finds_nested_layers_by_dotted_name() -> None:
    model, _ = ZOO["nested"]
    expl = xai.explain(model, models.images(2), method="gradcam")
    assert expl.params["layer"] == "blocks.body.0.1"
    again = xai.explain(model, models.images(2), method="gradcam", layer="blocks.stem.0")
    assert again.params["layer"] == "blocks.stem.0"


def test_ambiguous_outputs_without_output_option_explain_the_fix() -> None:
    # (logits, features): two (N, K)-like tensors, either could be the scores
    model, _ = ZOO["tuple_output"]
    with pytest.raises(TypeError, match=r"returned a tuple of 2 elements.*ambiguous") as info:
        xai.explain(model, models.images(2))
    assert "output=" in str(info.value)


@pytest.mark.parametrize("name", ["dict_output", "object_output"])
def test_outputs_with_logits_are_read_without_options(name: str) -> None:
    model, _ = ZOO[name]
    x = models.images(2)
    automatic = xai.explain(model, x, method="integrated_gradients", n_steps=8)
    explicit = xai.explain(model, x, method="integrated_gradients", n_steps=8, output="logits")
    assert automatic.params["output"] == "logits"  # recorded: the explanation re-runs from it
    torch.testing.assert_close(automatic.attributions, explicit.attributions, rtol=0, atol=0)


def test_bad_output_selector_is_named() -> None:
    model, _ = ZOO["dict_output"]
    with pytest.raises(ValueError, match=r"output: could not select 'probs'"):
        xai.explain(model, models.images(2), output="probs")
    with pytest.raises(ValueError, match=r"output: expected the model to return one row of scores"):
        xai.explain(models.small_cnn(), models.images(2), output=lambda out: out[:, :, None, None])
