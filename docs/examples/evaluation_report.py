"""Evaluation: xai.evaluate on a reference model, the metrics, and the figures.

Run: python docs/examples/evaluation_report.py [OUT_DIR]
"""

import json
import sys
from pathlib import Path

import reference_models
import xai
import xai.viz
from xai.metrics import f1_score, roc_auc_score

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

ref = reference_models.load("digits_cnn")
report = xai.evaluate(ref.model, ref.data["test"], class_names=ref.info.class_names)
print(report.table())
print("macro F1", round(report.f1, 4), "weighted F1", round(report.f1_weighted, 4))
print("confusion matrix diagonal", report.confusion_matrix.diag().tolist())
json.dumps(report.to_dict())  # plain JSON

# the functional core works on any predictions
print("F1 from the functional API:", round(f1_score(report.y_true, report.y_pred), 4))
print("AUC from the functional API:", round(roc_auc_score(report.y_true, report.probabilities), 4))

xai.viz.plot_confusion_matrix(report).savefig(out / "confusion_matrix.png", dpi=100)
xai.viz.plot_roc_curves(report).savefig(out / "roc_curves.png", dpi=100)
xai.viz.plot_reliability_diagram(report).savefig(out / "reliability.png", dpi=100)
print("wrote figures to", out)
