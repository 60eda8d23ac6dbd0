"""Checks and views shared by the quality-metric functions: attributions against inputs,
targets against the model's outputs, one relevance value per position."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import torch

from xai._validation import all_finite, as_input_batch, check_target_range, normalize_target
from xai.errors import InputError, InputTypeError

__all__ = [
    "check_attributions",
    "check_inputs",
    "check_positive_number",
    "check_target",
    "check_target_range",
    "relevance_maps",
    "target_column",
]


#: Tensors a caller validated with the checks below, by id (the tensors are held, so an id is
#: not reused while the context lasts). Context-local: threads and tasks each have their own.
_CHECKED: ContextVar[dict[int, torch.Tensor] | None] = ContextVar("xai_checked", default=None)


@contextlib.contextmanager
def already_checked(*tensors: torch.Tensor) -> Iterator[None]:
    """Inside the block, these tensors, returned by the checks below, pass them again without
    being checked (``evaluate_explanation`` validates once for all its metrics)."""
    token = _CHECKED.set({**(_CHECKED.get() or {}), **{id(t): t for t in tensors}})
    try:
        yield
    finally:
        _CHECKED.reset(token)


def _is_checked(value: Any) -> bool:
    checked = _CHECKED.get()
    return checked is not None and checked.get(id(value)) is value


def check_attributions(
    attributions: Any, inputs: torch.Tensor | None = None, name: str = "attributions"
) -> torch.Tensor:
    """Return ``attributions`` as a float tensor ``(N, ...)``, checked against ``inputs``."""
    if _is_checked(attributions) and (inputs is None or _is_checked(inputs)):
        return attributions
    if not isinstance(attributions, torch.Tensor):
        raise InputTypeError(
            name,
            f"expected a torch.Tensor of shape (N, ...), got {type(attributions).__name__}. "
            "Pass explanation.attributions.",
        )
    if attributions.ndim < 2 or attributions.shape[0] == 0:
        raise InputError(
            name,
            "expected a batch (N, ...) with at least one sample, got shape "
            f"{tuple(attributions.shape)}. Add a batch dimension with {name}.unsqueeze(0).",
        )
    if not torch.is_floating_point(attributions):
        attributions = attributions.float()
    if inputs is not None:
        layer_map = (
            inputs.ndim == 4
            and attributions.ndim == 4
            and attributions.shape[1] == 1
            and attributions.shape[2:] == inputs.shape[2:]
        )
        if attributions.shape != inputs.shape and not layer_map:
            raise InputError(
                name,
                f"expected the inputs' shape {tuple(inputs.shape)} (or (N, 1, H, W) for "
                f"image layer maps), got {tuple(attributions.shape)}.",
            )
    if not all_finite(attributions):
        raise InputError(name, "expected finite values, got NaN or inf.")
    return attributions.detach()


def check_inputs(inputs: Any, name: str = "inputs") -> torch.Tensor:
    """``inputs`` as a detached batch ``(N, ...)`` of finite floats (see ``as_input_batch``)."""
    if _is_checked(inputs):
        return inputs
    return as_input_batch(inputs, name).detach()


def check_target(target: Any, n: int, device: torch.device) -> torch.Tensor:
    """A LongTensor ``(n,)`` of class indices on ``device`` (an int is broadcast): the user's
    target checked by :func:`xai._validation.normalize_target`, ``None`` refused and negative
    indices refused before any model runs. The columns are checked by
    :func:`check_target_range` once the model's outputs are known."""
    if _is_checked(target) and target.shape == (n,) and target.device == torch.device(device):
        return target
    target = normalize_target(target, n, required=True)
    if isinstance(target, int):
        target = torch.full((n,), target, dtype=torch.long, device=device)
    else:
        target = target.to(device)
    if bool((target < 0).any()):
        raise InputError(
            "target",
            f"expected class indices >= 0, got {int(target.min())}. Pass explanation.target.",
        )
    return target


def target_column(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The score of each sample's target class, ``outputs[i, target[i]]``, ``(N,)``."""
    check_target_range(target, outputs.shape[1])
    return outputs.gather(1, target[:, None]).squeeze(1)


def relevance_maps(attributions: torch.Tensor) -> torch.Tensor:
    """One relevance value per position: ``(N, H*W)`` for images (channels summed, sign kept),
    ``(N, L)`` for ``(N, C, L)`` sequences, ``(N, F)`` for tabular rows."""
    if attributions.ndim >= 3:
        return attributions.sum(dim=1).reshape(attributions.shape[0], -1)
    return attributions.reshape(attributions.shape[0], -1)


def check_positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(name, f"expected a positive number, got {value!r}.")
    return float(value)
