"""Sanity checks: cascading model randomization, data randomization, seed stability.

Run: python docs/examples/quality_sanity.py [OUT_DIR]
"""

import sys
from pathlib import Path

import torch

import reference_models
import xai
import xai.viz
from xai.metrics import (
    data_randomization_check,
    model_randomization_check,
    seed_stability_score,
)

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

ref = reference_models.load("shapes_cnn")
images = ref.data["test"].tensors[0][:8]

# 1. Model-parameter randomization (Adebayo et al., 2018), on a copy of the model.
result = model_randomization_check(ref.model, images, "integrated_gradients", n_steps=16)
print(result.verdict)
means = result.means()["rank_correlation"]
print(dict(zip(result.steps, [round(v, 2) for v in means], strict=True)))
xai.viz.plot_randomization(result).savefig(out / "model_randomization.png")


# An "explanation" that ignores the model fails the check: an edge detector of the input.
def edges(model, inputs, target):
    grey = inputs.mean(dim=1, keepdim=True)
    kernel = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    gx = torch.nn.functional.conv2d(grey, kernel[None, None], padding=1)
    gy = torch.nn.functional.conv2d(grey, kernel.T[None, None], padding=1)
    return (gx**2 + gy**2).sqrt().expand_as(inputs)


print(model_randomization_check(ref.model, images, edges).verdict)

# 2. Data randomization: retrain a copy on shuffled labels with xai.fit (a short budget here).
mlp = reference_models.load("breast_cancer_mlp")
features, labels = mlp.data["train"].tensors[:2]
rows = mlp.data["test"].tensors[0][:32]
shuffled = data_randomization_check(
    mlp.model, (features, labels), rows, "integrated_gradients", epochs=3, n_steps=16
)
print(shuffled.verdict)


# 3. Seed stability of a stochastic method.
def lime(inputs, target, seed=None):
    return xai.explain(
        mlp.model, inputs, "lime", target=target, seed=seed, num_samples=500
    ).attributions


target = xai.explain(mlp.model, rows[:8], "integrated_gradients").target
print("LIME seed stability:", seed_stability_score(lime, rows[:8], target, seeds=(0, 1, 2)).mean())
