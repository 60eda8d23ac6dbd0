"""The built-in methods with their own options, on images and on a table.

Run: python docs/examples/explainers_options.py
"""

import torch
from torch import nn

import xai

torch.manual_seed(0)
cnn = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
)  # fmt: skip
images = torch.rand(2, 3, 24, 24)

# Integrated Gradients: steps, a baseline, rows per pass (chosen automatically when omitted)
ig = xai.explain(cnn, images, method="integrated_gradients", n_steps=64, baselines=0.5)
print("IG params:", {k: v for k, v in ig.params.items() if k != "output"})

# Grad-CAM: a layer by dotted name (or None: the last layer with a spatial output)
cam = xai.explain(cnn, images, method="gradcam", layer="2")
print("Grad-CAM layer:", cam.extras["layer"], "map", tuple(cam.attributions.shape))

# SHAP: expected gradients against a background set, seeded
background = torch.rand(16, 3, 24, 24)
sv = xai.explain(cnn, images, method="shap", background=background, nsamples=100, seed=1)
print("SHAP expected value:", sv.extras["expected_value"])

# LIME: superpixels (SLIC by default), samples, large model batches
lime = xai.explain(cnn, images, method="lime", num_samples=500, seed=1)
print("LIME segments per image:", [int(s.max()) + 1 for s in lime.extras["segments"]])

# SmoothGrad: noisy copies, noise as a fraction of each image's range (or stdevs=), seeded
smooth = xai.explain(cnn, images, method="smoothgrad", nsamples=32, stdev_spread=0.1, seed=1)
print("SmoothGrad noise per image:", smooth.extras["stdevs"])

# Occlusion: a window over every channel moved across the image, occluded with a baseline
occluded = xai.explain(
    cnn, images, method="occlusion", sliding_window_shapes=(3, 6, 6), strides=3, baselines=0.5
)
print("Occlusion windows:", occluded.extras["windows"], "strides", occluded.params["strides"])

# Tabular: Kernel SHAP and LIME with training rows as background
mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
rows, train_rows = torch.randn(3, 8), torch.randn(100, 8)
kernel = xai.explain(
    mlp, rows, method="shap", algorithm="kernel", background=train_rows[:20], seed=0
)
lime_tab = xai.explain(mlp, rows, method="lime", background=train_rows, seed=0)
print("Kernel SHAP:", kernel.attributions[0])
print("LIME tabular:", lime_tab.attributions[0])


# Models that return tuples, dicts or objects: say where the logits are
class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = mlp

    def forward(self, x: torch.Tensor) -> dict:
        return {"logits": self.body(x), "embedding": x}


expl = xai.explain(TwoHeads(), rows, output="logits")
print("dict output explained:", tuple(expl.attributions.shape))
