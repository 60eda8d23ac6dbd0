"""Grad-CAM (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391).

The map is captum's ``LayerGradCam`` (the test suite checks equality), computed in one
forward/backward pass per chunk of samples: the target is read from the same forward pass, and
the automatically chosen layer is remembered per model and input shape, so explaining costs
one model evaluation with gradient per sample.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xai._batching import chunk_rows, chunks
from xai._layers import LayerCall, resolve_layer, spatial_layers, trace_layers
from xai._model import ModelFunction, input_gradient
from xai._validation import check_bool, check_choice
from xai.explainers.base import AUTO, Explainer, Parameter, Target

_MODES = ("bilinear", "bicubic", "nearest", "area")

# model -> {(input sample shape, dtype): name of the automatically chosen layer}
_AUTO_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], str]] = (
    weakref.WeakKeyDictionary()
)


def _layer_list(calls: list[LayerCall]) -> str:
    shown = [f"{c.name} -> {c.output_shape}" for c in calls if c.output_shape is not None]
    return "; ".join(shown[-12:]) or "none"


class GradCAM(Explainer):
    """Class activation map of a convolutional layer, weighted by the mean gradient of the target.

    Options:
        layer: the layer to explain: a module or its dotted name (``"features.3"``). ``None``
            finds the last layer with a spatial ``(N, C, h, w)`` output (h*w > 1) by a dry-run
            forward on one sample (once per model and input shape); modules called more than
            once in a forward are skipped.
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

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        """The layer: automatic, or one of the model's spatial layers (traced on one sample
        when both the model and image inputs are given)."""
        layers: tuple[str, ...] = ()
        if model is not None and inputs is not None and cls.accepts(inputs):
            layers = tuple(spatial_layers(model, inputs[:1]))
        return [
            Parameter(
                "layer",
                "layer",
                AUTO,
                choices=(AUTO, *layers),
                help="Convolutional layer whose activations are weighted (auto: the last one).",
            )
        ]

    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        mode = check_choice("interpolate_mode", params["interpolate_mode"], _MODES)
        relu = check_bool("relu_attributions", params["relu_attributions"])
        name, layer = self._pick_layer(function, inputs, params["layer"])
        params["layer"] = name
        size = inputs.shape[2:]
        maps, layer_shape = [], []
        for part in chunks(inputs.shape[0], chunk_rows(inputs.shape[1:], inputs.device)):
            activation, logits = self._forward(function, inputs[part], name, layer)
            indices = target.resolve(logits.detach(), part)
            score = logits.gather(1, indices[:, None]).sum()
            gradient = input_gradient(score, activation, self.name)
            # captum's LayerGradCam: channel weights = mean gradient over space
            weights = gradient.mean(dim=(2, 3), keepdim=True)
            layer_map = (weights * activation).sum(dim=1, keepdim=True).detach()
            if relu:
                layer_map = F.relu(layer_map)
            layer_shape = list(layer_map.shape[2:])
            maps.append(
                F.interpolate(
                    layer_map,
                    size=size,
                    mode=mode,
                    align_corners=False if mode in ("bilinear", "bicubic") else None,
                )
            )
        return torch.cat(maps), {"layer": name, "layer_shape": layer_shape}

    def _forward(
        self, function: ModelFunction, inputs: torch.Tensor, name: str, layer: nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass keeping the layer's output (the activation) in the graph."""
        captured: list[torch.Tensor] = []

        def keep(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            if not isinstance(output, torch.Tensor):
                return None
            if not output.requires_grad:  # e.g. frozen layers below: start the graph here
                output = output.detach().requires_grad_(True)
            captured.append(output)
            # Downstream gets a copy, so in-place ops after the layer (ReLU(inplace=True))
            # cannot overwrite the activation we differentiate against (as captum does).
            return output.clone()

        handle = layer.register_forward_hook(keep)
        try:
            logits = self._call_model(function, inputs)
        finally:
            handle.remove()
        if len(captured) != 1 or captured[0].ndim != 4 or captured[0].shape[2:].numel() < 2:
            raise self._layer_error(function, inputs, name, layer)
        return captured[0], logits

    def _layer_error(
        self, function: ModelFunction, inputs: torch.Tensor, name: str, layer: nn.Module
    ) -> ValueError:
        """Why ``layer`` cannot be used, with the layers that can (from a traced forward)."""
        with torch.no_grad():
            calls = trace_layers(self.model, lambda: function(inputs[:1]))
        call = next((c for c in calls if c.module is layer), None)
        spatial = ", ".join(c.name for c in calls if c.is_spatial and c.calls == 1) or "none"
        if call is None:
            return ValueError(f"layer: {name!r} is not called in the model's forward pass.")
        if call.calls > 1:
            return ValueError(
                f"layer: {name!r} is called {call.calls} times in one forward pass, so its "
                f"activations are ambiguous. Pick a module used once; candidates: {spatial}."
            )
        return ValueError(
            f"layer: {name!r} outputs {call.output_shape}, not a spatial (N, C, h, w) map. "
            f"Layers with spatial outputs: {spatial}."
        )

    def _pick_layer(
        self, function: ModelFunction, inputs: torch.Tensor, layer: Any
    ) -> tuple[str, nn.Module]:
        if layer is not None:
            name, module = resolve_layer(self.model, layer)
            return name, module
        key = (tuple(inputs.shape[1:]), inputs.dtype)  # the choice depends on nothing else
        cached = _AUTO_LAYERS.get(self.model, {}).get(key)
        if cached is not None:
            try:
                return cached, self.model.get_submodule(cached)
            except AttributeError:  # the model changed since: look again
                pass
        with torch.no_grad():
            calls = trace_layers(self.model, lambda: self._call_model(function, inputs[:1]))
        candidates = [c for c in calls if c.is_spatial and c.calls == 1]
        if not candidates:
            raise ValueError(
                "layer: Grad-CAM needs a layer with a spatial (N, C, h, w) output, and this "
                f"model has none (layer outputs seen: {_layer_list(calls)}). Pass layer= "
                "explicitly, or use method='integrated_gradients' for models without "
                "convolutional layers."
            )
        chosen = candidates[-1]
        _AUTO_LAYERS.setdefault(self.model, {})[key] = chosen.name
        return chosen.name, chosen.module
