"""Finding layers for layer methods (Grad-CAM): a dry-run trace of every submodule's output,
a layer named by dotted name or given as a module, and the layers with a spatial map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xai._model import ModelFunction
from xai._state import preserved_state
from xai.errors import InputError, InputTypeError, unknown_name_error


@dataclass(frozen=True)
class LayerCall:
    """One submodule seen during a dry-run forward pass."""

    name: str
    module: nn.Module
    output_shape: tuple[int, ...] | None  # None when the output is not a single tensor
    calls: int

    @property
    def is_spatial(self) -> bool:
        """True for an ``(N, C, h, w)`` output with more than one spatial position."""
        shape = self.output_shape
        return shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1


def trace_layers(model: nn.Module, run: Callable[[], Any]) -> list[LayerCall]:
    """Run ``run()`` once with hooks on every submodule; report each one's output in call order.

    Order is the order in which the modules *finished* their forward, so the last spatial layer
    is the last entry with ``is_spatial``. Hooks are removed in ``finally``.
    """
    names = {module: name for name, module in model.named_modules() if name}
    order: list[nn.Module] = []
    shapes: dict[nn.Module, tuple[int, ...] | None] = {}
    calls: dict[nn.Module, int] = {}

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        calls[module] = calls.get(module, 0) + 1
        shapes[module] = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        if module in order:
            order.remove(module)
        order.append(module)

    handles = [module.register_forward_hook(record) for module in names]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return [LayerCall(names[m], m, shapes[m], calls[m]) for m in order]


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Return ``(dotted_name, module)`` for a layer given by dotted name or as a module."""
    named = {name: module for name, module in model.named_modules() if name}
    if isinstance(layer, str):
        if layer in named:
            return layer, named[layer]
        raise unknown_name_error(
            "layer",
            "submodule",
            layer,
            named,
            problem=f"the model has no submodule named {layer!r}",
            listing="Submodules",
            limit=30,
            suggestions=3,
        )
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return name, module
        raise InputError(
            "layer",
            f"the given {type(layer).__name__} module is not a submodule of the model. "
            "Pass a module from model.named_modules() or its dotted name.",
        )
    raise InputTypeError(
        "layer",
        f"expected None, a dotted submodule name or an nn.Module, got {type(layer).__name__}.",
    )


def spatial_layers(model: nn.Module, sample: torch.Tensor) -> list[str]:
    """Names of the layers Grad-CAM can explain: those with a spatial ``(N, C, h, w)`` output,
    called once per forward pass, in forward order (``sample``: one input ``(1, ...)``).
    Containers are left out: their output is that of their last layer, already listed. The
    model is left as found."""
    function = ModelFunction(model)
    with preserved_state(model), torch.no_grad():
        calls = trace_layers(model, lambda: function(sample))
    return [
        call.name
        for call in calls
        if call.is_spatial and call.calls == 1 and next(call.module.children(), None) is None
    ]
