"""Integrated Gradients (Sundararajan et al., 2017, https://arxiv.org/abs/1703.01365).

The attributions are captum's ``IntegratedGradients`` with its default Gauss-Legendre rule (the
test suite checks equality to 1e-5), computed in chunks of (sample, step) rows with one
gradient of the summed target scores per chunk. captum differentiates each output row
separately (``torch.unbind``), which costs more than the model itself on small models.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from xai._batching import chunk_rows, chunks, map_in_chunks
from xai._model import ModelFunction, input_gradient
from xai._validation import broadcast_reference, check_positive_int
from xai.explainers.base import Explainer, Parameter, Target


class IntegratedGradients(Explainer):
    """Path integral of gradients from a baseline to the input (captum's rule and values).

    Options:
        n_steps: integration steps (default 50, Gauss-Legendre as in captum).
        baselines: ``None`` (zeros), a number, one sample, or one baseline per sample.
        internal_batch_size: rows per forward/backward pass. ``None`` chooses it from the input
            size so memory stays bounded (it does not grow with ``n_steps`` or the batch) while
            the model still runs on large batches; the value used is recorded in ``params``.

    ``extras["convergence_delta"]`` is captum's completeness error per sample:
    ``sum(attributions) - (f(x) - f(baseline))``.
    """

    name = "integrated_gradients"
    properties = frozenset({"completeness"})
    defaults = {"n_steps": 50, "baselines": None, "internal_batch_size": None}
    reference = "https://arxiv.org/abs/1703.01365"
    quick_options = {"n_steps": 24}

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        return [
            Parameter(
                "n_steps",
                "integration steps",
                cls.defaults["n_steps"],
                2,
                300,
                2,
                help="Points on the straight path from the baseline; more is more exact.",
            )
        ]

    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        request: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        outputs, target = request.from_model(function, inputs)
        n_steps = check_positive_int("n_steps", params["n_steps"])
        if params["baselines"] is None:  # the default: zeros (recorded as None)
            baselines = torch.zeros_like(inputs[:1])
        else:
            baselines = broadcast_reference(params["baselines"], inputs, "baselines")
            if baselines.shape[0] not in (1, inputs.shape[0]):
                raise ValueError(
                    f"baselines: expected one baseline for all samples or one per sample "
                    f"({inputs.shape[0]}), got {baselines.shape[0]}."
                )
        if params["internal_batch_size"] is None:
            rows = chunk_rows(inputs.shape[1:], inputs.device)
        else:
            rows = check_positive_int("internal_batch_size", params["internal_batch_size"])
        params["internal_batch_size"] = rows

        alphas, weights = _gauss_legendre(n_steps, inputs.device, inputs.dtype)
        n = inputs.shape[0]
        differences = inputs - baselines
        gradient_sums = torch.zeros_like(inputs)
        # Every (sample, step) pair is one row; rows go through the model `rows` at a time.
        for part in chunks(n * n_steps, rows):
            pairs = torch.arange(part.start, part.stop, device=inputs.device)
            sample, step = pairs // n_steps, pairs % n_steps
            base = baselines[0 if baselines.shape[0] == 1 else sample]
            shape = (-1,) + (1,) * (inputs.ndim - 1)
            points = (base + alphas[step].view(shape) * differences[sample]).requires_grad_(True)
            score = function(points).gather(1, target[sample][:, None]).sum()
            gradient = input_gradient(score, points, self.name)
            gradient_sums.index_add_(0, sample, gradient * weights[step].view(shape))
        attributions = differences * gradient_sums
        # completeness error, as captum's compute_convergence_delta; f(x) is known already,
        # and a baseline shared by all samples is evaluated once
        end = outputs.gather(1, target[:, None]).squeeze(1)
        with torch.no_grad():
            start = map_in_chunks(function, baselines, rows)
        start = start.expand(n, -1).gather(1, target[:, None]).squeeze(1)
        delta = attributions.flatten(1).sum(1) - (end - start)
        return attributions, {"convergence_delta": delta}


@functools.lru_cache(maxsize=32)
def _gauss_legendre_cpu(n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    # imported here: captum.attr takes ~0.4 s to import (it pulls in matplotlib.pyplot)
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    as_tensor = functools.partial(torch.tensor, dtype=torch.float64)
    return as_tensor(alphas(n_steps)), as_tensor(step_sizes(n_steps))


def _gauss_legendre(
    n_steps: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """captum's integration points and weights (its default rule), cached per ``n_steps``,
    in the inputs' dtype (so the points fed to a float16 or float64 model have its dtype)."""
    alphas, weights = _gauss_legendre_cpu(n_steps)
    return alphas.to(device, dtype), weights.to(device, dtype)
