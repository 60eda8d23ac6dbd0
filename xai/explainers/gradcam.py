"""Grad-CAM (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391), by captum's LayerGradCam."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from xai._batching import chunk_rows, chunks
from xai._model import LayerCall, ModelFunction, resolve_layer, trace_layers
from xai._validation import check_choice
from xai.explainers.base import Explainer

_MODES = ("bilinear", "bicubic", "nearest", "area")


def _layer_list(calls: list[LayerCall]) -> str:
    shown = [f"{c.name} -> {c.output_shape}" for c in calls if c.output_shape is not None]
    return "; ".join(shown[-12:]) or "none"


class GradCAM(Explainer):
    """Class activation map of a convolutional layer, weighted by the mean gradient of the target.

    Options:
        layer: the layer to explain: a module or its dotted name (``"features.3"``). ``None``
            finds the last layer with a spatial ``(N, C, h, w)`` output (h*w > 1) by a dry-run
            forward on one sample; modules called more than once in a forward are skipped.
        relu_attributions: apply ReLU to the map (the paper's Grad-CAM; default True).
        interpolate_mode: how the ``(h, w)`` map is upsampled to the input's ``(H, W)``
            (default ``"bilinear"``).

    Attributions have shape ``(N, 1, H, W)``; ``extras["layer"]`` names the layer used and
    ``extras["layer_shape"]`` its ``(h, w)``.
    """

    name = "gradcam"
    defaults = {"layer": None, "relu_attributions": True, "interpolate_mode": "bilinear"}
    input_ndims = (4,)
    reference = "https://arxiv.org/abs/1610.02391"

    def _attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: torch.Tensor,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        mode = check_choice("interpolate_mode", params["interpolate_mode"], _MODES)
        with torch.no_grad():
            calls = trace_layers(self.model, lambda: function(inputs[:1]))
        name, layer = self._pick_layer(params["layer"], calls)
        params["layer"] = name
        call = next(c for c in calls if c.module is layer)

        gradcam = LayerGradCam(function, layer)
        size = inputs.shape[2:]
        rows = chunk_rows(inputs.shape[1:], inputs.device)
        maps = []
        for part in chunks(inputs.shape[0], rows):
            layer_map = gradcam.attribute(
                inputs[part],
                target=target[part],
                relu_attributions=bool(params["relu_attributions"]),
            )
            maps.append(
                F.interpolate(
                    layer_map,
                    size=size,
                    mode=mode,
                    align_corners=False if mode in ("bilinear", "bicubic") else None,
                )
            )
        layer_shape = list(call.output_shape[2:]) if call.output_shape else []
        return torch.cat(maps), {"layer": name, "layer_shape": layer_shape}

    def _pick_layer(self, layer: Any, calls: list[LayerCall]) -> tuple[str, torch.nn.Module]:
        if layer is None:
            candidates = [c for c in calls if c.is_spatial and c.calls == 1]
            if not candidates:
                raise ValueError(
                    "layer: Grad-CAM needs a layer with a spatial (N, C, h, w) output, and this "
                    f"model has none (layer outputs seen: {_layer_list(calls)}). Pass layer= "
                    "explicitly, or use method='integrated_gradients' for models without "
                    "convolutional layers."
                )
            return candidates[-1].name, candidates[-1].module
        name, module = resolve_layer(self.model, layer)
        call = next((c for c in calls if c.module is module), None)
        spatial = [c.name for c in calls if c.is_spatial and c.calls == 1]
        if call is None:
            raise ValueError(f"layer: {name!r} is not called in the model's forward pass.")
        if call.calls > 1:
            raise ValueError(
                f"layer: {name!r} is called {call.calls} times in one forward pass, so its "
                "activations are ambiguous. Pick a module used once; candidates: "
                f"{', '.join(spatial) or 'none'}."
            )
        if not call.is_spatial:
            raise ValueError(
                f"layer: {name!r} outputs {call.output_shape}, not a spatial (N, C, h, w) map. "
                f"Layers with spatial outputs: {', '.join(spatial) or 'none'}."
            )
        return name, module
