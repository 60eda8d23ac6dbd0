"""Reference models: load one, look at its data and info, explain it, check localisation.

Run: python docs/examples/reference_models_load.py [OUT_DIR]
"""

import sys
from pathlib import Path

import reference_models
import xai

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

print(reference_models.available())

ref = reference_models.load("shapes_cnn")  # shipped weights: instant, nothing downloaded
print(ref.info.task, ref.info.class_names, ref.info.input_shape)
print("shipped test metrics:", ref.info.metrics["test"])

images, labels, masks = ref.data["test"].tensors  # shapes_cnn carries ground-truth masks
print(images.shape, labels.shape, masks.shape, masks.dtype)

# Grad-CAM's hottest pixel should fall on the object (the "pointing game")
expl = xai.explain(ref.model, images[:16], method="gradcam")
peak = expl.heatmap().flatten(1).argmax(1, keepdim=True)
hits = masks[:16, 0].flatten(1).gather(1, peak).float().mean()
print(f"pointing game on 16 test images: {hits:.2f}")
expl.plot(0).savefig(out / "shapes_gradcam.png", dpi=100)

tabular = reference_models.load("breast_cancer_mlp")
print(tabular.info.feature_names[:3], "...")
