"""Memory stays bounded: chunk sizes do not grow with n_steps, samples or perturbations."""

from __future__ import annotations

import pytest
import torch

import xai
from tests.explainers import models


def rows_per_forward(model: torch.nn.Module, run) -> list[int]:  # type: ignore[no-untyped-def]
    sizes: list[int] = []
    handle = model.register_forward_hook(
        lambda module, inputs, output: sizes.append(inputs[0].shape[0])
    )
    try:
        run()
    finally:
        handle.remove()
    return sizes


@pytest.mark.parametrize("n_steps", [50, 600])
def test_integrated_gradients_rows_per_pass_do_not_grow_with_n_steps(n_steps: int) -> None:
    model, x = models.small_cnn(), models.images(3, size=32)
    sizes = rows_per_forward(model, lambda: xai.explain(model, x, n_steps=n_steps))
    budget = (
        xai.get_explainer("integrated_gradients", model)
        .explain(x[:1], target=0)
        .params["internal_batch_size"]
    )
    assert max(sizes) <= budget
    assert sum(sizes) >= x.shape[0] * n_steps  # every step was evaluated


@pytest.mark.parametrize("internal_batch_size", [16, 100])
def test_integrated_gradients_respects_internal_batch_size(internal_batch_size: int) -> None:
    model, x = models.small_mlp(), models.rows(10)
    sizes = rows_per_forward(
        model, lambda: xai.explain(model, x, n_steps=64, internal_batch_size=internal_batch_size)
    )
    assert max(sizes) <= max(internal_batch_size, 10)  # the first pass sees the whole (small) batch


def test_shap_and_lime_rows_per_pass_are_bounded() -> None:
    model, x = models.small_cnn(), models.images(3)
    sizes = rows_per_forward(
        model, lambda: xai.explain(model, x, method="shap", nsamples=500, batch_size=128, seed=0)
    )
    assert max(sizes) <= 128
    sizes = rows_per_forward(
        model, lambda: xai.explain(model, x, method="lime", num_samples=500, batch_size=100, seed=0)
    )
    assert max(sizes) <= 100


@pytest.mark.gpu
def test_integrated_gradients_peak_cuda_memory_does_not_grow_with_n_steps() -> None:
    model, x = models.small_cnn().cuda(), models.images(8, size=64).cuda()
    peaks = []
    for n_steps in (50, 1000):
        torch.cuda.reset_peak_memory_stats()
        xai.explain(model, x, n_steps=n_steps)
        peaks.append(torch.cuda.max_memory_allocated())
    assert peaks[1] <= 1.1 * peaks[0]
