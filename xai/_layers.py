"""Finding layers for layer methods (Grad-CAM): a dry-run trace of every submodule's output,
a layer named by dotted name or given as a module, and the layers whose output is a map.

A layer's output is a map in three layouts (:class:`Grid`): a CNN's ``(N, C, h, w)``; the
channels-last ``(N, h, w, C)`` of a ``LayerNorm`` or ``Linear`` applied to a map (Swin,
ConvNeXt blocks); and a vision transformer's tokens ``(N, T, D)``, where the last ``h * w``
tokens are the patches in row-major order after at most two leading class/distillation tokens
(ViT, DeiT), with ``h / w`` the input's aspect ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


#: Class and distillation tokens a transformer may put before its patch tokens.
MAX_LEADING_TOKENS = 2


@dataclass(frozen=True)
class Grid:
    """How a layer's output is read as a map ``(N, C, h, w)``.

    Attributes:
        layout: ``"channels_first"`` ``(N, C, h, w)``, ``"channels_last"`` ``(N, h, w, C)`` or
            ``"tokens"`` ``(N, T, D)``.
        leading: tokens before the patch grid (dropped), for ``"tokens"``.
        height, width: the grid's size.
    """

    layout: str
    height: int
    width: int
    leading: int = 0

    def apply(self, output: torch.Tensor) -> torch.Tensor:
        """The output (or its gradient) as ``(N, C, h, w)``."""
        if self.layout == "channels_first":
            return output
        if self.layout == "channels_last":
            return output.permute(0, 3, 1, 2)
        patches = output[:, self.leading :]
        return patches.reshape(output.shape[0], self.height, self.width, -1).permute(0, 3, 1, 2)

    def describe(self) -> str:
        if self.layout == "tokens":
            dropped = f" after {self.leading} leading token(s)" if self.leading else ""
            return f"tokens as a {self.height}x{self.width} grid{dropped}"
        return f"{self.layout.replace('_', '-')} {self.height}x{self.width} map"


def _acts_on_last_dim(module: nn.Module, shape: Sequence[int]) -> bool:
    """Whether ``module`` maps the last dimension (so a 4-D output is channels-last)."""
    if isinstance(module, nn.Linear):
        return True
    if isinstance(module, nn.LayerNorm):
        # Hugging Face's ConvNeXt LayerNorm normalises channels first when told so
        return getattr(module, "data_format", "channels_last") != "channels_first" and tuple(
            module.normalized_shape
        ) == (shape[-1],)
    return False


def token_grid(tokens: int, image_size: Sequence[int]) -> tuple[int, int, int] | None:
    """``(leading, h, w)`` when ``tokens`` are at most two leading tokens followed by an
    ``h x w`` grid (both at least 2) of the image's aspect ratio; the fewest leading tokens win."""
    image_h, image_w = int(image_size[0]), int(image_size[1])
    for leading in range(MAX_LEADING_TOKENS + 1):
        patches = tokens - leading
        if patches < 4:
            return None
        # h / w = H / W with h * w = patches  =>  h = sqrt(patches * H / W)
        height = round(math.sqrt(patches * image_h / image_w))
        if height >= 2 and patches % height == 0:
            width = patches // height
            if width >= 2 and height * image_w == width * image_h:
                return leading, height, width
    return None


def layer_grid(
    module: nn.Module, shape: Sequence[int] | None, image_size: Sequence[int]
) -> Grid | None:
    """How ``module``'s output of ``shape`` is a map for an image of ``image_size`` ``(H, W)``,
    or ``None`` when it is not one (a vector, a single position, tokens without a grid)."""
    if shape is None:
        return None
    if len(shape) == 4:
        if _acts_on_last_dim(module, shape):
            height, width = shape[1], shape[2]
            layout = "channels_last"
        else:
            height, width = shape[2], shape[3]
            layout = "channels_first"
        return Grid(layout, height, width) if height * width > 1 else None
    if len(shape) == 3 and not isinstance(module, nn.modules.conv._ConvNd):
        found = token_grid(shape[1], image_size)
        if found is not None:
            leading, height, width = found
            return Grid("tokens", height, width, leading)
    return None


def is_normalization(module: nn.Module) -> bool:
    """LayerNorm, RMSNorm, GroupNorm and libraries' own norms (named ``...Norm``)."""
    return isinstance(module, nn.LayerNorm | nn.GroupNorm | nn.RMSNorm) or type(
        module
    ).__name__.lower().endswith("norm")


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


def resolve_layer(
    model: nn.Module, layer: str | nn.Module, argument: str = "layer"
) -> tuple[str, nn.Module]:
    """Return ``(dotted_name, module)`` for a layer given by dotted name or as a module (the
    option named ``argument`` in errors)."""
    named = {name: module for name, module in model.named_modules() if name}
    if isinstance(layer, str):
        if layer in named:
            return layer, named[layer]
        raise unknown_name_error(
            argument,
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
            argument,
            f"the given {type(layer).__name__} module is not a submodule of the model. "
            "Pass a module from model.named_modules() or its dotted name.",
        )
    raise InputTypeError(
        argument,
        f"expected None, a dotted submodule name or an nn.Module, got {type(layer).__name__}.",
    )


def spatial_layers(model: nn.Module, sample: torch.Tensor) -> list[str]:
    """Names of the layers Grad-CAM can explain: those whose output is a map (a spatial
    ``(N, C, h, w)`` or channels-last output, or transformer tokens on a grid: :class:`Grid`),
    called once per forward pass, in forward order (``sample``: one image ``(1, C, H, W)``).
    Containers are left out: their output is that of their last layer, already listed. The
    model is left as found; a TorchScript model, which takes no hooks, has none listed."""
    model = getattr(model, "_orig_mod", model)  # torch.compile: hooks need the eager module
    if isinstance(model, torch.jit.ScriptModule) or sample.ndim != 4:
        return []
    function = ModelFunction(model)
    with preserved_state(model), torch.no_grad():
        calls = trace_layers(model, lambda: function(sample))
    return [
        call.name
        for call in calls
        if call.calls == 1
        and next(call.module.children(), None) is None
        and layer_grid(call.module, call.output_shape, sample.shape[2:]) is not None
    ]
