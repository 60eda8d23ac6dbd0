"""Getting started: explain a small image classifier with every method.

Run: python docs/examples/getting_started.py [OUT_DIR]
"""

import sys
from pathlib import Path

import torch
from torch import nn

import xai

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
)  # fmt: skip
images = torch.rand(4, 1, 32, 32)

print(xai.available_explainers())
for method in ["integrated_gradients", "gradcam", "shap", "lime"]:
    options = {"seed": 0} if method in ("shap", "lime") else {}
    expl = xai.explain(model, images, method=method, **options)
    print(
        f"{method:22s} attributions {tuple(expl.attributions.shape)}  target {expl.target.tolist()}"
    )
    expl.plot(0).savefig(out / f"getting_started_{method}.png")

# Configure once, reuse; save and load without pickle.
explainer = xai.get_explainer("integrated_gradients", model, n_steps=32)
expl = explainer.explain(images, target=3)
expl.save(out / "ig.safetensors")
again = xai.Explanation.load(out / "ig.safetensors")
assert torch.equal(again.attributions, expl.attributions)
print("convergence delta:", expl.extras["convergence_delta"])
