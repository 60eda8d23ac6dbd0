"""The checks of :func:`xai.fit`'s arguments and of its first batches (private)."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any

import torch

from xai.errors import InputError, InputTypeError
from xai.training.checkpoint import check_path

__all__ = ["MAX_LR", "check_first_batch", "check_lr", "check_path_argument", "number"]

# AdamW moves every weight by about ``lr`` per step whatever the gradient's scale, and SGD's
# steps grow with it too: a learning rate above this is a typo (1e3 for 1e-3), not a setting.
MAX_LR = 1e3


def number(name: str, value: Any, expected: str) -> float:
    """``value`` as a finite float, or an error naming ``name`` and saying ``expected``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(
            name, f"expected {expected}, got {type(value).__name__} {value!r:.40}."
        )
    result = float(value)
    if not math.isfinite(result):
        raise InputError(name, f"expected {expected}, got {result!r}.")
    return result


def check_lr(lr: Any) -> float:
    expected = f"a positive number <= {MAX_LR:g} (learning rates are typically 1e-4 to 1e-1)"
    value = number("lr", lr, expected)
    if not 0 < value <= MAX_LR:
        raise InputError("lr", f"expected {expected}, got {lr!r}.")
    return value


def check_path_argument(name: str, value: Any) -> Path | None:
    if value is None:
        return None
    try:
        return check_path(value, name)
    except InputError as error:
        if isinstance(value, str | os.PathLike):
            raise
        raise InputTypeError(name, error.detail) from None


def check_first_batch(x: Any, y: torch.Tensor, outputs: Any, name: str, labels: bool) -> None:
    """Inputs finite; with the default loss, labels that fit the model's outputs."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise InputError(
                name,
                f"the first batch holds {bad} NaN or infinite input value(s) of {x.numel()}. "
                "Clean or impute the data before training.",
            )
    if not labels or not isinstance(outputs, torch.Tensor) or not isinstance(y, torch.Tensor):
        return
    n = outputs.shape[0] if outputs.ndim else 0
    if y.is_complex() or y.dtype == torch.bool:
        raise InputTypeError(
            name,
            f"expected integer class labels, got {y.dtype} labels. Convert them with y.long().",
        )
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        classes = int(outputs.shape[1])
        if y.is_floating_point():
            if tuple(y.shape) == tuple(outputs.shape):  # class probabilities
                return
            raise InputTypeError(
                name,
                f"expected integer class labels (a LongTensor of shape ({n},)) for a model with "
                f"{classes} outputs, got {y.dtype} labels of shape {tuple(y.shape)}. Convert "
                f"them with y.long(), or pass class probabilities of shape ({n}, {classes}).",
            )
        if y.ndim != 1 or y.shape[0] != n:
            raise InputError(
                name,
                f"expected one class label per sample, shape ({n},), got labels of shape "
                f"{tuple(y.shape)}.",
            )
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            found = low if low < 0 else high
            raise InputError(
                name,
                f"expected class labels in [0, {classes}) for a model with {classes} outputs, "
                f"got label {found} in the first batch. Check the labels, or give the model "
                f"{max(high + 1, classes)} outputs.",
            )
    elif outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1):
        if y.numel() != n:
            raise InputError(
                name,
                f"expected one 0/1 label per sample ({n}) for a model with one output, got "
                f"labels of shape {tuple(y.shape)}.",
            )
        values = y.float()
        if not bool(((values >= 0) & (values <= 1)).all()):
            outside = values[~((values >= 0) & (values <= 1))][0].item()
            raise InputError(
                name,
                f"a model with one output is trained on binary labels 0/1, got label "
                f"{outside:g} in the first batch. For K classes, give the model K outputs.",
            )
