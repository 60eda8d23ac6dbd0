"""Occlusion (Zeiler & Fergus, 2014, https://arxiv.org/abs/1311.2901).

A window slides over each sample; every element's attribution is the mean drop of the target
score, ``f(x) - f(x with the window replaced by the baseline)``, over the windows that cover
it. The values are captum's ``Occlusion`` (same windows, strides, cut-off last windows and
averaging; the test suite checks equality to 1e-6), computed with every (sample, window) pair
as one row of batched forward passes: the occluded copies are built in one tensor operation per
chunk of rows, where captum runs one forward pass per window position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from xai._batching import check_evaluations, check_rows_per_pass, chunk_rows, chunks
from xai._model import ModelFunction
from xai._validation import broadcast_reference, check_positive_int
from xai.errors import InputError, InputTypeError
from xai.explainers.base import AUTO, Explainer, Parameter, Target

#: An automatic window spans about this fraction of each spatial dimension.
_WINDOW_FRACTION = 8


def default_window(sample_shape: Sequence[int]) -> tuple[int, ...]:
    """The automatic window for samples of ``sample_shape`` (without the batch dimension):
    one feature of a table ``(F,)``; otherwise every channel (the first dimension) and about
    an eighth of each further dimension (at least 1): ``(C, 4, 4)`` for ``(C, 32, 32)``."""
    if len(sample_shape) == 1:
        return (1,)
    return (int(sample_shape[0]), *(max(1, int(d) // _WINDOW_FRACTION) for d in sample_shape[1:]))


def default_strides(window: Sequence[int]) -> tuple[int, ...]:
    """Half the window in each dimension (at least 1): overlapping windows."""
    return tuple(max(1, int(w) // 2) for w in window)


def _int_tuple(name: str, value: Any, length: int, what: str) -> tuple[int, ...]:
    """``value`` as a tuple of ``length`` positive ints, or a clear error."""
    if not isinstance(value, tuple | list) or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value
    ):
        raise InputTypeError(
            name,
            f"expected a tuple of {length} positive integers ({what}), got "
            f"{type(value).__name__} {value!r:.60}.",
        )
    if len(value) != length:
        raise InputError(
            name,
            f"expected {length} integer(s), one per dimension of a sample ({what}), "
            f"got {len(value)}: {tuple(value)}.",
        )
    if any(v < 1 for v in value):
        raise InputError(name, f"expected positive integers, got {tuple(value)}.")
    return tuple(int(v) for v in value)


class Occlusion(Explainer):
    """The drop of the target score when a sliding window of the input is replaced by a
    baseline, averaged per element over the windows that cover it (captum's ``Occlusion``).

    Options:
        sliding_window_shapes: the window, one size per dimension of a sample (captum's
            argument): ``(C, h, w)`` for images ``(N, C, H, W)``, ``(k,)`` for tables.
            ``None`` (default): every channel and about 1/8 of each further dimension for
            images and sequences (``(C, 4, 4)`` on 32x32 images), one feature at a time for
            tables; the value used is recorded in ``params``.
        strides: how far the window moves in each dimension: an int for every dimension or one
            per dimension (each at most the window's size where the window is smaller than the
            sample, so that every element is covered). ``None`` (default): half the window
            (at least 1), recorded in ``params``; captum's default is 1.
        baselines: the value occluded elements get: ``None`` (zeros), a number, one sample, or
            one baseline per sample.
        batch_size: rows (occluded copies) per model call (default: automatic, from the
            input size); recorded in ``params``.

    Windows start at index 0 and move by ``strides`` until they reach the end of each
    dimension; the last one may be cut off (smaller), as in captum. ``extras["windows"]``
    is the number of window positions (model evaluations per sample, besides ``f(x)``).
    """

    name = "occlusion"
    token_options = {"mask_token": None}
    token_reference = "baselines"
    token_path = "ids"
    defaults = {
        "sliding_window_shapes": None,
        "strides": None,
        "baselines": None,
        "batch_size": None,
    }
    reference = "https://arxiv.org/abs/1311.2901"
    quick_options = {}  # the automatic windows are already few

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        """The window: automatic, or for images square windows of 1, 2, 4, ... pixels over
        every channel (up to half the image)."""
        windows: list[tuple[int, ...]] = []
        if inputs is not None and inputs.ndim == 4:
            channels, height, width = (int(d) for d in inputs.shape[1:])
            size = 1
            while size <= min(height, width) // 2:
                windows.append((channels, size, size))
                size *= 2
        return [
            Parameter(
                "sliding_window_shapes",
                "window",
                AUTO,
                choices=(AUTO, *windows),
                help="Size of the occluded patch (channels, height, width); auto: about 1/8 "
                "of the image, moved by half its size.",
            )
        ]

    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        sample_shape = tuple(int(d) for d in inputs.shape[1:])
        dims = len(sample_shape)
        layout = f"one per dimension of a sample {sample_shape}"
        if params["sliding_window_shapes"] is None:
            window = default_window(sample_shape)
        else:
            window = _int_tuple(
                "sliding_window_shapes", params["sliding_window_shapes"], dims, layout
            )
            too_large = [i for i in range(dims) if window[i] > sample_shape[i]]
            if too_large:
                raise InputError(
                    "sliding_window_shapes",
                    f"the window {window} is larger than a sample {sample_shape} in "
                    f"dimension {too_large[0] + 1}; expected each size at most the sample's.",
                )
        if params["strides"] is None:
            strides = default_strides(window)
        elif isinstance(params["strides"], int | np.integer) and not isinstance(
            params["strides"], bool
        ):
            strides = (check_positive_int("strides", params["strides"]),) * dims
        else:
            strides = _int_tuple("strides", params["strides"], dims, layout)
        uncovered = [
            i for i in range(dims) if window[i] < sample_shape[i] and strides[i] > window[i]
        ]
        if uncovered:
            i = uncovered[0]
            raise InputError(
                "strides",
                f"{strides[i]} in dimension {i + 1} is larger than the window's {window[i]} "
                "there, so some elements would never be occluded; expected strides at most "
                f"the window {window}.",
            )
        # window positions per dimension: from 0 by the stride, the last one possibly cut off
        counts = [
            math.ceil((size - width) / stride) + 1
            for size, width, stride in zip(sample_shape, window, strides, strict=True)
        ]
        positions = math.prod(counts)
        check_evaluations(
            "strides" if params["strides"] is not None else "sliding_window_shapes",
            f"{positions:,} window positions (window {window}, strides {strides} over samples "
            f"{sample_shape})",
            positions,
            "Use a larger window or larger strides.",
        )
        params["sliding_window_shapes"], params["strides"] = window, strides
        if params["baselines"] is None:
            baselines = torch.zeros_like(inputs[:1])
        elif not inputs.is_floating_point():  # token ids: mask_token rows made by the template
            baselines = params["baselines"]
        else:
            baselines = broadcast_reference(params["baselines"], inputs, "baselines")
            if baselines.shape[0] not in (1, inputs.shape[0]):
                raise InputError(
                    "baselines",
                    "expected one baseline for all samples or one per sample "
                    f"({inputs.shape[0]}), got {baselines.shape[0]}.",
                )
        if params["batch_size"] is None:
            params["batch_size"] = chunk_rows(sample_shape, inputs.device)
        else:
            check_rows_per_pass(
                "batch_size",
                check_positive_int("batch_size", params["batch_size"]),
                inputs.shape[0] * positions,
                sample_shape,
                inputs.dtype,
                inputs.device,
            )
        rows = check_positive_int("batch_size", params["batch_size"])
        outputs, classes = target.from_model(function, inputs)

        # Per dimension: which elements each window position covers, (positions, size).
        members = []
        for size, width, stride in zip(sample_shape, window, strides, strict=True):
            starts = torch.arange(math.ceil((size - width) / stride) + 1, device=inputs.device)
            starts = starts * stride
            index = torch.arange(size, device=inputs.device)
            members.append((index >= starts[:, None]) & (index < starts[:, None] + width))
        # How many windows cover each element: the windows are a grid, so a product over dims.
        # attributions are score differences: float, also for token ids
        values = inputs.dtype if inputs.is_floating_point() else torch.get_default_dtype()
        coverage = torch.ones(sample_shape, device=inputs.device, dtype=values)
        for d, member in enumerate(members):
            view = [1] * dims
            view[d] = sample_shape[d]
            coverage = coverage * member.sum(0).to(values).view(view)

        n = inputs.shape[0]
        end = outputs.gather(1, classes[:, None]).squeeze(1)
        totals = torch.zeros(inputs.shape, dtype=values, device=inputs.device)
        shape = (-1,) + (1,) * dims
        # Every (sample, window position) pair is one occluded copy; `rows` copies per call.
        for part in chunks(n * positions, rows):
            pairs = torch.arange(part.start, part.stop, device=inputs.device)
            sample, position = pairs // positions, pairs % positions
            mask = torch.ones((len(pairs), *sample_shape), dtype=torch.bool, device=inputs.device)
            for d in reversed(range(dims)):  # the position's index in dimension d
                position, index = position // counts[d], position % counts[d]
                view = [len(pairs)] + [1] * dims
                view[d + 1] = sample_shape[d]
                mask &= members[d][index].view(view)
            base = baselines[0] if baselines.shape[0] == 1 else baselines[sample]
            occluded = torch.where(mask, base, inputs[sample])
            with torch.no_grad():
                scores = function(occluded, rows=sample).gather(1, classes[sample][:, None])
                scores = scores.squeeze(1)
            drop = (end[sample] - scores).view(shape)
            totals.index_add_(0, sample, drop.to(values) * mask.to(values))
        return totals / coverage, {"windows": positions}
