"""Every registered explainer through the same invariants.

The methods, the input kinds each explains and their cheap options come from the registry and
the methods' classes (``input_kinds()``, ``quick_options``), so a newly registered method is
checked here without editing this file; ``test_every_explainer_is_classified`` fails for a
method no case reaches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import xai
from tests.explainers import models
from xai.explainers.registry import explainer_class

#: the input kinds this test has models for (``model_and_inputs``)
KINDS = ("image", "tabular", "sequence")
#: method -> input kinds it explains, as its class declares them
SUPPORTED_INPUTS = {
    method: tuple(kind for kind in explainer_class(method).input_kinds() if kind in KINDS)
    for method in xai.available_explainers()
}
#: small budgets so the suite stays fast (the class's ``quick_options``); the seed is added
#: for stochastic methods
FAST_OPTIONS: dict[str, dict[str, Any]] = {
    method: dict(explainer_class(method).quick_options) for method in SUPPORTED_INPUTS
}
#: extra variants of a method that take another code path
VARIANTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "shap": [
        ("image", {"algorithm": "deep"}),
        ("tabular", {"algorithm": "deep"}),
        ("tabular", {"algorithm": "kernel", "nsamples": 64}),
    ],
    "lime": [
        ("tabular", {"background": models.rows(20)}),
        ("tabular", {"background": models.rows(20), "sampler": "lime"}),
        ("tabular", {"sampler": "lime"}),
    ],
    "smoothgrad": [
        ("image", {"stdevs": 0.5, "abs": False}),
        ("tabular", {"internal_batch_size": 5}),
    ],
    "occlusion": [
        ("image", {"sliding_window_shapes": (1, 4, 3), "strides": (1, 3, 2), "baselines": 0.5}),
        ("tabular", {"sliding_window_shapes": (2,), "batch_size": 3}),
    ],
}
CASES = [
    pytest.param(method, kind, {}, id=f"{method}-{kind}")
    for method, kinds in SUPPORTED_INPUTS.items()
    for kind in kinds
] + [
    pytest.param(method, kind, variant, id=f"{method}-{kind}-{next(iter(variant))}-{i}")
    for method, variants in VARIANTS.items()
    if method in SUPPORTED_INPUTS
    for i, (kind, variant) in enumerate(variants)
]


def options_for(
    method: str, seed: int = 0, variant: dict[str, Any] | None = None
) -> dict[str, Any]:
    options = {**FAST_OPTIONS[method], **(variant or {})}
    if explainer_class(method).stochastic:
        options["seed"] = seed
    return options


def model_and_inputs(kind: str) -> tuple[nn.Module, torch.Tensor]:
    if kind == "image":
        return models.small_cnn(), models.images()
    if kind == "sequence":
        return models.small_sequence_model(), models.sequences()
    return models.small_mlp(), models.rows()


def snapshot(model: nn.Module) -> dict[str, Any]:
    """Everything about a model that explaining must leave unchanged."""
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "params": [p.detach().clone() for p in model.parameters()],
        "buffers": [b.detach().clone() for b in model.buffers()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "devices": [p.device for p in model.parameters()],
        "hooks": [
            {
                name: list(getattr(m, name))
                for name in (
                    "_forward_hooks",
                    "_forward_pre_hooks",
                    "_backward_hooks",
                    "_backward_pre_hooks",
                )
            }
            for m in model.modules()
        ],
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["devices"] == after["devices"]
    assert before["hooks"] == after["hooks"]
    for key in ("params", "buffers"):
        for a, b in zip(before[key], after[key], strict=True):
            assert torch.equal(a, b), key
    for a, b in zip(before["grads"], after["grads"], strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


def test_every_explainer_is_classified() -> None:
    builtin = {"gradcam", "integrated_gradients", "shap", "lime", "smoothgrad", "occlusion"}
    assert set(xai.available_explainers()) >= builtin
    assert set(xai.available_explainers()) == set(SUPPORTED_INPUTS)
    tested = {case.values[0] for case in CASES}
    assert tested == set(SUPPORTED_INPUTS), (
        f"no case reaches {sorted(set(SUPPORTED_INPUTS) - tested)}: its input kinds have no "
        f"model in this test ({', '.join(KINDS)})"
    )
    for method, options in FAST_OPTIONS.items():
        accepted = explainer_class(method).accepted_options()
        assert set(options) <= set(accepted), f"{method}: quick_options it does not accept"
        assert "seed" not in options, f"{method}: quick_options must leave the seed to the caller"


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_shape_dtype_device_and_finite(method: str, kind: str, variant: dict[str, Any]) -> None:
    model, x = model_and_inputs(kind)
    expl = xai.explain(model, x, method=method, **options_for(method, variant=variant))
    assert isinstance(expl, xai.Explanation)
    assert expl.method == method
    expected = (x.shape[0], 1, *x.shape[2:]) if method == "gradcam" else x.shape
    assert expl.attributions.shape == expected
    assert expl.attributions.dtype == x.dtype
    assert expl.attributions.device == x.device
    assert torch.isfinite(expl.attributions).all()
    assert expl.attributions.abs().sum() > 0, "all-zero attributions"
    assert expl.target.dtype == torch.long and expl.target.shape == (x.shape[0],)
    assert torch.equal(expl.target, model(x).argmax(1))
    assert expl.heatmap().shape == ((x.shape[0], *x.shape[2:]) if x.ndim > 2 else x.shape)
    # provenance
    assert expl.extras["model_evaluations"] >= x.shape[0]
    assert expl.extras["seconds"] > 0
    assert {"torch", "captum", "shap", "lime", "xai"} <= set(expl.extras["library_versions"])
    for name, value in options_for(method, variant=variant).items():
        if not isinstance(value, torch.Tensor):
            assert expl.params[name] == value


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_model_state_unchanged(method: str, kind: str, variant: dict[str, Any]) -> None:
    model, x = model_and_inputs(kind)
    model.train()
    next(model.parameters()).grad = torch.ones_like(next(model.parameters()))
    list(model.parameters())[-1].requires_grad_(False)
    handle = model.register_forward_hook(lambda *args: None)  # the user's own hook stays
    numpy_state = np.random.get_state()
    before = snapshot(model)
    xai.explain(model, x, method=method, **options_for(method, variant=variant))
    assert_same_state(before, snapshot(model))
    assert len(model._forward_hooks) == 1
    after_state = np.random.get_state()
    assert numpy_state[0] == after_state[0] and np.array_equal(numpy_state[1], after_state[1])
    handle.remove()


class FailsOnCall(nn.Module):
    """Raises on its ``fail_at``-th forward call (never when ``fail_at`` is 0)."""

    def __init__(self, body: nn.Module, fail_at: int = 0) -> None:
        super().__init__()
        self.body = body
        self.fail_at = fail_at
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return self.body(x)


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_state_restored_when_explainer_raises(
    method: str, kind: str, variant: dict[str, Any]
) -> None:
    """The model fails on the last call a successful explanation makes: in the middle of the
    attribution, after the library has set up its hooks."""
    body, x = model_and_inputs(kind)
    counter = FailsOnCall(body)
    xai.explain(counter, x, method=method, **options_for(method, variant=variant))
    assert counter.calls >= 2
    model = FailsOnCall(body, fail_at=counter.calls).train()
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        xai.explain(model, x, method=method, **options_for(method, variant=variant))
    assert_same_state(before, snapshot(model))


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_same_seed_same_attributions(method: str, kind: str, variant: dict[str, Any]) -> None:
    model, x = model_and_inputs(kind)
    first = xai.explain(model, x, method=method, **options_for(method, seed=7, variant=variant))
    second = xai.explain(model, x, method=method, **options_for(method, seed=7, variant=variant))
    assert torch.equal(first.attributions, second.attributions)


@pytest.mark.parametrize("method", [m for m in SUPPORTED_INPUTS if explainer_class(m).stochastic])
def test_seed_changes_stochastic_attributions(method: str) -> None:
    kinds = SUPPORTED_INPUTS[method]
    model, x = model_and_inputs("tabular" if "tabular" in kinds else kinds[0])
    first = xai.explain(model, x, method=method, **options_for(method, seed=1))
    second = xai.explain(model, x, method=method, **options_for(method, seed=2))
    assert not torch.equal(first.attributions, second.attributions)
    assert first.params["seed"] == 1 and second.params["seed"] == 2


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_batch_equals_one_sample_at_a_time(method: str, kind: str, variant: dict[str, Any]) -> None:
    """Holds for stochastic methods too: each sample is explained with the same seed."""
    model, x = model_and_inputs(kind)
    options = options_for(method, variant=variant)
    batch = xai.explain(model, x, method=method, **options)
    for i in range(x.shape[0]):
        single = xai.explain(
            model, x[i : i + 1], method=method, target=int(batch.target[i]), **options
        )
        torch.testing.assert_close(
            single.attributions[0], batch.attributions[i], rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_train_mode_model_is_explained_in_eval_mode(
    method: str, kind: str, variant: dict[str, Any]
) -> None:
    """Dropout and batch norm in train mode would make results random and batch-dependent."""
    if kind == "image":
        model, x = models.DropoutBatchNorm().train(), models.images(4)
    elif kind == "sequence":
        model = nn.Sequential(
            nn.Conv1d(2, 6, 3, padding=1),
            nn.BatchNorm1d(6),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(6, 3),
        )
        model.train()
        x = models.sequences()
    else:
        model = nn.Sequential(
            nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)
        )
        model.train()
        x = models.rows()
    first = xai.explain(model, x, method=method, **options_for(method, variant=variant))
    second = xai.explain(model, x, method=method, **options_for(method, variant=variant))
    assert torch.equal(first.attributions, second.attributions)
    assert model.training
    reference = xai.explain(model.eval(), x, method=method, **options_for(method, variant=variant))
    torch.testing.assert_close(first.attributions, reference.attributions)


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_works_inside_no_grad_and_inference_mode(
    method: str, kind: str, variant: dict[str, Any]
) -> None:
    model, x = model_and_inputs(kind)
    expected = xai.explain(
        model, x, method=method, **options_for(method, variant=variant)
    ).attributions
    with torch.no_grad():
        inside_no_grad = xai.explain(
            model, x, method=method, **options_for(method, variant=variant)
        ).attributions
    with torch.inference_mode():
        x_inference = x.clone()
        inside_inference = xai.explain(
            model, x_inference, method=method, **options_for(method, variant=variant)
        ).attributions
    torch.testing.assert_close(inside_no_grad, expected)
    torch.testing.assert_close(inside_inference, expected)


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_targets_int_sequence_and_tensor(method: str, kind: str, variant: dict[str, Any]) -> None:
    model, x = model_and_inputs(kind)
    n = x.shape[0]
    as_int = xai.explain(model, x, method=method, target=2, **options_for(method, variant=variant))
    assert as_int.target.tolist() == [2] * n
    per_sample = [i % 3 for i in range(n)]
    as_list = xai.explain(
        model, x, method=method, target=per_sample, **options_for(method, variant=variant)
    )
    as_tensor = xai.explain(
        model,
        x,
        method=method,
        target=torch.tensor(per_sample),
        **options_for(method, variant=variant),
    )
    assert as_list.target.tolist() == per_sample
    torch.testing.assert_close(as_list.attributions, as_tensor.attributions)


@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_get_explainer_reuses_configuration(
    method: str, kind: str, variant: dict[str, Any]
) -> None:
    model, x = model_and_inputs(kind)
    explainer = xai.get_explainer(method, model, **options_for(method, variant=variant))
    assert isinstance(explainer, xai.Explainer)
    first = explainer.explain(x)
    second = explainer.explain(x[:2])
    torch.testing.assert_close(first.attributions[:2], second.attributions, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize(("method", "kind", "variant"), CASES)
def test_cuda_model_with_cpu_inputs(method: str, kind: str, variant: dict[str, Any]) -> None:
    """Inputs, baselines and targets move to the model's device; results come back to the inputs'."""
    model, x = model_and_inputs(kind)
    cpu = xai.explain(model, x, method=method, **options_for(method, variant=variant))
    model = model.cuda()
    expl = xai.explain(
        model,
        x,
        method=method,
        target=torch.as_tensor(cpu.target),
        **options_for(method, variant=variant),
    )
    assert expl.attributions.device == x.device
    assert expl.extras["device"].startswith("cuda")
    assert next(model.parameters()).is_cuda
    torch.testing.assert_close(expl.attributions, cpu.attributions, rtol=1e-3, atol=1e-4)
