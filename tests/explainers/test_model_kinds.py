"""Models as people have them: forwards that cut the inputs out of the graph, functional-only
CNNs under SHAP deep, TorchScript and ``torch.compile``'d modules, models changed after a
first explanation. Each works, or fails with an error naming the argument and the fix."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xai
from xai.explainers.registry import get_explainer

from . import models

GRADIENT_METHODS = ("integrated_gradients", "smoothgrad", "gradcam")
ALL_METHODS = ("gradcam", "integrated_gradients", "smoothgrad", "occlusion", "lime", "shap")


def quick(method: str, model: nn.Module, **options: Any) -> dict[str, Any]:
    options = {**type(get_explainer(method, model)).quick_options, **options}
    if method in ("lime", "smoothgrad", "shap"):
        options.setdefault("seed", 0)
    return options


class IdsThroughLong(nn.Module):
    """``forward(x) = net(x.long())``: the output has a gradient from the weights only."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(20, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x.long().clamp(0, 19)).mean(1))


def token_rows() -> torch.Tensor:
    return torch.randint(0, 20, (3, 5), generator=torch.Generator().manual_seed(0)).float()


# ----------------------------------------------------------------------------- no silent zeros


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
def test_outputs_without_a_path_to_the_inputs_are_an_error(method: str) -> None:
    model = IdsThroughLong()
    assert model(token_rows()).requires_grad  # a gradient, but only from the weights
    with pytest.raises(
        ValueError, match=r"model: .*outputs carry no gradient w\.r\.t\. the inputs"
    ):
        xai.explain(model, token_rows(), method=method, **quick(method, model))


def test_shap_gradient_on_such_a_model_is_an_error_and_auto_picks_kernel() -> None:
    model = IdsThroughLong()
    with pytest.raises(ValueError, match=r"outputs carry no gradient w\.r\.t\. the inputs"):
        xai.explain(model, token_rows(), method="shap", algorithm="gradient", seed=0)
    expl = xai.explain(model, token_rows(), method="shap", nsamples=200, seed=0)
    assert expl.params["algorithm"] == "kernel"
    # Kernel SHAP is exact in its efficiency: values sum to f(x) - E f(background)
    scores = model(token_rows()).detach().gather(1, expl.target[:, None]).squeeze(1)
    sums = expl.attributions.sum(1)
    torch.testing.assert_close(sums, scores - expl.extras["expected_value"], rtol=0, atol=1e-5)
    assert sums.abs().max() > 0


def test_gradcam_on_a_layer_the_output_does_not_depend_on_is_an_error() -> None:
    class SideBranch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Conv2d(1, 4, 3)
            self.unused = nn.Conv2d(1, 4, 3)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.unused(x)  # computed, then thrown away
            return self.head(self.used(x).mean((2, 3)))

    with pytest.raises(ValueError, match=r"outputs carry no gradient w\.r\.t\. the inputs"):
        xai.explain(SideBranch(), models.images(2), method="gradcam", layer="unused")


def test_all_zero_gradient_attributions_warn() -> None:
    dead = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        dead[0].bias.fill_(-100.0)  # every ReLU is off: the output is constant near x
    with pytest.warns(UserWarning, match=r"all-zero attributions for 4 sample\(s\)"):
        expl = xai.explain(dead, models.rows(), method="integrated_gradients", n_steps=8)
    assert expl.attributions.abs().max() == 0
    (warning,) = expl.extras["warnings"]
    assert "rows [0, 1, 2, 3]" in warning and "method='occlusion'" in warning


def test_nonzero_attributions_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expl = xai.explain(models.small_mlp(), models.rows(), method="integrated_gradients")
    assert "warnings" not in expl.extras


# ----------------------------------------------------------------------------- SHAP deep


class SmallOutputsFunctionalCNN(nn.Module):
    """Functional activations DeepLIFT has no rule for, and outputs around 1e-3: shap's own
    absolute additivity check (1e-2) always passes here."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = F.gelu(self.conv2(x))
        return 0.05 * self.fc(x.mean((2, 3)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # shap's numpy 2 notices
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_shap_deep_additivity_is_relative_to_the_output_scale() -> None:
    import shap

    model, x = SmallOutputsFunctionalCNN().eval(), models.images(3)
    background = models.images(4) * 0.5
    # shap itself returns these values without complaint
    phi = shap.DeepExplainer(model, background).shap_values(x, check_additivity=True)
    assert phi is not None
    with pytest.raises(ValueError, match=r"algorithm: shap's DeepExplainer could not explain"):
        xai.explain(model, x, method="shap", algorithm="deep", background=background)


def test_shap_deep_is_exact_on_modules_it_has_rules_for() -> None:
    model, x = models.small_cnn(), models.images(3)
    expl = xai.explain(model, x, method="shap", algorithm="deep", background=models.images(4))
    scores = model(x).detach().gather(1, expl.target[:, None]).squeeze(1)
    delta = scores - expl.extras["expected_value"]
    error = (expl.attributions.flatten(1).sum(1) - delta).abs()
    assert float(error.max()) <= 1e-3 * float(scores.abs().max())


# ----------------------------------------------------------------------------- TorchScript


def script(model: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; people still ship it
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(model)


def state_of(model: nn.Module) -> dict[str, Any]:
    return {
        "training": [m.training for m in model.modules()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert all(
        a is None and b is None for a, b in zip(before["grads"], after["grads"], strict=True)
    )
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key


@pytest.mark.parametrize("method", ALL_METHODS)
def test_torchscript_models(method: str) -> None:
    eager, x = models.small_cnn(), models.images(2)
    scripted = script(eager)
    scripted.train()  # explained in eval mode, left in train mode
    before = state_of(scripted)
    if method == "gradcam":
        with pytest.raises(ValueError, match=r"model: .*TorchScript.*Pass the eager module"):
            xai.explain(scripted, x, method=method)
        return
    expl = xai.explain(scripted, x, method=method, **quick(method, eager))
    assert_same_state(before, state_of(scripted))
    reference = xai.explain(eager, x, method=method, **quick(method, eager))
    torch.testing.assert_close(expl.attributions, reference.attributions, rtol=1e-4, atol=1e-5)


def test_torchscript_with_shap_deep_names_the_fix() -> None:
    scripted = script(models.small_cnn())
    with pytest.raises(ValueError, match=r"model: .*do not take hooks"):
        xai.explain(scripted, models.images(2), method="shap", algorithm="deep")


# ----------------------------------------------------------------------------- torch.compile


def test_compiled_models_after_they_have_run() -> None:
    eager, x = models.small_cnn(), models.images(2)
    compiled = torch.compile(eager, backend="eager")
    compiled(x)  # hooks added after this do not fire in the compiled graph
    for method in ("gradcam", "integrated_gradients"):
        expl = xai.explain(compiled, x, method=method)
        reference = xai.explain(eager, x, method=method)
        torch.testing.assert_close(expl.attributions, reference.attributions)
    assert xai.explain(compiled, x, method="gradcam").params["layer"] == "3"


# ----------------------------------------------------------------------------- layer cache


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.convs = nn.ModuleList([nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)])
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.head(x.mean((2, 3)))


def test_the_automatic_layer_follows_changes_to_the_model() -> None:
    model, x = Stack().eval(), models.images(2)
    assert xai.explain(model, x, method="gradcam").params["layer"] == "convs.1"
    model.convs.append(nn.Conv2d(4, 4, 3, padding=1))
    assert xai.explain(model, x, method="gradcam").params["layer"] == "convs.2"
    model.convs[2] = nn.Conv2d(4, 4, 3, padding=1)  # replaced: same name, another module
    expl = xai.explain(model, x, method="gradcam")
    reference = xai.explain(model, x, method="gradcam", layer=model.convs[2])
    torch.testing.assert_close(expl.attributions, reference.attributions, rtol=0, atol=0)


# ----------------------------------------------------------------------------- layouts


class ChannelsLast(nn.Module):
    """A timm-Swin/ConvNeXt-style block: LayerNorm and Linear on ``(N, h, w, C)``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(1, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).permute(0, 2, 3, 1)  # (N, h, w, C)
        x = self.mix(self.norm(x)).relu()
        return self.head(x.mean((1, 2)))


def test_channels_last_layers_are_read_as_maps() -> None:
    model, x = ChannelsLast().eval(), models.images(2, size=16)
    # after the last channels-first map, the last normalisation layer (the transformer rule)
    assert xai.explain(model, x, method="gradcam").params["layer"] == "norm"
    expl = xai.explain(model, x, method="gradcam", layer="mix")
    assert expl.extras["layer_layout"] == "channels-last 4x4 map"
    permuted = xai.explain(
        model, x, method="gradcam", layer="mix", reshape=lambda t: t.permute(0, 3, 1, 2)
    )
    torch.testing.assert_close(expl.attributions, permuted.attributions, rtol=0, atol=0)


def test_an_input_equal_to_its_baseline_does_not_warn() -> None:
    x = models.rows()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expl = xai.explain(models.small_mlp(), x, method="integrated_gradients", baselines=x[0])
    assert expl.attributions[0].abs().max() == 0 and "warnings" not in expl.extras
    assert "_expected_zero_rows" not in expl.extras
