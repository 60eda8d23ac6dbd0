"""Grad-CAM (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391).

The map is captum's ``LayerGradCam`` on CNN layers (the test suite checks equality), and
pytorch-grad-cam's ``GradCAM`` with a ``reshape_transform`` on transformer tokens. It is
computed in one forward/backward pass per chunk of samples: the target is read from the same
forward pass, and the automatically chosen layer is remembered per model structure and input
shape, so explaining costs one model evaluation with gradient per sample.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xai._batching import chunk_rows, chunks
from xai._layers import (
    Grid,
    LayerCall,
    is_normalization,
    layer_grid,
    resolve_layer,
    spatial_layers,
    trace_layers,
)
from xai._model import FIRST_SAMPLE, ModelFunction, input_gradient
from xai._validation import check_bool, check_choice
from xai.errors import InputError, InputTypeError
from xai.explainers.base import AUTO, Explainer, Parameter, Target, token_ids_refused

_MODES = ("bilinear", "bicubic", "nearest", "area")

Reshape = Callable[[torch.Tensor], torch.Tensor]

# model -> {(input sample shape, dtype, module structure): the automatically chosen layer}
_AUTO_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], str]] = (
    weakref.WeakKeyDictionary()
)


def _layer_list(calls: list[LayerCall]) -> str:
    shown = [f"{c.name} -> {c.output_shape}" for c in calls if c.output_shape is not None]
    return "; ".join(shown[-12:]) or "none"


def _structure(model: nn.Module) -> tuple[int, ...]:
    """The identity of every submodule: changes when a submodule is added, removed or replaced,
    so a layer chosen for the old structure is looked for again."""
    return tuple(map(id, model.modules()))


class GradCAM(Explainer):
    """Class activation map of a layer, weighted by the mean gradient of the target.

    Options:
        layer: the layer to explain: a module or its dotted name (``"features.3"``). ``None``
            finds it by a dry-run forward on one sample (once per model structure and input
            shape), skipping modules called more than once in a forward: for a CNN, the last
            layer with a spatial ``(N, C, h, w)`` output (h*w > 1); for a vision transformer
            (its last maps are tokens), the last normalisation layer whose patch tokens reach
            the output: the last block's ``layernorm_before`` in ViT and DeiT, whose class
            token reads the patches in that block's attention (the block's own output reaches
            a class-token head only through its class token, so its map would be zero), and
            the final norm in Swin, whose head pools every token. Never the patch stem.
        reshape: how the layer's output becomes a map ``(N, C, h, w)``, as pytorch-grad-cam's
            ``reshape_transform``: a callable applied to the layer's output and to its
            gradient. ``None`` reads ``(N, C, h, w)`` outputs as they are, channels-last
            ``(N, h, w, C)`` outputs of LayerNorm/Linear layers (Swin, ConvNeXt) permuted, and
            transformer tokens ``(N, T, D)`` as the last ``h * w`` tokens on the input's aspect
            ratio after at most two leading class/distillation tokens, dropped.
        relu_attributions: apply ReLU to the map (the paper's Grad-CAM; default True).
        interpolate_mode: how the ``(h, w)`` map is upsampled to the input's ``(H, W)``
            (default ``"bilinear"``).

    Attributions have shape ``(N, 1, H, W)``; ``extras["layer"]`` names the layer used,
    ``extras["layer_shape"]`` its map's ``(h, w)`` and ``extras["layer_layout"]`` how its
    output was read.
    """

    name = "gradcam"
    defaults = {
        "layer": None,
        "reshape": None,
        "relu_attributions": True,
        "interpolate_mode": "bilinear",
    }
    input_ndims = (4,)
    token_path = "layer"
    uses_hooks = True
    reference = "https://arxiv.org/abs/1610.02391"

    @classmethod
    def accepts(cls, inputs: torch.Tensor, model: nn.Module | None = None) -> bool:
        """Images; token ids only for a ``model`` with a 1-D convolution (the layer read)."""
        if not inputs.is_floating_point() and inputs.ndim == 2:
            return model is not None and any(isinstance(m, nn.Conv1d) for m in model.modules())
        return super().accepts(inputs, model)

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        """The layer: automatic, or one of the model's layers with a map (traced on one sample
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
                help="Layer whose activations are weighted (auto: the last one with a map).",
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
        reshape = params["reshape"]
        if reshape is not None and not callable(reshape):
            raise InputTypeError(
                "reshape",
                f"expected None or a callable (N, ...) -> (N, C, h, w), got "
                f"{type(reshape).__name__}.",
            )
        token_ids = not inputs.is_floating_point()
        if token_ids:  # a 1-D Grad-CAM at a 1-D convolution (N, C, L'), upsampled linearly
            name, layer = self._convolution(function, inputs, params)
            mode = "linear" if mode == "bilinear" else mode
            size = inputs.shape[1:]
        else:
            name, layer = self._pick_layer(function, inputs, params["layer"])
            size = inputs.shape[2:]
        params["layer"] = name
        maps, layer_shape = [], []
        layout = "1-D convolution (N, C, L)" if token_ids else ""
        for part in chunks(inputs.shape[0], chunk_rows(inputs.shape[1:], inputs.device)):
            output, logits = self._forward(function, inputs, part, name, layer)
            indices = target.resolve(logits.detach(), part)
            score = logits.gather(1, indices[:, None]).sum()
            gradient = input_gradient(score, output, self.name)
            activation = output
            if not token_ids:
                as_map, layout = self._as_map(function, inputs, name, layer, output, reshape)
                activation, gradient = as_map(output), as_map(gradient)
            # captum's LayerGradCam: channel weights = mean gradient over space
            weights = gradient.mean(dim=tuple(range(2, gradient.ndim)), keepdim=True)
            layer_map = (weights * activation).sum(dim=1, keepdim=True).detach()
            if relu:
                layer_map = F.relu(layer_map)
            layer_shape = list(layer_map.shape[2:])
            maps.append(
                F.interpolate(
                    layer_map,
                    size=size,
                    mode=mode,
                    align_corners=False if mode in ("linear", "bilinear", "bicubic") else None,
                )
            )
        extras = {"layer": name, "layer_shape": layer_shape, "layer_layout": layout}
        attributions = torch.cat(maps)
        return (attributions[:, 0] if token_ids else attributions), extras

    def _convolution(
        self, function: ModelFunction, ids: torch.Tensor, params: dict[str, Any]
    ) -> tuple[str, nn.Module]:
        """The 1-D convolution Grad-CAM reads for token ids: ``layer``, else the last one
        called once in a forward pass; the options that do not apply to ids are refused."""
        if params["reshape"] is not None:
            raise InputError(
                "reshape",
                "not used for token ids: Grad-CAM reads a 1-D convolution's (N, C, L) output.",
            )
        if params["interpolate_mode"] == "bicubic":
            raise InputError(
                "interpolate_mode",
                "'bicubic' upsamples 2-D maps; for token ids use 'bilinear' (linear in 1-D), "
                "'nearest' or 'area'.",
            )
        layer = params["layer"]
        if layer is not None:
            name, module = resolve_layer(function.model, layer)
            if not isinstance(module, nn.Conv1d):
                raise InputError(
                    "layer",
                    f"{name!r} is a {type(module).__name__}; for token ids Grad-CAM reads a "
                    "1-D convolution (nn.Conv1d, output (N, C, L)). Pass one, or use a method "
                    "that explains token ids at the embedding, e.g. "
                    "method='integrated_gradients'.",
                )
            return name, module
        with torch.no_grad():
            calls = trace_layers(
                function.model, lambda: self._call_model(function, ids[:1], FIRST_SAMPLE)
            )
        convolutions = [
            c
            for c in calls
            if isinstance(c.module, nn.Conv1d)
            and c.calls == 1
            and c.output_shape is not None
            and len(c.output_shape) == 3
        ]
        if not convolutions:
            raise token_ids_refused(
                ids,
                "which Grad-CAM explains only at a 1-D convolution (N, C, L), and this model "
                "has none",
            )
        return convolutions[-1].name, convolutions[-1].module

    def _as_map(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        name: str,
        layer: nn.Module,
        output: torch.Tensor,
        reshape: Reshape | None,
    ) -> tuple[Reshape, str]:
        """The function making the layer's output (and its gradient) ``(N, C, h, w)``, and a
        description of it."""
        if reshape is not None:

            def reshaped(tensor: torch.Tensor) -> torch.Tensor:
                result = reshape(tensor)
                if (
                    not isinstance(result, torch.Tensor)
                    or result.ndim != 4
                    or result.shape[0] != tensor.shape[0]
                ):
                    got = (
                        f"shape {tuple(result.shape)}"
                        if isinstance(result, torch.Tensor)
                        else type(result).__name__
                    )
                    raise InputError(
                        "reshape",
                        f"expected it to turn the layer's output {tuple(tensor.shape)} into a "
                        f"map ({tensor.shape[0]}, C, h, w), got {got}.",
                    )
                return result

            return reshaped, "reshape"
        grid = layer_grid(layer, tuple(output.shape), inputs.shape[2:])
        if grid is None:
            raise self._layer_error(function, inputs, name, layer)
        return grid.apply, grid.describe()

    def _forward(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        part: slice,
        name: str,
        layer: nn.Module,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass of the samples ``part``, keeping the layer's output (the
        activation) in the graph."""
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
            rows = torch.arange(part.start, part.stop)
            logits = self._call_model(function, inputs[part], rows)
        finally:
            handle.remove()
        if len(captured) != 1 or captured[0].ndim < 3:
            raise self._layer_error(function, inputs, name, layer)
        return captured[0], logits

    def _layer_error(
        self, function: ModelFunction, inputs: torch.Tensor, name: str, layer: nn.Module
    ) -> ValueError:
        """Why ``layer`` cannot be used, with the layers that can (from a traced forward)."""
        model = function.model
        with torch.no_grad():
            calls = trace_layers(model, lambda: function(inputs[:1], rows=FIRST_SAMPLE))
        call = next((c for c in calls if c.module is layer), None)
        size = inputs.shape[2:]
        usable = ", ".join(
            c.name
            for c in calls
            if c.calls == 1 and layer_grid(c.module, c.output_shape, size) is not None
        )
        if call is None:
            return ValueError(f"layer: {name!r} is not called in the model's forward pass.")
        if call.calls > 1:
            return ValueError(
                f"layer: {name!r} is called {call.calls} times in one forward pass, so its "
                f"activations are ambiguous. Pick a module used once; candidates: "
                f"{usable or 'none'}."
            )
        if call.output_shape is not None and len(call.output_shape) == 3:
            return ValueError(
                f"layer: {name!r} outputs {call.output_shape}, tokens that are not an h x w "
                f"grid of the input's {tuple(size)} aspect after at most two leading tokens. "
                "Pass reshape=callable turning (N, T, D) into (N, D, h, w), as "
                "pytorch-grad-cam's reshape_transform, e.g. reshape=lambda t: "
                "t[:, 1:].reshape(t.shape[0], h, w, -1).permute(0, 3, 1, 2). Layers with "
                f"maps: {usable or 'none'}."
            )
        return ValueError(
            f"layer: {name!r} outputs {call.output_shape}, not a map (N, C, h, w) or tokens "
            f"on a grid. Layers with maps: {usable or 'none'}."
        )

    def _pick_layer(
        self, function: ModelFunction, inputs: torch.Tensor, layer: Any
    ) -> tuple[str, nn.Module]:
        model = function.model
        if layer is not None:
            name, module = resolve_layer(model, layer)
            return name, module
        # the choice depends on nothing else
        key = (tuple(inputs.shape[1:]), inputs.dtype, _structure(model))
        cached = _AUTO_LAYERS.get(model, {}).get(key)
        if cached is not None:
            return cached, model.get_submodule(cached)
        sample = inputs[:1]
        with torch.no_grad():
            calls = trace_layers(model, lambda: self._call_model(function, sample, FIRST_SAMPLE))
        size = inputs.shape[2:]
        candidates = [
            (c, grid)
            for c in calls
            if c.calls == 1 and (grid := layer_grid(c.module, c.output_shape, size)) is not None
        ]
        if not candidates:
            raise ValueError(
                "layer: Grad-CAM needs a layer whose output is a map (N, C, h, w) or "
                f"transformer tokens on a grid, and this model has none (layer outputs seen: "
                f"{_layer_list(calls)}). Pass layer= (and reshape= for other layouts) "
                "explicitly, or use method='integrated_gradients' for models without such "
                "layers."
            )
        last_cnn = max(
            (i for i, (_, grid) in enumerate(candidates) if grid.layout == "channels_first"),
            default=-1,
        )
        if last_cnn == len(candidates) - 1:
            chosen = candidates[-1][0]  # a CNN's last spatial layer
        else:
            chosen = self._transformer_layer(function, sample, candidates[last_cnn + 1 :])
        _AUTO_LAYERS[model] = {key: chosen.name}  # entries of an older structure go
        return chosen.name, chosen.module

    def _transformer_layer(
        self,
        function: ModelFunction,
        sample: torch.Tensor,
        candidates: list[tuple[LayerCall, Grid]],
    ) -> LayerCall:
        """The last normalisation layer (else the last layer) among ``candidates`` whose map
        carries gradient from the predicted class: one forward/backward pass on one sample."""
        outputs: dict[nn.Module, torch.Tensor] = {}

        def keep(module: nn.Module, _inputs: Any, output: Any) -> Any:
            if isinstance(output, torch.Tensor) and output.requires_grad:
                outputs[module] = output
                return output.clone()  # in-place ops downstream keep the output intact
            return None

        handles = [call.module.register_forward_hook(keep) for call, _ in candidates]
        try:
            logits = self._call_model(function, sample, FIRST_SAMPLE)
        finally:
            for handle in handles:
                handle.remove()
        kept = [(call, grid) for call, grid in candidates if call.module in outputs]
        gradients = (
            torch.autograd.grad(
                logits.max(dim=1).values.sum(),
                [outputs[call.module] for call, _ in kept],
                allow_unused=True,
            )
            if kept and logits.requires_grad
            else []
        )
        reaching = [
            call
            for (call, grid), gradient in zip(kept, gradients, strict=True)
            if gradient is not None and bool(grid.apply(gradient).abs().amax() > 0)
        ]
        if not reaching:
            raise ValueError(
                "layer: none of the model's token or channels-last layers "
                f"({', '.join(call.name for call, _ in candidates[-6:])}) passes gradient from "
                "the output back to its patch positions, so every Grad-CAM map there would be "
                "zero. Pass layer= (and reshape=) explicitly, or use "
                "method='integrated_gradients'."
            )
        norms = [call for call in reaching if is_normalization(call.module)]
        return (norms or reaching)[-1]
