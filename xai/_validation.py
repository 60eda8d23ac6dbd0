"""Checks on user input. Every error is an :class:`xai.errors.InputError` that names the
argument, what was expected, what was given, and the fix when there is one. Never ``assert``:
asserts vanish under ``python -O``.

One place per concept: the user's target (:func:`normalize_target`, :func:`resolve_target`,
:func:`check_target_range`), a sample index (:func:`check_sample_index`), an option name
(:func:`check_options`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from xai.errors import (
    IndexTypeError,
    InputError,
    InputIndexError,
    InputTypeError,
    unknown_name_error,
)


def _shape(x: torch.Tensor | np.ndarray) -> str:
    return "(" + ", ".join(str(d) for d in x.shape) + (",)" if x.ndim == 1 else ")")


def as_input_batch(inputs: Any, name: str = "inputs", allow_integer: bool = False) -> torch.Tensor:
    """Return ``inputs`` as a floating-point tensor batch ``(N, ...)`` (or an integer one,
    token ids, when ``allow_integer``), or raise a clear error."""
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(inputs)
    if not isinstance(inputs, torch.Tensor):
        raise InputTypeError(
            name,
            "expected a torch.Tensor (or numpy array) batch of shape (N, ...), "
            f"got {type(inputs).__name__}.",
        )
    integer = not (
        torch.is_floating_point(inputs) or torch.is_complex(inputs) or inputs.dtype == torch.bool
    )
    if not torch.is_floating_point(inputs) and not (allow_integer and integer):
        raise InputTypeError(
            name,
            f"expected a floating-point tensor, got dtype {inputs.dtype}. "
            f"Convert it with {name}.float().",
        )
    if inputs.ndim < 2:
        raise InputError(
            name,
            "expected a batch with a leading sample dimension, shape (N, ...), got shape "
            f"{_shape(inputs)}. Add a batch dimension with {name}.unsqueeze(0).",
        )
    if inputs.shape[0] == 0:
        raise InputError(
            name, f"expected at least one sample, got an empty batch {_shape(inputs)}."
        )
    if torch.is_floating_point(inputs):
        check_finite(inputs, name)
    return inputs


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (numpy's too); anything else, even a truthy string, is refused."""
    if not isinstance(value, bool | np.bool_):
        raise InputTypeError(
            name, f"expected True or False, got {type(value).__name__} {value!r:.40}."
        )
    return bool(value)


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value is finite. Cheap: one sum (3-6 us, against 10-60 us for
    ``torch.isfinite(t).all()``), because a NaN or inf anywhere makes the sum NaN or inf; only
    a non-finite sum, which finite values can also give by overflowing, is checked in full."""
    if tensor.is_complex():
        return bool(torch.isfinite(tensor).all())
    if not tensor.is_floating_point():
        return True
    tensor = tensor.detach()  # a custom method may return attributions that carry a graph
    return math.isfinite(float(tensor.sum())) or bool(torch.isfinite(tensor).all())


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if ``tensor`` holds NaN or infinite values, saying where the first one is."""
    if all_finite(tensor):
        return
    bad = ~torch.isfinite(tensor)
    count = int(bad.sum())
    first = tuple(int(i) for i in bad.nonzero()[0])
    raise InputError(
        name,
        f"expected finite values, got {count} NaN/inf value(s) (first at index {first}). "
        "Clean or impute the data before explaining it.",
    )


def check_ndim(inputs: torch.Tensor, allowed: Sequence[int], method: str, hint: str = "") -> None:
    """Raise if ``inputs`` does not have one of the ``allowed`` numbers of dimensions."""
    if inputs.ndim in allowed:
        return
    layouts = {2: "(N, F) tabular", 3: "(N, C, L) sequence", 4: "(N, C, H, W) image"}
    expected = " or ".join(layouts.get(d, f"{d}-D") for d in allowed)
    message = f"method {method!r} expects a {expected} batch, got shape {_shape(inputs)}."
    if inputs.ndim + 1 in allowed:
        message += " If this is a single sample, add a batch dimension with inputs.unsqueeze(0)."
    if inputs.ndim == 3 and inputs.is_floating_point():
        message += (
            " If these are the embeddings (N, L, D) of token ids, pass the token ids (N, L) "
            "themselves (integers) with the model that embeds them: every method explains "
            "token ids (see docs/text.md)."
        )
    if hint:
        message += " " + hint
    raise InputError("inputs", message)


def normalize_target(target: Any, n: int, *, required: bool = False) -> int | torch.Tensor | None:
    """Check the user's ``target`` for ``n`` samples without looking at the model.

    Returns ``None``, an int, or a LongTensor ``(n,)`` (on the CPU or the tensor's device).
    ``required``: ``None`` is refused (the metrics need the explained classes). Range checks
    need the model's outputs: see :func:`resolve_target` and :func:`check_target_range`.
    """
    if target is None and not required:
        return None
    if isinstance(target, bool | np.bool_) or target is None:
        raise InputTypeError(
            "target",
            f"expected {'' if required else 'None, '}an int or one class index per sample "
            f"({n}), got {target!r}." + (" Pass explanation.target." if required else ""),
        )
    if isinstance(target, int | np.integer):
        _check_int64(int(target))
        return int(target)
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(target)
    elif not isinstance(target, torch.Tensor):
        if not isinstance(target, Iterable) or isinstance(target, str | bytes):
            raise InputTypeError(
                "target",
                f"expected {'' if required else 'None, '}an int, or a 1-D sequence/tensor with "
                f"one class index per sample, got {type(target).__name__}.",
            )
        values = list(target)
        for value in values:  # torch's own error would be "Overflow when unpacking long long"
            if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
                _check_int64(int(value))
        try:
            target = torch.as_tensor(values)
        except (TypeError, ValueError, RuntimeError) as error:
            raise InputTypeError(
                "target",
                "expected one integer class index per sample, got a sequence torch cannot "
                f"read as integers ({str(error).splitlines()[0] if str(error) else error!r}).",
            ) from None
    if target.dtype == torch.uint64 and bool((target.view(torch.int64) < 0).any()):
        raise InputError(
            "target",
            "expected class indices of the model's outputs, got unsigned values of 2**63 or "
            "more, beyond the int64 range torch indexes with.",
        )
    if target.ndim == 0:
        target = target.reshape(1).expand(n)
    if target.ndim != 1:
        raise InputError(
            "target",
            f"expected a 1-D tensor with one class index per sample, got shape {_shape(target)}.",
        )
    if target.numel() == 0:
        raise InputError(
            "target",
            f"expected one class index per sample ({n}), got an empty sequence. Pass "
            "None to explain each sample's predicted class.",
        )
    if torch.is_floating_point(target) or target.is_complex() or target.dtype == torch.bool:
        raise InputTypeError("target", f"expected integer class indices, got dtype {target.dtype}.")
    if target.shape[0] != n:
        raise InputError(
            "target",
            f"expected one class index per sample ({n}), got {target.shape[0]}. "
            "Pass an int to use the same class for every sample.",
        )
    return target.long()


def _check_int64(value: int) -> None:
    """A class index must be an int64 (torch's index type): beyond that range it can be no
    model's output column, and torch would fail converting it."""
    if not -(2**63) <= value < 2**63:
        raise InputError(
            "target",
            f"class index {value} is outside the int64 range torch indexes with, so it is no "
            "output column of any model; expected a class index 0..K-1 of the model's K "
            "outputs (or None for the predicted class).",
        )


def check_target_range(indices: torch.Tensor, columns: int) -> None:
    """Raise if a class index of ``indices`` is not a column of the model's ``columns``
    outputs (negative ones included)."""
    out_of_range = (indices < 0) | (indices >= columns)
    if bool(out_of_range.any()):
        bad = int(indices[out_of_range][0])
        raise InputError(
            "target",
            f"class index {bad} is outside the model's outputs; the model returns {columns} "
            f"output column(s), so valid targets are 0..{columns - 1}.",
        )


def resolve_target(target: Any, outputs: torch.Tensor) -> torch.Tensor:
    """Turn the user's ``target`` into a LongTensor ``(N,)`` of class indices.

    Args:
        target: ``None`` (the predicted class; column 0 for single-output models), an int
            (the same class for every sample), or one index per sample (sequence, array or tensor).
        outputs: the model's outputs on the inputs, shape ``(N, K)``.
    """
    n, k = outputs.shape
    target = normalize_target(target, n)
    if target is None:
        if k == 1:
            return torch.zeros(n, dtype=torch.long, device=outputs.device)
        return outputs.argmax(dim=1)
    if isinstance(target, int):
        indices = torch.full((n,), target, dtype=torch.long, device=outputs.device)
    else:
        indices = target.to(device=outputs.device, dtype=torch.long)
    check_target_range(indices, k)
    return indices


def integer_value(value: Any) -> int | None:
    """``value`` as an int when it is one: a Python or numpy int, or a 0-d integer array or
    tensor; ``None`` for anything else (bools and floats included)."""
    if isinstance(value, np.ndarray | torch.Tensor) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        return None
    return int(value)


def index_out_of_range(position: int, n: int, name: str = "index") -> InputIndexError:
    """The error for sample ``position`` of ``n`` samples that is not one of them."""
    return InputIndexError(
        name,
        f"expected an int in [0, {n}), got {position}; {position} is out of range for {n} "
        "samples (negative ones count from the end).",
    )


def check_sample_index(index: Any, n: int, name: str = "index") -> int:
    """The sample number ``index`` of ``n`` samples, in ``[0, n)``.

    Accepted: Python and numpy ints, 0-d integer arrays and tensors; negative numbers count
    from the end. A bool, float or anything else is an :class:`~xai.errors.IndexTypeError`
    (a TypeError and an IndexError), a number outside the samples an
    :class:`~xai.errors.InputIndexError` (an IndexError).
    """
    position = integer_value(index)
    if position is None:
        raise IndexTypeError(name, f"expected an int in [0, {n}), got {index!r:.60}.")
    if not -n <= position < n:
        raise index_out_of_range(position, n, name)
    return position % n


def check_options(method: str, given: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise if an option is not one the method accepts, suggesting the closest name."""
    accepted = sorted(accepted)
    for option in given:
        if option not in accepted:
            raise unknown_name_error(
                option,
                "option",
                option,
                accepted,
                problem=f"not an option of method {method!r}",
                listing="Its options are",
                error=InputTypeError,
            )


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputTypeError(
            name, f"expected an integer >= {minimum}, got {type(value).__name__} {value!r}."
        )
    if value < minimum:
        raise InputError(name, f"expected an integer >= {minimum}, got {value}.")
    return int(value)


def check_seed(seed: Any) -> int | None:
    """``None`` or a non-negative int below 2**32 (numpy's limit)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise InputError("seed", f"expected None or an integer in [0, 2**32), got {seed!r}.")
    return int(seed)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(name, f"expected one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value


def broadcast_reference(
    value: Any, inputs: torch.Tensor, name: str, allow_batch: bool = True
) -> torch.Tensor:
    """Coerce a baseline-like argument to a float tensor on the inputs' device.

    Accepts a scalar, one sample shaped like ``inputs[0]``, or (when ``allow_batch``) a batch
    ``(M, ...)`` whose sample shape matches the inputs.
    """
    if isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range
            number = float("inf")
        if not np.isfinite(number) or abs(number) > torch.finfo(inputs.dtype).max:
            raise InputError(
                name,
                "expected a finite number within the range of the inputs' dtype "
                f"{inputs.dtype} (|value| <= {torch.finfo(inputs.dtype).max:.4g}), got {value!r:.40}.",
            )
        return torch.full_like(inputs[:1], number)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise InputTypeError(
            name,
            f"expected a number or a tensor shaped like one sample {_shape(inputs[0])} "
            f"or a batch (M, {', '.join(map(str, inputs.shape[1:]))}), got {type(value).__name__}.",
        )
    if not torch.is_floating_point(value):
        value = value.float()
    value = value.to(device=inputs.device, dtype=inputs.dtype)
    sample_shape = tuple(inputs.shape[1:])
    if tuple(value.shape) == sample_shape:
        value = value.unsqueeze(0)
    elif not (allow_batch and value.ndim == inputs.ndim and tuple(value.shape[1:]) == sample_shape):
        raise InputError(
            name,
            f"expected a tensor of shape {sample_shape} (one sample) or (M, "
            f"{', '.join(map(str, sample_shape))}) (a batch), got shape {_shape(value)}.",
        )
    if value.shape[0] == 0:
        raise InputError(name, "expected at least one row, got an empty tensor.")
    check_finite(value, name)
    return value


def check_model_kwargs(model_kwargs: Any, device: torch.device | None = None) -> dict[str, Any]:
    """``model_kwargs`` as a dict of forward arguments by name (None: none), with its tensors
    on ``device`` when given."""
    if model_kwargs is None:
        return {}
    if not isinstance(model_kwargs, Mapping) or not all(isinstance(k, str) for k in model_kwargs):
        raise InputTypeError(
            "model_kwargs",
            "expected None or a dict of the model's extra forward arguments by name "
            f"(model_kwargs={{'attention_mask': mask}}), got {type(model_kwargs).__name__}.",
        )
    return {
        key: value.detach().to(device)
        if isinstance(value, torch.Tensor) and device is not None
        else value
        for key, value in model_kwargs.items()
    }
