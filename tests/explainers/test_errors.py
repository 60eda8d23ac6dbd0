"""Bad input gets a TypeError/ValueError that names the argument, what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai
from tests.explainers import models
from tests.explainers.test_common import SUPPORTED_INPUTS, model_and_inputs, options_for

CASES = [(method, kind) for method, kinds in SUPPORTED_INPUTS.items() for kind in kinds]


@pytest.mark.parametrize(("method", "kind"), CASES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs(method: str, kind: str, bad: float) -> None:
    model, x = model_and_inputs(kind)
    x = x.clone()
    x.view(-1)[5] = bad
    with pytest.raises(
        ValueError, match=r"inputs: expected finite values, got 1 NaN/inf value\(s\)"
    ):
        xai.explain(model, x, method=method, **options_for(method))


@pytest.mark.parametrize(("method", "kind"), CASES)
def test_single_sample_without_batch_dimension(method: str, kind: str) -> None:
    model, x = model_and_inputs(kind)
    with pytest.raises(ValueError, match=r"inputs: .*unsqueeze\(0\)"):
        xai.explain(model, x[0], method=method, **options_for(method))


def test_one_dimensional_input_message_is_exact() -> None:
    with pytest.raises(ValueError) as info:
        xai.explain(models.small_mlp(), torch.randn(6))
    assert str(info.value) == (
        "inputs: expected a batch with a leading sample dimension, shape (N, ...), got shape (6,). "
        "Add a batch dimension with inputs.unsqueeze(0)."
    )


@pytest.mark.parametrize("method", ["gradcam"])
def test_image_only_method_on_tabular_inputs(method: str) -> None:
    with pytest.raises(
        ValueError,
        match=r"inputs: method 'gradcam' expects a \(N, C, H, W\) image batch, got shape \(4, 6\)",
    ):
        xai.explain(models.small_mlp(), models.rows(), method=method)


def test_lime_rejects_sequences() -> None:
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(
        ValueError,
        match=r"inputs: method 'lime' expects a \(N, F\) tabular or \(N, C, H, W\) image",
    ):
        xai.explain(model, torch.randn(2, 2, 10), method="lime")


@pytest.mark.parametrize(("method", "kind"), CASES)
def test_target_length_mismatch(method: str, kind: str) -> None:
    model, x = model_and_inputs(kind)
    with pytest.raises(
        ValueError, match=rf"target: expected one class index per sample \({x.shape[0]}\), got 2"
    ):
        xai.explain(model, x, method=method, target=[0, 1], **options_for(method))


@pytest.mark.parametrize(("method", "kind"), CASES)
@pytest.mark.parametrize("target", [3, -1, [0, 0, 0, 7]])
def test_target_outside_outputs(method: str, kind: str, target: object) -> None:
    model, x = model_and_inputs(kind)
    if isinstance(target, list):
        target = target[-x.shape[0] :]
    with pytest.raises(
        ValueError,
        match=r"target: class index -?\d+ is outside the model's outputs; the model returns 3 output column\(s\), so valid targets are 0\.\.2",
    ):
        xai.explain(model, x, method=method, target=target, **options_for(method))


@pytest.mark.parametrize("target", [1.5, torch.tensor([0.0, 1.0, 2.0, 0.0]), "cat", True])
def test_target_of_wrong_type(target: object) -> None:
    with pytest.raises(TypeError, match=r"target: "):
        xai.explain(models.small_mlp(), models.rows(), target=target)


def test_empty_target() -> None:
    with pytest.raises(
        ValueError, match=r"target: expected one class index per sample \(4\), got an empty"
    ):
        xai.explain(models.small_mlp(), models.rows(), target=[])


@pytest.mark.parametrize("value", ["no", 1, None])
def test_gradcam_relu_attributions_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError, match=r"relu_attributions: expected True or False, got"):
        xai.explain(models.small_cnn(), models.images(), method="gradcam", relu_attributions=value)


def test_target_of_wrong_rank() -> None:
    with pytest.raises(
        ValueError,
        match=r"target: expected a 1-D tensor with one class index per sample, got shape \(2, 2\)",
    ):
        xai.explain(models.small_mlp(), models.rows(), target=torch.zeros(2, 2, dtype=torch.long))


def test_single_output_model_accepts_only_target_zero() -> None:
    model = nn.Sequential(nn.Linear(6, 1))
    assert xai.explain(model, models.rows()).target.tolist() == [0, 0, 0, 0]
    with pytest.raises(
        ValueError, match=r"the model returns 1 output column\(s\), so valid targets are 0\.\.0"
    ):
        xai.explain(model, models.rows(), target=1)


def test_unknown_method_lists_available_ones() -> None:
    with pytest.raises(ValueError) as info:
        xai.explain(models.small_mlp(), models.rows(), method="integrated_gradient")
    message = str(info.value)
    assert message.startswith(
        "method: unknown method 'integrated_gradient'. Did you mean 'integrated_gradients'?"
    )
    for name in xai.available_explainers():
        assert name in message


@pytest.mark.parametrize(
    ("method", "option", "suggestion"),
    [
        ("integrated_gradients", "nsteps", "n_steps"),
        ("lime", "num_sample", "num_samples"),
        ("shap", "n_samples", "nsamples"),
    ],
)
def test_unknown_option_is_named_with_close_match(
    method: str, option: str, suggestion: str
) -> None:
    with pytest.raises(
        TypeError,
        match=rf"{option}: not an option of method '{method}'\. Did you mean '{suggestion}'\?",
    ):
        xai.explain(models.small_mlp(), models.rows(), method=method, **{option: 10})


def test_seed_is_not_an_option_of_deterministic_methods() -> None:
    with pytest.raises(TypeError, match=r"seed: not an option of method 'integrated_gradients'"):
        xai.explain(models.small_mlp(), models.rows(), seed=0)


@pytest.mark.parametrize(
    ("method", "options", "error", "message"),
    [
        (
            "integrated_gradients",
            {"n_steps": 0},
            ValueError,
            r"n_steps: expected an integer >= 1, got 0",
        ),
        (
            "integrated_gradients",
            {"n_steps": 2.5},
            TypeError,
            r"n_steps: expected an integer >= 1, got float 2.5",
        ),
        (
            "integrated_gradients",
            {"baselines": torch.zeros(3)},
            ValueError,
            r"baselines: expected a tensor of shape \(6,\)",
        ),
        (
            "integrated_gradients",
            {"baselines": torch.zeros(2, 6)},
            ValueError,
            r"baselines: expected one baseline for all samples or one per sample \(4\), got 2",
        ),
        (
            "integrated_gradients",
            {"baselines": "zeros"},
            TypeError,
            r"baselines: expected a number or a tensor",
        ),
        (
            "shap",
            {"algorithm": "tree"},
            ValueError,
            r"algorithm: expected one of 'gradient', 'deep', 'kernel', got 'tree'",
        ),
        (
            "shap",
            {"background": torch.full((2, 6), float("nan"))},
            ValueError,
            r"background: expected finite values",
        ),
        (
            "shap",
            {"seed": -1},
            ValueError,
            r"seed: expected None or an integer in \[0, 2\*\*32\), got -1",
        ),
        ("lime", {"num_samples": 1}, ValueError, r"num_samples: expected an integer >= 2, got 1"),
        (
            "lime",
            {"segmentation": "grid"},
            ValueError,
            r"segmentation: only used by LIME on images",
        ),
        (
            "lime",
            {"kernel_width": -1},
            ValueError,
            r"kernel_width: expected a positive number, got -1",
        ),
    ],
)
def test_bad_option_values(method: str, options: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        xai.explain(models.small_mlp(), models.rows(), method=method, **options)


def test_kernel_shap_on_images_points_to_alternatives() -> None:
    with pytest.raises(
        ValueError,
        match=r"algorithm: 'kernel' explains tabular \(N, F\) inputs, got shape \(3, 1, 12, 12\).*method='lime'",
    ):
        xai.explain(models.small_cnn(), models.images(), method="shap", algorithm="kernel")


def test_gradcam_without_spatial_layer_lists_candidates() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(ValueError) as info:
        xai.explain(model, models.images(), method="gradcam")
    message = str(info.value)
    assert message.startswith("layer: Grad-CAM needs a layer whose output is a map (N, C, h, w)")
    assert "0 -> (1, 144)" in message and "3 -> (1, 3)" in message
    assert "method='integrated_gradients'" in message


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("conv9", r"layer: the model has no submodule named 'conv9'"),
        (
            "6",
            r"layer: '6' outputs \(1, 3\), not a map \(N, C, h, w\) or tokens on a grid\. "
            r"Layers with maps: 0, 1, 2, 3",
        ),
        (nn.Conv2d(1, 1, 1), r"layer: the given Conv2d module is not a submodule of the model"),
        (3.0, r"layer: expected None, a dotted submodule name or an nn.Module, got float"),
    ],
)
def test_gradcam_bad_layer(layer: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        xai.explain(models.small_cnn(), models.images(), method="gradcam", layer=layer)


def test_inputs_of_wrong_type_and_dtype() -> None:
    with pytest.raises(
        TypeError,
        match=r"inputs: expected a torch.Tensor \(or numpy array\) batch of shape \(N, ...\), got list",
    ):
        xai.explain(models.small_mlp(), [[0.0] * 6])
    with pytest.raises(
        TypeError,
        match=r"inputs: expected a floating-point tensor, got dtype torch.int64. Convert it with inputs.float\(\)",
    ):
        xai.explain(models.small_mlp(), torch.ones(2, 6, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"inputs: expected at least one sample, got an empty batch"
    ):
        xai.explain(models.small_mlp(), torch.ones(0, 6))


def test_numpy_inputs_are_accepted() -> None:
    expl = xai.explain(models.small_mlp(), models.rows().numpy())
    assert isinstance(expl.attributions, torch.Tensor) and expl.attributions.shape == (4, 6)
    assert isinstance(np.asarray(expl.numpy()), np.ndarray)


def test_inputs_the_model_cannot_take() -> None:
    with pytest.raises(
        ValueError,
        match=r"inputs: the model failed on inputs of shape \(4, 5\) and dtype torch.float32 \(RuntimeError: .*\)\. Check that the inputs have the shape",
    ):
        xai.explain(models.small_mlp(), torch.randn(4, 5))


class DetachedOutput(nn.Module):
    """Scores computed without a gradient (as a wrapped numpy or scikit-learn model gives)."""

    def __init__(self, integer: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)
        self.integer = integer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.linear(x).detach()
        return (scores > 0).long() if self.integer else scores


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize(
    "options",
    [{"method": "integrated_gradients"}, {"method": "shap", "algorithm": "gradient"}],
    ids=["ig", "shap-gradient"],
)
def test_gradient_method_on_outputs_without_gradient(integer: bool, options: dict) -> None:
    with pytest.raises(
        ValueError,
        match=rf"model: method '{options['method']}' needs the gradient of the model's output, "
        r"but the output carries none.*method='lime'",
    ):
        xai.explain(DetachedOutput(integer), models.rows(), **options)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_output_only_methods_explain_integer_outputs(method: str) -> None:
    model = DetachedOutput(integer=True)
    explanation = xai.explain(model, models.rows(), method=method, seed=0)
    assert explanation.attributions.dtype == torch.float32
    assert bool(torch.isfinite(explanation.attributions).all())
    if method == "shap":  # Kernel SHAP picked; its values sum to f(x) - E[f(background)]
        scores = model(models.rows()).float().gather(1, explanation.target[:, None]).squeeze(1)
        totals = explanation.attributions.sum(1) + explanation.extras["expected_value"]
        torch.testing.assert_close(totals, scores, atol=1e-4, rtol=0)


def test_gradcam_on_outputs_without_gradient() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    images = torch.randn(2, 3, 8, 8)

    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x).detach()

    with pytest.raises(ValueError, match=r"model: method 'gradcam' needs the gradient"):
        xai.explain(Detached(), images, method="gradcam")


class LogOfFirstFeature(nn.Module):
    """NaN outputs for rows whose first feature is negative; -inf at a zero first feature."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + torch.log(x[:, :1])


@pytest.mark.parametrize("method", ["integrated_gradients", "shap", "lime"])
def test_model_outputs_not_finite_on_the_inputs(method: str) -> None:
    x = torch.rand(4, 6) + 0.5
    x[2, 0] = -1.0
    with pytest.raises(
        ValueError,
        match=r"inputs: the model's outputs are NaN or infinite for 1 sample\(s\) \(rows \[2\]\)",
    ):
        xai.explain(LogOfFirstFeature(), x, method=method)


def test_model_not_finite_between_inputs_and_background() -> None:
    # finite on the inputs, -inf where Kernel SHAP sets the first feature to the zero background
    x = torch.rand(3, 6) + 0.5
    with pytest.raises(
        ValueError,
        match=r"inputs: method 'shap' gave NaN or infinite attributions for 3 sample\(s\) "
        r"\(rows \[0, 1, 2\]\)\. The model's outputs on these inputs are finite",
    ):
        xai.explain(LogOfFirstFeature(), x, method="shap", algorithm="kernel")


@pytest.mark.parametrize("option", ["baselines", "background"])
@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 1e39, 10**400], ids=["nan", "inf", "1e39", "10**400"]
)
def test_scalar_reference_out_of_range(option: str, value: float) -> None:
    method = "integrated_gradients" if option == "baselines" else "shap"
    with pytest.raises(
        ValueError,
        match=rf"{option}: expected a finite number within the range of the inputs' dtype "
        r"torch.float32",
    ):
        xai.explain(models.small_mlp(), models.rows(), method=method, **{option: value})


def test_integrated_gradients_keeps_a_float64_model_in_float64() -> None:
    torch.manual_seed(0)
    model = nn.Linear(6, 3).double()
    x = models.rows().double()
    explanation = xai.explain(model, x, method="integrated_gradients")
    # exact for a linear model, to float64 precision only if the rule's points and weights
    # are float64 too (float32 weights leave an error of ~1e-7)
    assert explanation.attributions.dtype == torch.float64
    assert float(explanation.extras["convergence_delta"].abs().max()) < 1e-10


@pytest.mark.parametrize("method", ["integrated_gradients", "shap", "gradcam", "lime"])
def test_float16_model_and_inputs(method: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)
    ).half()
    images = torch.rand(2, 1, 8, 8).half()
    explanation = xai.explain(model, images, method=method, **options_for(method))
    assert explanation.attributions.dtype == torch.float16
    assert bool(torch.isfinite(explanation.attributions).all())
