"""xai.explainers.parameters: which methods apply to which inputs, Grad-CAM's layer choices and
the adjustable options of each method, checked against what ``xai.explain`` accepts and does.

The methods come from the registry (``METHODS``), so a newly registered method's controls are
checked here without editing this file."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import reference_models
import xai
from xai.explainers.parameters import (
    AUTO,
    Parameter,
    applicable_methods,
    spatial_layers,
    tunable_parameters,
)
from xai.explainers.registry import explainer_class

#: every registered method, built-in and third-party
METHODS = xai.available_explainers()


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor]:
    ref = reference_models.load("digits_cnn")
    return ref.model, ref.data["test"].tensors[0][:2].clone()


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[nn.Module, torch.Tensor]:
    ref = reference_models.load("breast_cancer_mlp")
    return ref.model, ref.data["test"].tensors[0][:3].clone()


# ----------------------------------------------------------------------------- applicable_methods


@pytest.mark.parametrize(
    ("shape", "kind", "builtin"),
    [
        (
            (2, 3, 8, 8),
            "image",
            ["gradcam", "integrated_gradients", "lime", "occlusion", "shap", "smoothgrad"],
        ),
        ((2, 30), "tabular", ["integrated_gradients", "lime", "occlusion", "shap", "smoothgrad"]),
        ((2, 4, 16), "sequence", ["integrated_gradients", "occlusion", "shap", "smoothgrad"]),
    ],
    ids=["image", "tabular", "sequence"],
)
def test_applicable_methods(shape: tuple[int, ...], kind: str, builtin: list[str]) -> None:
    inputs = torch.zeros(shape)
    # what each class declares: its input kinds and the layout it accepts agree
    expected = [m for m in METHODS if kind in explainer_class(m).input_kinds()]
    assert expected == [m for m in METHODS if explainer_class(m).accepts(inputs)]
    assert applicable_methods(inputs, METHODS) == expected
    assert applicable_methods(inputs, list(reversed(METHODS))) == list(reversed(expected))
    every = applicable_methods(inputs)  # all registered methods, in registry order
    assert every == expected
    assert set(every) <= set(xai.available_explainers())
    assert [m for m in every if m in builtin] == builtin  # the built-in methods' declarations
    assert ("gradcam" in every) == (len(shape) == 4)


def test_applicable_methods_unknown_name() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'gradcamm'.*Did you mean 'gradcam'"):
        applicable_methods(torch.zeros(1, 3, 8, 8), ["gradcamm"])


# ----------------------------------------------------------------------------- spatial_layers


class _Net(nn.Module):
    """Modules declared out of forward order; a container; a ReLU and a conv used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.shared = nn.Conv2d(4, 4, 1)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.nested = nn.Sequential(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1)), nn.Identity())
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.block(x))
        x = self.act(self.conv2(x))
        x = self.shared(self.shared(x))
        x = self.nested(x)
        return self.head(self.pool(x).flatten(1))


def test_spatial_layers_leaves_in_forward_order() -> None:
    model = _Net()
    layers = spatial_layers(model, torch.randn(1, 1, 8, 8))
    # Left out: containers (block, nested, nested.0), modules called twice (act, shared), the
    # 1x1 pooled output (pool) and the non-spatial head.
    assert layers == ["block.0", "block.1", "conv2", "nested.0.0", "nested.1"]


def test_spatial_layers_leave_the_model_as_found() -> None:
    model = _Net().train()
    model.block[1].running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spatial_layers(model, torch.randn(1, 1, 8, 8) * 5 + 3)
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert all(not m._forward_hooks for m in model.modules())


def test_spatial_layers_of_digits_cnn(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    layers = spatial_layers(model, x[:1])
    # features.0 .. features.10 (conv, BN, ReLU, max-pool); the 1x1 average pool is left out.
    assert layers == [f"features.{i}" for i in range(11)]
    modules = dict(model.named_modules())
    assert all(next(modules[name].children(), None) is None for name in layers)


def test_spatial_layers_of_a_tabular_model(breast_cancer: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = breast_cancer
    assert spatial_layers(model, x[:1]) == []


# ----------------------------------------------------------------------------- tunable_parameters


def _by_name(parameters: list[Parameter]) -> dict[str, Parameter]:
    return {p.name: p for p in parameters}


def test_parameter_to_option() -> None:
    parameter = Parameter("layer", "layer", AUTO, choices=(AUTO, "conv"))
    assert parameter.is_choice and parameter.to_option(AUTO) is None
    assert parameter.to_option("conv") == "conv"
    number = Parameter("n_steps", "steps", 50, 2, 300, 2)
    assert not number.is_choice and number.to_option(64) == 64


def test_integrated_gradients_parameters(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    for parameters in (tunable_parameters("integrated_gradients", model, x),
                       tunable_parameters("integrated_gradients", None, torch.zeros(2, 30)),
                       tunable_parameters("integrated_gradients")):  # fmt: skip
        assert [p.name for p in parameters] == ["n_steps"]
        (steps,) = parameters
        assert (steps.default, steps.minimum, steps.maximum, steps.step) == (50, 2, 300, 2)
        assert not steps.is_choice and steps.help


def test_gradcam_parameters(
    digits: tuple[nn.Module, torch.Tensor], breast_cancer: tuple[nn.Module, torch.Tensor]
) -> None:
    model, x = digits
    (layer,) = tunable_parameters("gradcam", model, x)
    assert layer.name == "layer" and layer.default == AUTO
    assert layer.choices == (AUTO, *[f"features.{i}" for i in range(11)])
    # Without a model or for tabular inputs there is nothing to choose but the automatic layer.
    assert tunable_parameters("gradcam")[0].choices == (AUTO,)
    assert tunable_parameters("gradcam", None, x)[0].choices == (AUTO,)
    tabular_model, tabular_x = breast_cancer
    assert tunable_parameters("gradcam", tabular_model, tabular_x)[0].choices == (AUTO,)


def test_shap_parameters(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    image = _by_name(tunable_parameters("shap", model, x))
    tabular = _by_name(tunable_parameters("shap", None, torch.zeros(3, 30)))
    assert list(image) == list(tabular) == ["algorithm", "nsamples"]
    assert image["algorithm"].default == AUTO
    assert image["algorithm"].choices == (AUTO, "gradient")  # kernel SHAP is not offered for images
    assert tabular["algorithm"].choices == (AUTO, "gradient", "kernel")
    for parameters in (image, tabular):
        samples = parameters["nsamples"]
        assert (samples.default, samples.minimum, samples.maximum, samples.step) == (
            200,
            10,
            5000,
            10,
        )


@pytest.mark.parametrize(("height", "width", "segments"), [(32, 32, 64), (8, 8, 16), (64, 80, 100)])
def test_lime_parameters_on_images(height: int, width: int, segments: int) -> None:
    image = _by_name(tunable_parameters("lime", None, torch.zeros(2, 3, height, width)))
    assert list(image) == ["num_samples", "n_segments"]
    assert image["num_samples"].default == 1000
    # About one superpixel per 16 pixels, between 16 and 100.
    assert image["n_segments"].default == segments
    assert image["n_segments"].minimum <= segments <= image["n_segments"].maximum


def test_lime_parameters_on_tabular_data() -> None:
    tabular = tunable_parameters("lime", None, torch.zeros(2, 30))
    assert [p.name for p in tabular] == ["num_samples"]
    assert tabular[0].default == 5000
    assert [p.name for p in tunable_parameters("lime")] == ["num_samples"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (2, 7)], ids=["image", "tabular"])
def test_parameters_are_well_formed(method: str, shape: tuple[int, ...]) -> None:
    options = explainer_class(method).defaults
    parameters = tunable_parameters(method, None, torch.zeros(shape))
    # the public function asks the method's class
    assert parameters == explainer_class(method).tunable_parameters(None, torch.zeros(shape))
    assert len({p.name for p in parameters}) == len(parameters)
    for parameter in parameters:
        assert parameter.name in options, f"{method} has no option {parameter.name!r}"
        assert parameter.label and parameter.help
        if parameter.is_choice:
            assert parameter.default in parameter.choices  # type: ignore[operator]
            assert parameter.minimum is parameter.maximum is parameter.step is None
            assert len(set(parameter.choices)) == len(parameter.choices)  # type: ignore[arg-type]
        else:
            assert isinstance(parameter.default, int) and not isinstance(parameter.default, bool)
            assert parameter.minimum is not None and parameter.maximum is not None
            assert parameter.step is not None and parameter.step > 0
            assert parameter.minimum <= parameter.default <= parameter.maximum


@pytest.mark.parametrize("method", ["gradcamm", "Integrated_Gradients", "", "nope"])
def test_unknown_method(method: str) -> None:
    with pytest.raises(ValueError, match=rf"^method: unknown method {method!r}"):
        tunable_parameters(method)


def test_method_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match=r"^method: expected a method name"):
        tunable_parameters(None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- with xai.explain


def _seed(method: str) -> dict[str, int]:
    return {"seed": 0} if explainer_class(method).stochastic else {}


def _reference(
    name: str, digits: tuple[nn.Module, torch.Tensor], breast_cancer: tuple[nn.Module, torch.Tensor]
) -> tuple[nn.Module, torch.Tensor]:
    return digits if name == "digits_cnn" else breast_cancer


@pytest.mark.parametrize("reference", ["digits_cnn", "breast_cancer_mlp"])
def test_defaults_are_what_the_method_does_by_default(
    reference: str,
    digits: tuple[nn.Module, torch.Tensor],
    breast_cancer: tuple[nn.Module, torch.Tensor],
) -> None:
    """Passing every default through ``to_option`` is accepted, and gives the same explanation
    as passing no option at all (the shown default is the method's own)."""
    model, x = _reference(reference, digits, breast_cancer)
    x = x[:1]
    methods = applicable_methods(x)
    assert ("gradcam" in methods) == (reference == "digits_cnn")
    for method in methods:
        parameters = tunable_parameters(method, model, x)
        options = {p.name: p.to_option(p.default) for p in parameters}
        chosen = xai.explain(model, x, method=method, **options, **_seed(method))
        plain = xai.explain(model, x, method=method, **_seed(method))
        assert chosen.attributions.shape[0] == len(x)
        assert torch.isfinite(chosen.attributions).all()
        torch.testing.assert_close(
            chosen.attributions, plain.attributions, rtol=1e-5, atol=1e-7, msg=method
        )
        for name, value in options.items():
            if value is not None:
                assert chosen.params[name] == value


@pytest.mark.parametrize("reference", ["digits_cnn", "breast_cancer_mlp"])
def test_every_choice_and_minimum_is_accepted(
    reference: str,
    digits: tuple[nn.Module, torch.Tensor],
    breast_cancer: tuple[nn.Module, torch.Tensor],
) -> None:
    """Every integer option at its minimum (all at once: fast), and on top of that each value
    of each choice option in turn."""
    model, x = _reference(reference, digits, breast_cancer)
    x = x[:1]
    tested = []
    for method in applicable_methods(x):
        parameters = tunable_parameters(method, model, x)
        if not parameters:  # a method without controls is explained with its defaults
            continue
        tested.append(method)
        minima = {p.name: p.minimum for p in parameters if not p.is_choice}
        runs = [dict(minima)]
        for parameter in parameters:
            for value in parameter.choices or ():
                runs.append({**minima, parameter.name: parameter.to_option(value)})
        for options in runs:
            explanation = xai.explain(model, x, method=method, **options, **_seed(method))
            assert torch.isfinite(explanation.attributions).all(), (method, options)
            for name, value in options.items():
                if value is not None:
                    assert explanation.params[name] == value, (method, name)
    # every built-in method that explains these inputs offers controls, integers included
    builtin = {"integrated_gradients", "lime", "shap", "smoothgrad", "occlusion", "gradcam"}
    assert set(applicable_methods(x)) & builtin <= set(tested)
    for method in {"integrated_gradients", "lime", "shap", "smoothgrad"}:
        assert any(not p.is_choice for p in tunable_parameters(method, model, x)), method


def test_maxima_are_accepted_on_tabular_data(
    breast_cancer: tuple[nn.Module, torch.Tensor],
) -> None:
    model, x = breast_cancer
    x = x[:1]
    for method in applicable_methods(x):
        for parameter in tunable_parameters(method, model, x):
            if not parameter.is_choice:
                options = {parameter.name: parameter.maximum, **_seed(method)}
                explanation = xai.explain(model, x, method=method, **options)
                assert explanation.params[parameter.name] == parameter.maximum
    kernel = xai.explain(model, x, method="shap", algorithm="kernel", nsamples=5000, seed=0)
    assert torch.isfinite(kernel.attributions).all()


def test_every_gradcam_layer_choice_works(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    x = x[:1]
    (layer,) = tunable_parameters("gradcam", model, x)
    maps = {}
    for choice in layer.choices:  # type: ignore[union-attr]
        explanation = xai.explain(model, x, method="gradcam", layer=layer.to_option(choice))
        assert explanation.attributions.shape == (len(x), 1, 32, 32)
        assert torch.isfinite(explanation.attributions).all()
        if choice != AUTO:
            assert explanation.params["layer"] == choice
        maps[choice] = explanation.attributions
    # "auto: the last one": the automatic layer explains like the last listed layer.
    torch.testing.assert_close(maps[AUTO], maps[layer.choices[-1]], rtol=1e-5, atol=1e-7)  # type: ignore[index]
    # Different layers give different maps (the choice is not ignored).
    assert not torch.allclose(maps["features.0"], maps["features.10"])


def test_gradcam_on_a_user_model_layer() -> None:
    torch.manual_seed(0)
    model = _Net().eval()
    x = torch.randn(2, 1, 8, 8)
    (layer,) = tunable_parameters("gradcam", model, x)
    assert layer.choices == (AUTO, "block.0", "block.1", "conv2", "nested.0.0", "nested.1")
    for choice in layer.choices[1:]:  # type: ignore[index]
        explanation = xai.explain(model, x, method="gradcam", layer=choice)
        assert explanation.attributions.shape == (2, 1, 8, 8)
        assert torch.isfinite(explanation.attributions).all()
