"""Finding layers for layer methods (Grad-CAM): a dry-run trace of every submodule's output,
a layer named by dotted name or given as a module, and the layers with a spatial map."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


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
        close = difflib.get_close_matches(layer, list(named), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"layer: the model has no submodule named {layer!r}.{hint} "
            f"Submodules: {', '.join(list(named)[:30])}{' ...' if len(named) > 30 else ''}."
        )
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return name, module
        raise ValueError(
            f"layer: the given {type(layer).__name__} module is not a submodule of the model. "
            "Pass a module from model.named_modules() or its dotted name."
        )
    raise TypeError(
        f"layer: expected None, a dotted submodule name or an nn.Module, got {type(layer).__name__}."
    )
