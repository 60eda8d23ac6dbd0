"""Integrated Gradients (Sundararajan et al., 2017, https://arxiv.org/abs/1703.01365).

The attributions are captum's ``IntegratedGradients`` with its default Gauss-Legendre rule (the
test suite checks equality to 1e-5), computed in chunks of (sample, step) rows with one
gradient of the summed target scores per chunk. captum differentiates each output row
separately (``torch.unbind``), which costs more than the model itself on small models.

The rule: up to 128 steps numpy's ``leggauss``, as captum computes it (the same numbers); above,
:func:`_legendre_rule`, O(n) in time and memory (captum's ``leggauss`` is O(n^2) in memory and
O(n^3) in time: 31 s for 6000 steps, a MemoryError for 10**9), equal to it within its rounding.
"""

from __future__ import annotations

import decimal
import functools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from xai._batching import (
    check_evaluations,
    check_rows_per_pass,
    chunk_rows,
    chunks,
    map_in_chunks,
)
from xai._model import ModelFunction, input_gradient
from xai._threads import one_blas_thread
from xai._validation import broadcast_reference, check_positive_int
from xai.explainers.base import EXPECTED_ZERO_ROWS, Explainer, Parameter, Target


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
    warns_on_zero = True
    token_options = {"embedding": None, "baseline_token": None}
    token_reference = "baselines"
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
        # every option is checked before the first model evaluation
        n_steps = check_positive_int("n_steps", params["n_steps"])
        check_evaluations(
            "n_steps",
            f"{n_steps:,} steps (one evaluation with gradient each)",
            n_steps,
            "Use fewer steps (50-300 are usual; extras['convergence_delta'] tells whether they "
            "suffice); internal_batch_size sets how many rows go through the model at once, "
            "not how many.",
        )
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
            check_rows_per_pass(
                "internal_batch_size",
                rows,
                inputs.shape[0] * n_steps,
                inputs.shape[1:],
                inputs.dtype,
                inputs.device,
            )
        params["internal_batch_size"] = rows
        outputs, target = request.from_model(function, inputs)

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
            score = function(points, rows=sample).gather(1, target[sample][:, None]).sum()
            gradient = input_gradient(score, points, self.name)
            gradient_sums.index_add_(0, sample, gradient * weights[step].view(shape))
        attributions = differences * gradient_sums
        # completeness error, as captum's compute_convergence_delta; f(x) is known already,
        # and a baseline shared by all samples is evaluated once
        end = outputs.gather(1, target[:, None]).squeeze(1)
        if function.pairs_rows:  # each sample's baseline runs with its own model_kwargs
            baselines = baselines.expand(n, *baselines.shape[1:])
        with torch.no_grad():
            start = map_in_chunks(function, baselines, rows)
        start = start.expand(n, -1).gather(1, target[:, None]).squeeze(1)
        delta = attributions.flatten(1).sum(1) - (end - start)
        # an input equal to its baseline has attributions zero by definition
        same = differences.flatten(1).eq(0).all(dim=1)
        return attributions, {"convergence_delta": delta, EXPECTED_ZERO_ROWS: same}


#: Up to this many steps the rule is numpy's ``leggauss`` itself, as captum computes it.
_LEGGAUSS_STEPS = 128
#: Rules up to this many steps are cached (at most 32 of them: 16 MiB).
_CACHED_STEPS = 2**15
_BLOCK = 2**16  # nodes per block of the asymptotic series (bounds its temporaries)
_SERIES_FROM = 40.0  # the series is used where 2 n sin(theta) >= this (all but ~6 nodes a side)
_MAX_TERMS = 30


def _legendre_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n``-point Gauss-Legendre rule on ``[-1, 1]``: nodes (ascending) and weights, in
    O(n) time and memory, to double precision (nodes within 1e-16, weights within ~1e-15
    relative: numpy's ``leggauss`` loses 1e-8 of its end weights at n = 1000).

    The nodes are ``cos(theta_k)``, found by Newton's method in ``theta`` from Tricomi's
    estimate. Away from the ends ``P_n(cos theta)`` is Stieltjes' asymptotic series
    (Szego, Orthogonal Polynomials, (8.21.14)) with its error bound
    ``C_n h_m / (2 sin theta)^(m + 1/2)``: a few terms reach double precision once
    ``2 n sin(theta) >= 40``. The few nodes nearer the ends (6 per side, whatever ``n``) use
    the terminating series of ``P_n`` in ``sin^2(theta / 2)`` in 50-digit decimal arithmetic.
    The weights are ``2 / (d/dtheta P_n(cos theta))^2`` at the nodes. ``n >= 2``.
    """
    half = (n + 1) // 2  # the nodes with theta <= pi/2 (x >= 0); the rest by symmetry
    theta = np.empty(half)
    weights = np.empty(half)
    # C_n = (4 / pi) prod_j j / (j + 1/2), as a sum of logs (accurate to a few 1e-16)
    log_c = 0.0
    for start in range(1, n + 1, _BLOCK):
        j = np.arange(start, min(start + _BLOCK, n + 1), dtype=np.float64)
        log_c -= float(np.log1p(0.5 / j).sum())
    c_n = 4 / math.pi * math.exp(log_c)
    k = np.arange(1, half + 1, dtype=np.float64)
    guess = np.arccos(
        (1 - 1 / (8 * n**2) + 1 / (8 * n**3)) * np.cos(math.pi * (4 * k - 1) / (4 * n + 2))
    )
    edge = int(np.count_nonzero(2 * n * np.sin(guess) < _SERIES_FROM))
    for start in range(edge, half, _BLOCK):
        part = slice(start, min(start + _BLOCK, half))
        t = guess[part]
        terms = _series_terms(n, math.sin(float(t[0])))
        for _ in range(2):
            value, slope = _stieltjes(n, t, terms)
            t = t - value / slope
        _, slope = _stieltjes(n, t, terms)
        theta[part] = t
        weights[part] = 2 / (c_n * slope) ** 2
    for i in range(edge):
        angle = float(guess[i])
        for _ in range(4):
            p_n, d_n = _near_end(n, angle)
            angle -= p_n / d_n
        _, d_n = _near_end(n, angle)
        theta[i], weights[i] = angle, 2 / d_n**2
    if n % 2:
        theta[-1] = math.pi / 2  # the middle node, 0
    x = np.cos(theta)  # descending from ~1
    odd = n % 2
    return (
        np.concatenate([-x, x[::-1][odd:]]),
        np.concatenate([weights, weights[::-1][odd:]]),
    )


def _series_terms(n: int, sin_min: float) -> int:
    """Terms of Stieltjes' series that reach double precision where ``sin(theta) >= sin_min``."""
    h, m = 1.0, 0
    while m < _MAX_TERMS:
        m += 1
        h *= (m - 0.5) ** 2 / (m * (n + m + 0.5)) / (2 * sin_min)
        if h < 2.0**-60:
            break
    return m


def _stieltjes(n: int, theta: np.ndarray, terms: int) -> tuple[np.ndarray, np.ndarray]:
    """``P_n(cos theta) / C_n`` and its derivative in ``theta``: ``sum_m h_m cos(a_m) /
    (2 sin theta)^(m + 1/2)`` with ``a_m = (n + m + 1/2) theta - (m + 1/2) pi / 2`` and
    ``h_m = prod_{j <= m} (j - 1/2)^2 / (j (n + j + 1/2))``."""
    sin = np.sin(theta)
    cot = np.cos(theta) / sin
    ratio = 0.5 / sin
    scale = np.sqrt(ratio)
    value = np.zeros_like(theta)
    slope = np.zeros_like(theta)
    h = 1.0
    for m in range(terms):
        if m:
            h *= (m - 0.5) ** 2 / (m * (n + m + 0.5))
        angle = (n + m + 0.5) * theta - (m + 0.5) * (math.pi / 2)
        term = h * scale
        cos_a = np.cos(angle)
        value += term * cos_a
        slope -= term * ((n + m + 0.5) * np.sin(angle) + (m + 0.5) * cot * cos_a)
        scale *= ratio
    return value, slope


def _near_end(n: int, theta: float) -> tuple[float, float]:
    """``P_n(cos theta)`` and its derivative in ``theta`` near ``theta = 0`` (``n theta < 20``):
    ``sum_k (-n)_k (n + 1)_k / k!^2 s^k`` with ``s = sin^2(theta / 2)``, whose terms grow to
    ~1e7 before they cancel: summed with 50 digits."""
    with decimal.localcontext() as context:
        context.prec = 50
        s = decimal.Decimal(math.sin(theta / 2) ** 2)
        peak = n * math.sqrt(float(s))  # the terms shrink from about here on
        term = value = decimal.Decimal(1)
        slope = decimal.Decimal(0)
        tiny = decimal.Decimal("1e-45")
        k = 0
        while k < n:
            term *= decimal.Decimal((k - n) * (n + 1 + k)) / decimal.Decimal((k + 1) ** 2) * s
            k += 1
            value += term
            slope += k * term
            if k > peak and abs(term) < tiny:
                break
        # d/dtheta = d/ds * sin(theta) / 2
        return float(value), float(slope / s * decimal.Decimal(math.sin(theta) / 2))


@functools.lru_cache(maxsize=32)
def _cached_rule(n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _rule(n_steps)


def _rule(n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """captum's alphas and step sizes (float64, CPU): the rule scaled from ``[-1, 1]`` to
    ``[0, 1]``."""
    if n_steps <= _LEGGAUSS_STEPS:
        with one_blas_thread():  # a small eigenproblem; BLAS threads only slow it down
            nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    else:
        nodes, weights = _legendre_rule(n_steps)
    # captum: alphas 0.5 * (1 + x), step sizes 0.5 * w
    return torch.from_numpy(0.5 * (1 + nodes)), torch.from_numpy(0.5 * weights)


def _gauss_legendre(
    n_steps: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """captum's integration points and weights (its default rule), cached per ``n_steps``
    (up to 32768 steps), in the inputs' dtype (so the points fed to a float16 or float64 model
    have its dtype)."""
    alphas, weights = _cached_rule(n_steps) if n_steps <= _CACHED_STEPS else _rule(n_steps)
    return alphas.to(device, dtype), weights.to(device, dtype)
