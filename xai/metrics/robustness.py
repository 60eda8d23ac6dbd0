"""Robustness of explanations: how much an attribution changes under small input noise.

Max-sensitivity (Yeh et al., NeurIPS 2019) is computed by captum's ``sensitivity_max``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from xai._state import autograd_enabled
from xai._validation import check_positive_int, check_seed
from xai.metrics._checks import (
    check_inputs,
    check_positive_number,
    check_target,
    not_for_token_ids,
)
from xai.metrics.base import QualityMetric

__all__ = ["max_sensitivity_error"]

ExplainFunction = Callable[..., torch.Tensor]


def max_sensitivity_error(
    explain: ExplainFunction,
    inputs: torch.Tensor,
    target: Any,
    *,
    radius: float = 0.02,
    n_perturb_samples: int = 8,
    seed: int = 0,
) -> torch.Tensor:
    """Max-sensitivity: the largest relative change of the attribution under input
    perturbations uniform in ``[-radius, radius]``, ``max ||a(x + d) - a(x)|| / ||a(x)||``.
    Lower is better.

    Yeh et al., NeurIPS 2019 (https://arxiv.org/abs/1901.09392). Computed by
    ``captum.metrics.sensitivity_max``.

    Args:
        explain: ``explain(inputs, target) -> attributions``, the method to probe (e.g.
            ``lambda x, t: xai.explain(model, x, "integrated_gradients", target=t).attributions``).
            Stochastic methods should use a fixed seed, so only the input changes.
        inputs: ``(N, ...)``.
        target: class per sample.
        radius: half-width of the uniform perturbation (in input units).
        n_perturb_samples: perturbations per sample.
        seed: the same perturbations are drawn for every sample from this seed.

    Returns:
        ``(N,)`` max-sensitivity per sample.

    Raises:
        TypeError: token ids (integer inputs): uniform noise is not defined on them.
    """
    from captum.metrics import sensitivity_max

    if not callable(explain):
        raise TypeError(
            f"explain: expected a callable (inputs, target) -> attributions, got "
            f"{type(explain).__name__}."
        )
    not_for_token_ids("max_sensitivity_error", inputs)
    inputs = check_inputs(inputs)
    radius = check_positive_number("radius", radius)
    n_perturb = check_positive_int("n_perturb_samples", n_perturb_samples)
    seed = check_seed(seed) or 0
    target = check_target(target, inputs.shape[0], inputs.device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    bank = (torch.rand((n_perturb, *inputs.shape[1:]), generator=generator) * 2 - 1) * radius
    bank = bank.to(device=inputs.device, dtype=inputs.dtype)

    def perturb(expanded: torch.Tensor) -> torch.Tensor:
        return expanded + bank.repeat(expanded.shape[0] // n_perturb, *([1] * (expanded.ndim - 1)))

    n = inputs.shape[0]

    def explanation_func(x: Any) -> tuple[torch.Tensor]:
        if isinstance(x, tuple):  # captum passes inputs as a tuple
            (x,) = x
        # captum repeats each sample n_perturb times (repeat_interleave); the targets follow
        rows_target = target if x.shape[0] == n else target.repeat_interleave(x.shape[0] // n)
        with autograd_enabled():
            return (explain(x, rows_target).detach().to(x.device),)

    return sensitivity_max(explanation_func, inputs, perturb, n_perturb_samples=n_perturb).to(
        inputs.device
    )


#: The metrics of this module, registered by :mod:`xai.metrics.registry`.
METRICS = (
    QualityMetric(
        name="max_sensitivity_error",
        function=max_sensitivity_error,
        higher_is_better=False,
        category="robustness",
        reference="https://arxiv.org/abs/1901.09392",
        requires=("explain",),
        token_ids=False,
        summary="largest relative change of the attribution under small input noise (captum)",
    ),
)
