"""Models: how well the chosen model classifies its test data."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboards import downloads, state
from dashboards.text_input import TextSubject
from xai import viz

key, subject = state.current()
report = state.classification(key, subject)

st.title(f"Model: {subject.name}")
if isinstance(subject, TextSubject):
    vocabulary = (
        f"a vocabulary of {len(subject.vocabulary)} tokens"
        if subject.vocabulary is not None
        else "no vocabulary (tokens shown as ids)"
    )
    shape = f"token ids of length {subject.length}, {vocabulary}"
else:
    shape = f"input {tuple(subject.inputs.shape[1:])}"
st.caption(
    f"{subject.info.get('task', 'classification')} · {report.num_classes} classes · "
    f"{report.n_samples} test samples · {shape} · {subject.info.get('source', '')}"
)


def _shown(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


columns = st.columns(5)
headline = [
    ("Accuracy", report.accuracy, "fraction of correct top-1 predictions (higher is better)"),
    ("F1 (macro)", report.f1, "F1 averaged over classes (higher is better)"),
    ("ROC-AUC", report.roc_auc, "one-vs-rest, macro-averaged for multiclass (higher is better)"),
    ("Log loss", report.log_loss, "mean negative log-likelihood (lower is better)"),
    ("ECE", report.expected_calibration_error, "expected calibration error (lower is better)"),
]
for column, (label, value, help_text) in zip(columns, headline, strict=True):
    column.metric(label, _shown(value), help=help_text)
stem = downloads.file_stem(subject.name)


def figure(title: str, png: bytes, name: str) -> None:
    """A figure and, under it, its PNG for download."""
    st.image(png)
    downloads.button(
        f"{title} (PNG)", png, f"{stem}_{name}.png", downloads.PNG, key=f"download_{name}"
    )


st.subheader("Per class")
per_class = pd.DataFrame(report.per_class())
st.dataframe(
    per_class,
    hide_index=True,
    column_config={
        name: st.column_config.NumberColumn(format="%.4f")
        for name in ("precision", "recall", "f1", "roc_auc")
    },
)
left, right = st.columns(2)
with left:
    downloads.button(
        "Per-class table (CSV)",
        downloads.csv_bytes(per_class),
        f"{stem}_per_class.csv",
        downloads.CSV,
        key="download_per_class",
    )
with right:
    downloads.button(
        "Metrics (CSV)",
        downloads.csv_bytes(
            pd.DataFrame(
                {
                    "metric": [label for label, _, _ in headline] + ["test samples"],
                    "value": [value for _, value, _ in headline] + [report.n_samples],
                }
            )
        ),
        f"{stem}_metrics.csv",
        downloads.CSV,
        key="download_metrics",
        help="The five metrics above, on the model's test data.",
    )

left, right = st.columns(2)
with left:
    st.subheader("Confusion matrix")
    normalize = st.toggle("Row fractions", value=False, help="Each row divided by its class size.")
    figure(
        "Confusion matrix",
        state.figure_png(
            ("confusion", key, normalize),
            lambda: viz.plot_confusion_matrix(report, normalize=normalize),
        ),
        "confusion_matrix" + ("_fractions" if normalize else ""),
    )
with right:
    st.subheader("ROC curves")
    figure("ROC curves", state.figure_png(("roc", key), lambda: viz.plot_roc_curves(report)), "roc")

left, right = st.columns(2)
with left:
    st.subheader("Calibration")
    figure(
        "Reliability diagram",
        state.figure_png(("calibration", key), lambda: viz.plot_reliability_diagram(report)),
        "calibration",
    )
with right:
    st.subheader("Training history")
    if subject.history is not None and len(subject.history):
        figure(
            "Training history",
            state.figure_png(("history", key), lambda: viz.plot_training_curves(subject.history)),
            "history",
        )
        best = subject.history.best
        if best:
            st.caption(
                f"{len(subject.history)} epochs; best epoch {best['epoch']} "
                f"(monitor: {subject.history.monitor})."
            )
    else:
        st.info(
            "No training history for this model. `xai.fit(..., checkpoint=path)` writes one "
            "beside the weights (NAME.history.json)."
        )
