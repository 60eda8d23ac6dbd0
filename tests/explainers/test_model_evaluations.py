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
