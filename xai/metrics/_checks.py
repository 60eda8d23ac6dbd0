"""Checks and views shared by the quality-metric functions: attributions against inputs,
targets against the model's outputs, one relevance value per position."""

from __future__ import annotations

from typing import Any

import torch

from xai._validation import all_finite, as_input_batch


def check_attributions(
    attributions: Any, inputs: torch.Tensor | None = None, name: str = "attributions"
) -> torch.Tensor:
    """Return ``attributions`` as a float tensor ``(N, ...)``, checked against ``inputs``."""
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(
            f"{name}: expected a torch.Tensor of shape (N, ...), got {type(attributions).__name__}. "
            "Pass explanation.attributions."
        )
    if attributions.ndim < 2 or attributions.shape[0] == 0:
        raise ValueError(
            f"{name}: expected a batch (N, ...) with at least one sample, got shape "
            f"{tuple(attributions.shape)}. Add a batch dimension with {name}.unsqueeze(0)."
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
            raise ValueError(
                f"{name}: expected the inputs' shape {tuple(inputs.shape)} (or (N, 1, H, W) for "
                f"image layer maps), got {tuple(attributions.shape)}."
            )
    if not all_finite(attributions):
        raise ValueError(f"{name}: expected finite values, got NaN or inf.")
    return attributions.detach()


def check_inputs(inputs: Any, name: str = "inputs") -> torch.Tensor:
    return as_input_batch(inputs, name).detach()


def check_target(target: Any, n: int, device: torch.device) -> torch.Tensor:
    """A LongTensor ``(n,)`` of class indices (an int is broadcast)."""
    if isinstance(target, bool) or target is None:
        raise TypeError(
            f"target: expected an int or one class index per sample ({n}), got {target!r}. "
            "Pass explanation.target."
        )
    target = torch.as_tensor(target, device=device)
    if torch.is_floating_point(target):
        raise TypeError(f"target: expected integer class indices, got dtype {target.dtype}.")
    if target.ndim == 0:
        target = target.expand(n)
    if target.shape != (n,):
        raise ValueError(
            f"target: expected one class index per sample, shape ({n},), got {tuple(target.shape)}."
        )
    if bool((target < 0).any()):
        raise ValueError(
            f"target: expected class indices >= 0, got {int(target.min())}. Pass explanation.target."
        )
    return target.long()


def check_target_range(target: torch.Tensor, columns: int) -> None:
    """Raise if a class index is not a column of the model's ``columns`` outputs."""
    if bool((target >= columns).any()):
        raise ValueError(
            f"target: class index {int(target.max())} is outside the model's outputs; the model "
            f"returns {columns} output column(s), so valid targets are 0..{columns - 1}."
        )


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
        raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    return float(value)
