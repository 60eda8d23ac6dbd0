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

import contextlib
import io
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import xai
from benchmarks.explainers import _alternating_medians, _evaluations, _model_costs, _peers
from xai._provenance import library_versions

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
    print(
        f"{'model':<12}{'method':<22}{'n':>3}{'evals':>7}{'xai ms':>10}{'peer ms':>10}"
        f"{'floor ms':>10}{'xai/floor':>11}{'peer/floor':>11}{'peer/xai':>10}"
    )
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
            with contextlib.redirect_stderr(io.StringIO()):  # lime_image's progress bars
                medians = _alternating_medians(
                    {"xai": ours_call, "peer": peer, "model": model_call},
                    budget,
                    min_rounds=2 if quick else 3,
                    max_rounds=3 if quick else 5,
                )
            xai_seconds, peer_seconds = medians["xai"] / n, medians["peer"] / n
            floor = evaluations * medians["model"] / model_batch
            row = {
                "model": name,
                "method": method,
                "n": n,
                "evaluations_per_sample": evaluations,
                "evaluation": kind,
                "layer": ours.params.get("layer"),
                "xai_ms": xai_seconds * 1e3,
                "peer_ms": peer_seconds * 1e3,
                "floor_ms": floor * 1e3,
                "xai_over_floor": xai_seconds / floor,
                "peer_over_floor": peer_seconds / floor,
                "peer_over_xai": peer_seconds / xai_seconds,
            }
            rows.append(row)
            print(
                f"{name:<12}{method:<22}{n:>3}{evaluations:>7.0f}{row['xai_ms']:>10.1f}"
                f"{row['peer_ms']:>10.1f}{row['floor_ms']:>10.1f}{row['xai_over_floor']:>11.2f}"
                f"{row['peer_over_floor']:>11.2f}{row['peer_over_xai']:>10.2f}",
                flush=True,
            )
    result = {
        "rows": rows,
        "machine": {
            "platform": platform.platform(),
            "cpu_threads": torch.get_num_threads(),
            "device": "cpu",
            "library_versions": library_versions(),
        },
        "quick": quick,
    }
    (out / "realistic_models.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'realistic_models.json'}")
    return result
