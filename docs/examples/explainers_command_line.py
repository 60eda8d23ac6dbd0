"""``xai explain`` from the shell, and what it writes: explanations to load back, figures.

Run: python docs/examples/explainers_command_line.py [OUT_DIR]
(the same as: xai explain breast_cancer_mlp --method integrated_gradients --method shap
 --index 0,1 --target label --out OUT_DIR/explained)
"""

import sys
from pathlib import Path

import xai
from xai.cli import main

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output") / "explained"
arguments = ["explain", "breast_cancer_mlp", "--method", "integrated_gradients"]
arguments += ["--method", "shap", "--index", "0,1", "--target", "label", "--out", str(out)]
assert main(arguments) == 0

for path in sorted(out.iterdir()):
    print(path.name)
expl = xai.Explanation.load(out / "breast_cancer_mlp_shap.safetensors")
print(expl.method, expl.params["algorithm"], expl.params["seed"], tuple(expl.attributions.shape))
names = expl.extras["feature_names"]
top = expl.attributions[0].abs().argsort(descending=True)[:3]
print("sample 0, largest |SHAP|:", [names[i] for i in top])
