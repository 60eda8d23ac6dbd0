"""Rows each method passes through the model: no pass is repeated.

The forward pass that resolves the target also serves the methods that need ``f(x)``
(Integrated Gradients' convergence delta, Kernel SHAP's efficiency constraint).
"""

from __future__ import annotations

import torch

import xai
from tests.explainers import models


def test_integrated_gradients_evaluates_the_inputs_and_a_shared_baseline_once() -> None:
    model, x = models.small_mlp(), models.rows(4)
    expl = xai.explain(model, x, n_steps=10)
    # f(x) for the target and the delta (4), the path (4 x 10), the shared zero baseline (1)
    assert expl.extras["model_evaluations"] == 4 + 40 + 1
    per_sample = xai.explain(model, x, n_steps=10, baselines=torch.zeros(4, 6))
    assert per_sample.extras["model_evaluations"] == 4 + 40 + 4
    torch.testing.assert_close(
        expl.extras["convergence_delta"], per_sample.extras["convergence_delta"]
    )


def test_kernel_shap_evaluates_the_inputs_once() -> None:
    model, x, background = models.small_mlp(), models.rows(3), models.rows(5)
    expl = xai.explain(
        model, x, method="shap", algorithm="kernel", background=background, nsamples=62, seed=0
    )
    # f(x) (3), the background (5), every coalition of 6 features for each sample on every
    # background row (3 x 62 x 5)
    assert expl.extras["model_evaluations"] == 3 + 5 + 3 * 62 * 5


def test_kernel_shap_rows_per_pass_are_bounded() -> None:
    """Whole coalition sets of several samples per pass, or part of one sample's."""
    model, x, background = models.small_mlp(), models.rows(4), models.rows(5)
    for batch_size in (100, 700):  # 20 or 140 coalitions of 62 per pass
        sizes: list[int] = []
        handle = model.register_forward_hook(
            lambda m, i, o, sizes=sizes: sizes.append(i[0].shape[0])
        )
        try:
            expl = xai.explain(
                model,
                x,
                method="shap",
                algorithm="kernel",
                background=background,
                nsamples=62,
                seed=0,
                batch_size=batch_size,
            )
        finally:
            handle.remove()
        assert max(sizes) <= batch_size
        assert sum(sizes) == 4 + 5 + 4 * 62 * 5
        reference = xai.explain(
            model, x, method="shap", algorithm="kernel", background=background, nsamples=62, seed=0
        )
        torch.testing.assert_close(expl.attributions, reference.attributions)


def test_kernel_shap_default_rows_per_pass_on_cpu() -> None:
    model, x = models.small_mlp(features=3), models.rows(1, features=3)
    expl = xai.explain(model, x, method="shap", algorithm="kernel", seed=0)
    assert expl.params["batch_size"] == 4096
