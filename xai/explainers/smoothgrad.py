"""SmoothGrad (Smilkov et al., 2017, https://arxiv.org/abs/1706.03825).

The mean input gradient over noisy copies ``x + N(0, sigma^2)``: the values of captum's
``NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", stdevs=sigma, ...)`` for the
same noise (the test suite checks equality to 1e-6 with captum fed the same draws, and the
expectation against captum's own draws). The noise is drawn from a ``torch.Generator`` seeded
with ``seed`` (on the CPU, so a seed gives the same values on every device), and the
(sample, draw) rows go through the model in chunks with one gradient of the summed target
scores per chunk, as Integrated Gradients' steps do.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from xai._batching import (
    check_evaluations,
    check_memory,
    check_rows_per_pass,
    chunk_rows,
    chunks,
)
from xai._model import ModelFunction, input_gradient
from xai._validation import check_bool, check_positive_int
from xai.errors import InputError, InputTypeError
from xai.explainers.base import Explainer, Parameter, Target

_SPREADS = (0.05, 0.1, 0.15, 0.2, 0.3)


def _check_level(name: str, value: Any) -> float:
    """A finite number >= 0 (a noise level)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputTypeError(
            name, f"expected a number >= 0, got {type(value).__name__} {value!r:.40}."
        )
    if not (math.isfinite(value) and value >= 0):
        raise InputError(name, f"expected a finite number >= 0, got {value!r}.")
    return float(value)


def _check_nsamples(nsamples: int, inputs: torch.Tensor) -> None:
    """The bounds of ``nsamples``: the model evaluations per sample, and the noise, which is
    drawn for all samples at once (float32 on the CPU, then copied to the inputs' dtype and
    device)."""
    fix = "Use fewer samples (the default is 50; 16-200 are usual)."
    check_evaluations("nsamples", f"{nsamples:,} noisy samples", nsamples, fix)
    numel = inputs[0].numel()
    what = f"{nsamples:,} noisy samples of {numel:,} values"
    itemsize = inputs.element_size()
    on_cpu = inputs.device.type == "cpu"
    copied = on_cpu and inputs.dtype != torch.float32  # the float32 draws in the inputs' dtype
    cpu_bytes = float(nsamples) * numel * (4 + (itemsize if copied else 0))
    check_memory("nsamples", what, cpu_bytes, torch.device("cpu"), fix)
    if not on_cpu:
        check_memory("nsamples", what, float(nsamples) * numel * itemsize, inputs.device, fix)


def standard_noise(
    seed: int, nsamples: int, sample_shape: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """The ``(nsamples, *sample_shape)`` standard normal draws of ``seed`` in ``dtype``: draw
    ``j`` of sample ``i`` is ``sigma_i * standard_noise(...)[j]``. Drawn in float32 on the CPU
    whatever the inputs' dtype and device, so a seed perturbs float16, float32 and float64
    inputs on every device alike."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((nsamples, *sample_shape), generator=generator).to(dtype)


class SmoothGrad(Explainer):
    """The input gradient of the target score averaged over noisy copies of each sample.

    Options:
        nsamples: noisy copies per sample (default 50, the paper's).
        stdev_spread: the noise's standard deviation as a fraction of each sample's range,
            ``sigma = stdev_spread * (max(x) - min(x))`` (default 0.15; the paper finds
            0.1-0.2 best). Used when ``stdevs`` is not given.
        stdevs: the noise's standard deviation as an absolute number, the same for every
            sample (captum's ``stdevs``). Give either ``stdevs`` or ``stdev_spread``.
        abs: average the absolute gradients (default True, as captum's ``Saliency``);
            ``False`` averages the signed gradients (the paper's SmoothGrad).
        internal_batch_size: rows per forward/backward pass (default: chosen from the input
            size, as for Integrated Gradients); recorded in ``params``.
        seed: random seed of the noise. Every sample is perturbed with the same standard
            normal draws (scaled by its ``sigma``), so a sample's result does not depend on the
            batch, and the same seed gives identical attributions on every device.

    ``extras["stdevs"]`` holds the standard deviation used per sample ``(N,)``.
    """

    name = "smoothgrad"
    warns_on_zero = True
    token_options = {"embedding": None}
    defaults = {
        "nsamples": 50,
        "stdev_spread": None,
        "stdevs": None,
        "abs": True,
        "internal_batch_size": None,
    }
    stochastic = True
    reference = "https://arxiv.org/abs/1706.03825"
    quick_options = {"nsamples": 16}

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        return [
            Parameter(
                "nsamples",
                "noisy samples",
                cls.defaults["nsamples"],
                2,
                500,
                2,
                help="Noisy copies of the input whose gradients are averaged; more is smoother.",
            ),
            Parameter(
                "stdev_spread",
                "noise level",
                0.15,
                choices=_SPREADS,
                help="Standard deviation of the noise as a fraction of the input's range.",
            ),
            Parameter(
                "abs",
                "absolute gradients",
                cls.defaults["abs"],
                choices=(True, False),
                help="Average the absolute gradients (captum's Saliency) or the signed ones.",
            ),
        ]

    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        nsamples = check_positive_int("nsamples", params["nsamples"])
        _check_nsamples(nsamples, inputs)
        absolute = check_bool("abs", params["abs"])
        n = inputs.shape[0]
        if params["stdevs"] is not None:
            if params["stdev_spread"] is not None:
                raise InputError(
                    "stdevs",
                    f"given together with stdev_spread={params['stdev_spread']!r}; "
                    "pass one of them (stdevs: an absolute standard deviation, stdev_spread: "
                    "a fraction of each sample's range).",
                )
            sigma = torch.full((n,), _check_level("stdevs", params["stdevs"]))
        else:
            if params["stdev_spread"] is None:
                params["stdev_spread"] = 0.15
            spread = _check_level("stdev_spread", params["stdev_spread"])
            flat = inputs.detach().flatten(1).double()
            sigma = spread * (flat.amax(1) - flat.amin(1)).cpu()
        if params["internal_batch_size"] is None:
            rows = chunk_rows(inputs.shape[1:], inputs.device)
        else:
            rows = check_positive_int("internal_batch_size", params["internal_batch_size"])
            check_rows_per_pass(
                "internal_batch_size",
                rows,
                n * nsamples,
                inputs.shape[1:],
                inputs.dtype,
                inputs.device,
            )
        params["internal_batch_size"] = rows
        classes = target.classes(function, inputs)

        noise = standard_noise(params["seed"], nsamples, tuple(inputs.shape[1:]), inputs.dtype)
        noise = noise.to(inputs.device)
        sigma = sigma.to(inputs.device, inputs.dtype)
        shape = (-1,) + (1,) * (inputs.ndim - 1)
        gradient_sums = torch.zeros_like(inputs)
        # Every (sample, draw) pair is one row; rows go through the model `rows` at a time.
        for part in chunks(n * nsamples, rows):
            pairs = torch.arange(part.start, part.stop, device=inputs.device)
            sample, draw = pairs // nsamples, pairs % nsamples
            points = inputs[sample] + sigma[sample].view(shape) * noise[draw]
            points.requires_grad_(True)
            score = function(points, rows=sample).gather(1, classes[sample][:, None]).sum()
            gradient = input_gradient(score, points, self.name)
            gradient_sums.index_add_(0, sample, gradient.abs() if absolute else gradient)
        return gradient_sums / nsamples, {"stdevs": sigma}
