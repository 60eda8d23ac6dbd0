"""Registry, third-party registration through entry points, and the Explainer template."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

import xai
from tests.explainers import models
from xai.explainers import registry


class GradientTimesInput(xai.Explainer):
    """A tiny custom method, as a user would write one."""

    name = "gradient_x_input_test"
    defaults: ClassVar[dict[str, Any]] = {"scale": 1.0}

    def attribute(self, function, inputs, target, params):  # type: ignore[no-untyped-def]
        inputs = inputs.clone().requires_grad_(True)
        scores = function(inputs).gather(1, target.classes(function, inputs)[:, None]).sum()
        (gradient,) = torch.autograd.grad(scores, inputs)
        return gradient * inputs * params["scale"], {"note": "custom"}


@pytest.fixture
def clean_registry():
    saved = dict(registry._REGISTRY)
    loaded = registry._entry_points_loaded
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    registry._entry_points_loaded = loaded


def test_builtin_methods_are_listed() -> None:
    names = xai.available_explainers()
    assert names == sorted(names)
    assert {"gradcam", "integrated_gradients", "shap", "lime"} <= set(names)


def test_register_a_custom_method(clean_registry: None) -> None:
    xai.register_explainer(GradientTimesInput)
    assert "gradient_x_input_test" in xai.available_explainers()
    model, x = models.small_mlp(), models.rows()
    expl = xai.explain(model, x, method="gradient_x_input_test", scale=2.0)
    assert expl.method == "gradient_x_input_test"
    assert expl.params["scale"] == 2.0 and expl.extras["note"] == "custom"
    reference = xai.explain(model, x, method="gradient_x_input_test")
    torch.testing.assert_close(expl.attributions, 2 * reference.attributions)


def test_register_rejects_duplicates_and_non_explainers(clean_registry: None) -> None:
    xai.register_explainer(GradientTimesInput)

    class Other(GradientTimesInput):
        pass

    with pytest.raises(ValueError, match="already registered"):
        xai.register_explainer(Other)
    xai.register_explainer(Other, overwrite=True)
    with pytest.raises(TypeError, match=r"subclass of xai\.Explainer"):
        xai.register_explainer(object)  # type: ignore[arg-type]


def _install_fake_distribution(
    root: Path, name: str, entry_points: str, module_source: str
) -> None:
    """A minimal installed distribution on sys.path: a module and its dist-info metadata."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    dist_info = root / f"{name}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_third_party_method_through_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry: None
) -> None:
    _install_fake_distribution(
        tmp_path,
        "xai_plugin_demo",
        """
        [xai.explainers]
        saliency_demo = xai_plugin_demo:Saliency
        broken_demo = xai_plugin_demo:DoesNotExist
        """,
        """
        import torch
        import xai

        class Saliency(xai.Explainer):
            name = "saliency_demo"

            def attribute(self, function, inputs, target, params):
                inputs = inputs.clone().requires_grad_(True)
                score = function(inputs).gather(1, target.classes(function, inputs)[:, None]).sum()
                return torch.autograd.grad(score, inputs)[0].abs(), {}
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="broken_demo"):
        registry.reload_entry_points()
    assert "saliency_demo" in xai.available_explainers()
    assert "broken_demo" not in xai.available_explainers()
    expl = xai.explain(models.small_mlp(), models.rows(), method="saliency_demo")
    assert expl.attributions.shape == models.rows().shape
    assert (expl.attributions >= 0).all()
    sys.modules.pop("xai_plugin_demo", None)


class LeaksHooksThenFails(xai.Explainer):
    """Registers hooks and flips modes, then raises: the template must undo all of it."""

    name = "leaky_test"

    def attribute(self, function, inputs, target, params) -> Any:  # type: ignore[no-untyped-def]
        for module in self.model.modules():
            module.register_forward_hook(lambda *args: None)
            module.register_full_backward_hook(lambda *args: None)
            module.register_forward_pre_hook(lambda *args: None)
        self.model.train()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
            parameter.grad = torch.zeros_like(parameter)
        raise RuntimeError("failed halfway")


def test_template_restores_model_when_method_raises() -> None:
    model = models.small_cnn().eval()
    with pytest.raises(RuntimeError, match="failed halfway"):
        LeaksHooksThenFails(model).explain(models.images())
    for module in model.modules():
        assert not module._forward_hooks and not module._backward_hooks
        assert not module._forward_pre_hooks
        assert not module.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    # and the model still runs a normal backward (no stale full-backward-hook state)
    model(models.images()).sum().backward()


def test_model_must_be_a_module() -> None:
    with pytest.raises(TypeError, match=r"model: expected a torch.nn.Module, got function"):
        xai.explain(lambda x: x, models.rows())


def test_explainer_repr_names_options() -> None:
    explainer = xai.get_explainer("integrated_gradients", nn.Linear(3, 2), n_steps=8)
    assert "n_steps=8" in repr(explainer)
