"""Integrated Gradients (Sundararajan et al., 2017, https://arxiv.org/abs/1703.01365), by captum."""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

from xai._batching import chunk_rows, chunks
from xai._model import ModelFunction
from xai._validation import broadcast_reference, check_positive_int
from xai.explainers.base import Explainer


class IntegratedGradients(Explainer):
    """Path integral of gradients from a baseline to the input, by captum.

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
    defaults = {"n_steps": 50, "baselines": None, "internal_batch_size": None}
    reference = "https://arxiv.org/abs/1703.01365"

    def _attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: torch.Tensor,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        n_steps = check_positive_int("n_steps", params["n_steps"])
        if params["baselines"] is None:
            baselines = torch.zeros_like(inputs[:1])
            params["baselines"] = "zeros"
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

        # Split the samples so each captum call evaluates at most `rows` rows per pass; when a
        # single sample's n_steps rows exceed the budget, captum chunks the steps itself.
        samples_per_call = max(1, rows // n_steps)
        ig = CaptumIntegratedGradients(function)
        attributions, deltas = [], []
        for part in chunks(inputs.shape[0], samples_per_call):
            count = part.stop - part.start
            attribution, delta = ig.attribute(
                inputs[part],
                baselines=baselines if baselines.shape[0] == 1 else baselines[part],
                target=target[part],
                n_steps=n_steps,
                internal_batch_size=None if count * n_steps <= rows else max(rows, 2 * count),
                return_convergence_delta=True,
            )
            attributions.append(attribution)
            deltas.append(delta)
        return torch.cat(attributions), {"convergence_delta": torch.cat(deltas)}
