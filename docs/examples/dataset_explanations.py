"""Explain whole datasets: streamed to disk, resumed, read back batch by batch, summarised.

Run: python docs/examples/dataset_explanations.py [OUT_DIR]
"""

import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

import reference_models
import xai
import xai.viz

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

# --- a tabular model's whole test set, one shard per batch of 32
ref = reference_models.load("breast_cancer_mlp")
x_test, y_test = ref.data["test"].tensors[:2]
run = xai.explain_dataset(
    ref.model,
    (x_test, y_test),
    "integrated_gradients",
    out=out / "runs" / "ig",
    target="label",
    batch_size=32,
    feature_names=ref.info.feature_names,
    n_steps=32,
)
print(run)  # DatasetExplanation('.../runs/ig', method='integrated_gradients', 113/113 samples, ...)
assert run.complete and run.n_samples == len(x_test)

# the same call again resumes: every batch is on disk, nothing is explained again
again = xai.explain_dataset(
    ref.model, (x_test, y_test), "integrated_gradients", out=out / "runs" / "ig",
    target="label", batch_size=32, feature_names=ref.info.feature_names, n_steps=32,
)  # fmt: skip
assert len(again) == len(run)

# read it back later, one batch at a time (each an xai.Explanation)
run = xai.DatasetExplanation.load(out / "runs" / "ig")
for expl in run:
    print(expl.extras["indices"][0].item(), tuple(expl.attributions.shape))
print("sample 7:", run.sample(7))

# dataset-level results
summary = run.summary(top_k=3)
top = summary.importance.argsort(descending=True)[:3]
print("most important features:", [summary.feature_names[i] for i in top])
print("accuracy:", round(summary.accuracy, 4), "samples per class:", summary.class_counts)
summary.plot().savefig(out / "dataset_summary_tabular.png", dpi=100)

# --- an image model through a DataLoader (its batch size is the run's)
digits = reference_models.load("digits_cnn")
loader = DataLoader(digits.data["test"], batch_size=64, shuffle=False)
run = xai.explain_dataset(digits.model, loader, "gradcam", out=out / "runs" / "gradcam")
summary = run.summary()
xai.viz.plot_class_maps(summary).savefig(out / "dataset_class_maps.png", dpi=100)
xai.viz.plot_confidence_examples(summary, "least").savefig(out / "dataset_least.png", dpi=100)
print(summary.kind, tuple(summary.class_maps.shape), "least confident:",
      summary.least_confident.extras["indices"].tolist())  # fmt: skip

# --- a seeded method: each sample gets its own seed, so the batch size changes nothing
part = Subset(digits.data["test"], range(24))
small = xai.explain_dataset(digits.model, part, "smoothgrad", out=out / "runs" / "sg8",
                            batch_size=8, seed=0, nsamples=4)  # fmt: skip
large = xai.explain_dataset(digits.model, part, "smoothgrad", out=out / "runs" / "sg24",
                            batch_size=24, seed=0, nsamples=4)  # fmt: skip
assert torch.equal(torch.cat([e.attributions for e in small]), next(iter(large)).attributions)
