"""Cost of explaining models of realistic size: a ResNet-18 at 64x64 and a tiny ViT.

Both are Hugging Face ``transformers`` models built from configs (random weights, nothing
downloaded): ``ResNetForImageClassification`` with ResNet-18's configuration (basic blocks,
depths 2-2-2-2, widths 64-512; 11.2 M parameters) on 64x64 images, and
``ViTForImageClassification`` (4 blocks of width 64, 8x8 patches of 32x32 images). xai explains
them as they are (their ``ModelOutput`` is read without options); the peers get the model
wrapped to return its logits, as their users wrap it.

Per method, per sample, in one run and timed in alternation (see ``benchmarks.explainers``):
``xai``, the peer library called directly (captum IG / ``LayerGradCam``, shap
``GradientExplainer``, lime's image explainer; for Grad-CAM on the ViT, pytorch-grad-cam's
``GradCAM`` with its ``reshape_transform``, written out because pytorch-grad-cam needs
torchvision), and the floor (the model evaluations the method needs times the model's best
per-sample cost).

Run: ``python -m benchmarks realistic_models [--quick] [--out DIR]``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import xai
from benchmarks._rows import HEADER, print_row, timed_row, write_rows
from benchmarks.explainers import _evaluations, _model_costs, _peers

METHODS = ("gradcam", "integrated_gradients", "shap", "lime")


class Logits(nn.Module):
    """A Hugging Face classifier as ``images -> logits``, for the peer libraries."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).logits


def resnet18() -> tuple[nn.Module, torch.Tensor]:
    import transformers

    torch.manual_seed(0)
    config = transformers.ResNetConfig(  # type: ignore[call-arg]
        embedding_size=64,
        hidden_sizes=[64, 128, 256, 512],
        depths=[2, 2, 2, 2],
        layer_type="basic",
        num_labels=10,
    )
    return transformers.ResNetForImageClassification(config).eval(), torch.rand(16, 3, 64, 64)


def tiny_vit() -> tuple[nn.Module, torch.Tensor]:
    import transformers

    torch.manual_seed(0)
    config = transformers.ViTConfig(  # type: ignore[call-arg]
        image_size=32,
        patch_size=8,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        num_labels=10,
    )
    return transformers.ViTForImageClassification(config).eval(), torch.rand(16, 3, 32, 32)


def _vit_gradcam_recipe(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, grid: int
) -> Callable[[], Any]:
    """pytorch-grad-cam's ``GradCAM(model, [layer], reshape_transform)`` on predicted classes:
    hooks, one backward of the summed targets, numpy weights, min-max, resize."""

    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        return tensor[:, 1:].reshape(tensor.size(0), grid, grid, -1).permute(0, 3, 1, 2)

    def run() -> None:
        saved: dict[str, torch.Tensor] = {}

        def keep(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            saved["a"] = output
            output.register_hook(lambda grad: saved.__setitem__("g", grad))

        handle = layer.register_forward_hook(keep)
        try:
            logits = model(x)
            logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
        finally:
            handle.remove()
        model.zero_grad()
        activation = reshape(saved["a"].detach()).numpy()
        gradient = reshape(saved["g"]).numpy()
        cam = np.maximum((gradient.mean(axis=(2, 3))[:, :, None, None] * activation).sum(1), 0)
        cam = cam - cam.min(axis=(1, 2), keepdims=True)
        cam = cam / (1e-7 + cam.max(axis=(1, 2), keepdims=True))
        F.interpolate(torch.from_numpy(cam)[:, None], size=x.shape[2:], mode="bilinear")

    return run


def run(out: Path, quick: bool = False) -> dict[str, Any]:
    """Measure every method on both models, print the table, write ``out/realistic_models.json``."""
    budget = 2.0 if quick else 8.0
    n = 1 if quick else 2
    rows: list[dict[str, Any]] = []
    print(f"{'model':<12}" + HEADER)
    for name, build in (("resnet18_64", resnet18), ("tiny_vit", tiny_vit)):
        model, x_all = build()
        logits_model = Logits(model).eval()
        # batches beyond 64 rows of these models are no faster per row on a CPU, only longer
        costs, _ = _model_costs(logits_model, x_all, budget / 2, batch_sizes=(1, 16, 64))
        x, background = x_all[:n], x_all[-8:]
        for method in METHODS:
            options: dict[str, Any] = {"seed": 0} if method in ("shap", "lime") else {}
            if method == "lime":
                options["num_samples"] = 1000  # as the peer's call in benchmarks.explainers
            ours = xai.explain(model, x, method=method, **options)

            def ours_call(
                model: nn.Module = model,
                x: torch.Tensor = x,
                method: str = method,
                options: dict[str, Any] = options,
            ) -> Any:
                return xai.explain(model, x, method=method, **options)

            if method == "gradcam" and name == "tiny_vit":
                layer = model.get_submodule(ours.params["layer"])
                grid = ours.extras["layer_shape"][0]
                peer = _vit_gradcam_recipe(logits_model, layer, x, grid)
            else:  # the peers get the wrapped model (its Grad-CAM layer: the same module)
                peer = _peers(logits_model, method, x, ours.target, background, ours)
            evaluations, kind = _evaluations(method, ours, background.shape[0])
            _, model_call, model_batch = costs[kind]
            row = timed_row(
                ours_call,
                peer,
                model_call,
                n=n,
                evaluations=evaluations,
                model_batch=model_batch,
                budget=budget,
                quick=quick,
                model=name,
                method=method,
                evaluation=kind,
                layer=ours.params.get("layer"),
            )
            rows.append(row)
            print_row(row, 12)
    return write_rows(out, "realistic_models", rows, quick)
