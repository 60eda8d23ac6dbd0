"""Compare methods on the same inputs: quality, cost and agreement, with a figure.

Run: python docs/examples/quality_compare.py [OUT_DIR]
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
images, labels, masks = ref.data["test"].tensors

comparison = xai.compare(
    ref.model,
    images[:4],
    masks=masks[:4],
    options={"lime": {"num_samples": 200}, "integrated_gradients": {"n_steps": 32}},
    # fewer perturbations and seeds than the defaults, to run in seconds
    metric_options={
        "max_sensitivity_error": {"n_perturb_samples": 2},
        "seed_stability_score": {"seeds": (0, 1)},
    },
)
print(comparison.table())
print(comparison.agreement_table("rank_correlation"))
print(comparison.agreement_table("top_k_overlap"))

xai.viz.plot_method_comparison(comparison, 0).savefig(out / "method_comparison.png")
(out / "comparison.json").write_text(json.dumps(comparison.to_dict(), indent=1))
print("wrote", out / "method_comparison.png")
