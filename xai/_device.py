"""The one place that decides devices and moves data between them.

Everything else in the library asks this module: which device a model lives on,
which device ``device="auto"`` means, and how to move (nested) data there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve a device request: ``"auto"``/``None`` means CUDA when present, then MPS, else CPU."""
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}."
        ) from error
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ValueError(
                f"device: {str(device)!r} asked for a CUDA GPU, but none is available (torch "
                f"{torch.__version__}, {build}). Use device='cpu', or 'auto' to take a GPU "
                "when there is one."
            )
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"device: {str(device)!r} asked for GPU {resolved.index}, but there are only "
                f"{count} (cuda:0..cuda:{count - 1})."
            )
    return resolved


def move_to(data: T, device: torch.device, non_blocking: bool = False) -> T:
    """Move tensors, and tensors nested in lists, tuples and dicts, to ``device``."""
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)  # type: ignore[return-value]
    if isinstance(data, Mapping):
        return type(data)({k: move_to(v, device, non_blocking) for k, v in data.items()})  # type: ignore[call-arg]
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(move_to(v, device, non_blocking) for v in data))
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return type(data)(move_to(v, device, non_blocking) for v in data)  # type: ignore[call-arg]
    return data


def describe_device(device: torch.device) -> str:
    """Human-readable device name for provenance records, e.g. ``"cuda:0 (NVIDIA H100)"``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
