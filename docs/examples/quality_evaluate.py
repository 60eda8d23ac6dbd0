"""Is the explanation right? Score an Integrated Gradients explanation of shapes_cnn.

Run: python docs/examples/quality_evaluate.py [OUT_DIR]
"""

import json
import sys
from pathlib import Path

import reference_models
import xai
import xai.viz

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

ref = reference_models.load("shapes_cnn")
images, labels, masks = ref.data["test"].tensors  # shapes_cnn carries ground-truth masks
images, masks = images[:8], masks[:8]

expl = xai.explain(ref.model, images, method="integrated_gradients", n_steps=32)
report = xai.evaluate_explanation(ref.model, expl, masks=masks)
print(report)  # every applicable metric, its mean and its direction

print("per-sample pointing game:", report["pointing_game_score"].tolist())
print("mean deletion AUC:", round(report.means["deletion_auc"], 3))

# only some metrics, with options
quick = xai.evaluate_explanation(
    ref.model,
    expl,
    metrics=["deletion_auc", "insertion_auc", "relevance_mass_score"],
    masks=masks,
    options={"deletion_auc": {"steps": 10, "score": "logit"}},
)
print(quick.means)

# the functional core: every metric is a plain function on tensors
from xai.metrics import pointing_game_score, sparseness_score  # noqa: E402

print(pointing_game_score(expl.attributions, masks), sparseness_score(expl.attributions))

(out / "quality_report.json").write_text(json.dumps(report.to_dict(), indent=1))
xai.viz.plot_perturbation_curves(report).savefig(out / "deletion_insertion.png")
print("wrote", out / "quality_report.json", "and", out / "deletion_insertion.png")
