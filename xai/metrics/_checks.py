"""Checks and views shared by the quality-metric functions: attributions against inputs,
targets against the model's outputs, one relevance value per position, and for token ids
``(N, L)`` the forward arguments and the positions an attention mask keeps."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import torch

from xai._validation import (
    all_finite,
    as_input_batch,
    check_model_kwargs,
    check_target_range,
    normalize_target,
)
from xai.errors import InputError, InputTypeError

__all__ = [
    "attention_mask_of",
    "check_attention_mask",
    "check_attributions",
    "check_inputs",
    "check_model_kwargs",
    "check_positive_number",
    "check_target",
    "check_target_range",
    "is_token_ids",
    "not_for_token_ids",
    "relevance_maps",
    "sample_rows",
    "target_column",
    "valid_positions",
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


def check_inputs(inputs: Any, name: str = "inputs", *, token_ids: bool = False) -> torch.Tensor:
    """``inputs`` as a detached batch ``(N, ...)`` of finite floats (see ``as_input_batch``),
    or with ``token_ids`` also integer token ids ``(N, L)`` (ids >= 0)."""
    if _is_checked(inputs):
        return inputs
    inputs = as_input_batch(inputs, name, allow_integer=token_ids).detach()
    if is_token_ids(inputs):
        if inputs.ndim != 2:
            raise InputError(
                name,
                f"integer inputs are token ids, expected shape (N, L), got {tuple(inputs.shape)}.",
            )
        if bool((inputs < 0).any()):
            raise InputError(
                name, f"token ids must be >= 0, got {int(inputs.min())}. Pass explanation.inputs."
            )
    return inputs


def is_token_ids(inputs: torch.Tensor) -> bool:
    """Whether a checked batch holds token ids (integers) rather than features (floats)."""
    return not inputs.is_floating_point()


def not_for_token_ids(metric: str, inputs: Any, name: str = "inputs") -> None:
    """Refuse token ids for a metric that adds continuous noise to the inputs."""
    if isinstance(inputs, torch.Tensor) and not (
        inputs.is_floating_point() or inputs.is_complex() or inputs.dtype == torch.bool
    ):
        raise InputTypeError(name, f"{metric} does not apply to token ids: {NOISE_ON_IDS}")


#: Why the noise-based metrics (infidelity, max-sensitivity) do not apply to token ids.
NOISE_ON_IDS = (
    "it adds continuous noise to the inputs, and token ids (integers (N, L)) are discrete; "
    "ids plus noise are not tokens. Deletion/insertion (deletion_auc, insertion_auc) measure "
    "faithfulness on tokens."
)


def attention_mask_of(model_kwargs: Mapping[str, Any] | None, ids: torch.Tensor) -> Any:
    """``model_kwargs["attention_mask"]`` when it is a tensor of the token ids' shape
    ``(N, L)`` (the positions it keeps are the real tokens), else None; None for inputs that
    are not token ids."""
    if not model_kwargs or not is_token_ids(ids):
        return None
    mask = model_kwargs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.shape == ids.shape:
        return mask
    return None


def check_attention_mask(
    attention_mask: Any, relevance: torch.Tensor, name: str = "attention_mask"
) -> torch.Tensor | None:
    """``attention_mask`` as bool ``(N, L)`` on the relevance's device (True: a real token),
    checked against the relevance maps ``(N, L)``; None stays None (every position counts)."""
    if attention_mask is None:
        return None
    if not isinstance(attention_mask, torch.Tensor):
        raise InputTypeError(
            name,
            f"expected a tensor (N, L) of 0/1 (1: a real token), got "
            f"{type(attention_mask).__name__}.",
        )
    if relevance.ndim != 2 or attention_mask.shape != relevance.shape:
        raise InputError(
            name,
            f"expected one mask per sequence, the shape of the token attributions "
            f"{tuple(relevance.shape)}, got {tuple(attention_mask.shape)}. It is meant for "
            "token ids (N, L): pass model_kwargs['attention_mask'].",
        )
    return attention_mask.to(relevance.device).bool()


def valid_positions(attention_mask: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
    """Bool ``(N, P)``: the positions that count (all of them without an attention mask)."""
    if attention_mask is None:
        return torch.ones(relevance.shape, dtype=torch.bool, device=relevance.device)
    return attention_mask


def sample_rows(part: slice, repeats: int = 1) -> torch.Tensor:
    """The sample index of each row of a call on samples ``part``, each repeated ``repeats``
    times in a row (``rows=`` of :class:`xai._model.ModelFunction`)."""
    return torch.arange(part.start, part.stop).repeat_interleave(repeats)


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
