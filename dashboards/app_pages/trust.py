"""Trust: how faithful, localized, stable and sane the explanations are.

A text model's samples go to every metric with their attention mask (``model_kwargs``), and
its keyword masks (the tokens that decide the class) serve the localization metrics. A
computation the library refuses (a method or metric that does not apply) shows its message.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import downloads, state, text_input
from dashboards.text_input import TextSubject
from xai import viz
from xai.evaluation.comparison import Comparison, compare
from xai.evaluation.quality import evaluate_explanation
from xai.explainers import explainer_class
from xai.metrics import get_quality_metric, quality_metrics
from xai.metrics.sanity import model_randomization_check

key, subject = state.current()
report = state.classification(key, subject)
n_samples = len(subject.labels)
methods_available = state.offered_methods(subject)
request = st.session_state.get("explain_request") or {}

st.title("How far to trust the explanations")

index = min(int(st.session_state.get(state.SAMPLE_KEY, 0)), n_samples - 1)
state.initial(
    "trust_methods",
    [
        m
        for m in request.get(
            "methods",
            state.default_methods(subject, methods_available)
            if subject.is_text
            else methods_available,
        )
        if m in methods_available
    ],
    lambda chosen: set(chosen) <= set(methods_available),
)
methods = st.multiselect("Methods", methods_available, key="trust_methods")
if not methods:
    st.info("Choose one or more methods.")
    st.stop()
metric_choices = [
    name
    for name, metric in quality_metrics().items()
    if metric.default
    and metric.category != "agreement"
    and (metric.category != "localization" or subject.masks is not None)
]
state.initial(
    "trust_metrics",
    [n for n in metric_choices if quality_metrics()[n].category != "robustness"],
    lambda chosen: set(chosen) <= set(metric_choices),
)
metrics = st.multiselect(
    "Metrics",
    metric_choices,
    key="trust_metrics",
    help="Robustness metrics (max sensitivity, seed stability) explain every sample several "
    "times more: seconds for LIME and SHAP. Localization metrics need ground-truth masks.",
)
if not metrics:
    st.info("Choose one or more metrics.")
    st.stop()
options = {m: dict(request.get("options", {}).get(m, {})) for m in methods}
for method in methods:
    if explainer_class(method).stochastic:
        options[method].setdefault("seed", 0)


def with_inputs(method: str, indices: list[int]) -> dict[str, Any]:
    """The method's options for the test samples ``indices``: a text model's attention mask
    goes with them (not part of the cache keys: it is a function of the samples)."""
    kwargs = subject.forward_kwargs(indices) if subject.is_text else {}
    return {**options[method], **({"model_kwargs": kwargs} if kwargs else {})}


def refused(what: str, error: Exception) -> None:
    """What the library said when it refused a computation (shown, not raised)."""
    st.error(f"{what}: {error}")


def direction(metric: str) -> str:
    return "↑" if get_quality_metric(metric).higher_is_better else "↓"


def metric_table(reports: dict[str, Any]) -> pd.DataFrame:
    """Methods as rows, metrics (with ↑/↓) as columns; NaN where a metric does not apply."""
    names: list[str] = []
    for quality in reports.values():
        names += [n for n in quality.values if n not in names]
    rows = []
    for method, quality in reports.items():
        means = quality.means
        rows.append(
            {"method": method, **{f"{n} {direction(n)}": means.get(n, math.nan) for n in names}}
        )
    return pd.DataFrame(rows).set_index("method")


stem = downloads.file_stem(subject.name)


def table_download(label: str, table: pd.DataFrame, name: str) -> None:
    downloads.button(
        label, downloads.csv_bytes(table, index=True), f"{stem}_{name}.csv", downloads.CSV,
        key=f"download_{name}",
    )  # fmt: skip


def figure(column: Any, png: bytes, caption: str, name: str) -> None:
    """A figure with its caption and, under it, its PNG for download."""
    column.image(png, caption=caption)
    with column:
        downloads.button(
            "PNG", png, f"{stem}_{name}.png", downloads.PNG, key=f"download_{name}",
            help=f"{caption} as a PNG file",
        )  # fmt: skip


# --- this sample ------------------------------------------------------------------------------
st.header(f"Sample #{index}")
st.caption("The sample chosen on the Explain page, explained for its predicted class.")
if isinstance(subject, TextSubject):
    st.text(text_input.sentence(subject, index))  # plain text: tokens are not Markdown
target = int(report.y_pred[index])
masks = state.sample_masks(subject, [index])
sample_reports = {}
progress = None
for step, method in enumerate(methods):
    quality_key = (
        "quality", key, index, method, state.option_key(options[method]), target, *metrics
    )  # fmt: skip
    if progress is None and not state.is_cached(quality_key):
        progress = st.progress(0.0, text="Evaluating ...")
    if progress is not None:
        progress.progress(step / len(methods), text=f"Evaluating {method} ...")
    try:
        explanation = state.explanation(key, subject, index, method, options[method], target)
        sample_reports[method] = state.cached(
            quality_key,
            lambda explanation=explanation: evaluate_explanation(
                subject.model, explanation, metrics, masks=masks
            ),
        )
    except (ValueError, TypeError) as error:
        refused(method, error)
if progress is not None:
    progress.empty()
if sample_reports:
    sample_table = metric_table(sample_reports)
    st.dataframe(sample_table, column_config=None)
    table_download("Metrics of this sample (CSV)", sample_table, f"quality_sample{index}")
    st.caption(
        "↑ higher is better, ↓ lower is better. Empty cells: the metric does not apply to the method "
        "(e.g. completeness for Grad-CAM) or needs ground-truth masks the data lacks."
    )
    curve_methods = [m for m, r in sample_reports.items() if r.curves]
    if curve_methods:
        st.subheader("Deletion and insertion curves")
        columns = st.columns(min(2, len(curve_methods)))
        for position, method in enumerate(curve_methods):
            figure(
                columns[position % len(columns)],
                state.figure_png(
                    ("curves", key, index, method, state.option_key(options[method]), target),
                    lambda method=method: viz.plot_perturbation_curves(sample_reports[method], 0),
                ),
                method,
                f"curves_sample{index}_{method}",
            )

# --- a set of samples -------------------------------------------------------------------------
st.header("Over a set of samples")
compare_limit = min(64, n_samples)
state.initial("compare_count", min(4, compare_limit), lambda c: 2 <= c <= compare_limit)
with st.form("compare_settings"):
    count = st.slider(
        "Samples (the first ones of the test data)", 2, compare_limit, key="compare_count"
    )
    run_compare = st.form_submit_button("Compare methods")
compare_key = (
    "compare",
    key,
    count,
    tuple(methods),
    tuple(state.option_key(options[m]) for m in methods),
    tuple(metrics),
)
if run_compare or state.is_cached(compare_key):
    indices = list(range(count))
    comparison: Comparison | None
    try:
        comparison = state.cached_with_progress(
            compare_key,
            "Comparing ...",
            lambda progress: compare(
                subject.model,
                subject.inputs[indices],
                methods,
                masks=state.sample_masks(subject, indices),
                metrics=metrics,
                options={m: with_inputs(m, indices) for m in methods},
                progress=progress,
            ),
        )
    except (ValueError, TypeError) as error:
        refused("Comparison", error)
        comparison = None
    if comparison is not None:
        comparison_table = metric_table(comparison.reports)
        st.dataframe(comparison_table)
        table_download("Comparison (CSV)", comparison_table, f"comparison_{count}_samples")
        st.caption(
            f"Means over {count} samples. Time to explain them: "
            + ", ".join(f"{m} {1000 * s:.0f} ms" for m, s in comparison.seconds.items())
        )
        curve_methods = [m for m, r in comparison.reports.items() if r.curves]
        if curve_methods:
            with st.expander(
                "Deletion and insertion curves: mean and 10-90% band over the samples"
            ):
                columns = st.columns(min(2, len(curve_methods)))
                for position, method in enumerate(curve_methods):
                    figure(
                        columns[position % len(columns)],
                        state.figure_png(
                            ("set_curves", method, *compare_key),
                            lambda method=method: viz.plot_perturbation_curves(
                                comparison.reports[method]
                            ),
                        ),
                        method,
                        f"curves_{count}_samples_{method}",
                    )
        if len(methods) > 1:
            left, right = st.columns(2)
            figure(
                left,
                state.figure_png(
                    ("agreement", *compare_key),
                    lambda: viz.plot_agreement_matrix(comparison, "rank_correlation"),
                ),
                "Agreement between methods: Spearman rank correlation of |attribution|",
                "agreement_rank_correlation",
            )
            figure(
                right,
                state.figure_png(
                    ("agreement_topk", *compare_key),
                    lambda: viz.plot_agreement_matrix(comparison, "top_k_overlap"),
                ),
                f"Agreement: overlap of the top {comparison.top_k} positions",
                "agreement_top_k_overlap",
            )

# --- sanity check -----------------------------------------------------------------------------
st.header("Sanity check: model randomisation")
st.caption(
    "Adebayo et al. (2018): re-initialise the layers from the output down; an explanation "
    "that depends on what the model learned must change. It passes when the rank correlation "
    "with the original explanation ends below the threshold."
)
sanity_limit = min(16, n_samples)
state.initial("sanity_method", methods[0], methods.__contains__)
state.initial("sanity_count", min(4, sanity_limit), lambda c: 1 <= c <= sanity_limit)
with st.form("sanity_settings"):
    sanity_method = st.selectbox("Method", methods, key="sanity_method")
    sanity_count = st.slider("Samples", 1, sanity_limit, key="sanity_count")
    run_sanity = st.form_submit_button("Run the check")
sanity_key = ("sanity", key, sanity_method, sanity_count, state.option_key(options[sanity_method]))
if run_sanity or state.is_cached(sanity_key):
    indices = list(range(sanity_count))
    try:
        result = state.cached_with_progress(
            sanity_key,
            "Randomising layers ...",
            lambda progress: model_randomization_check(
                subject.model,
                subject.inputs[indices],
                sanity_method,
                progress=progress,
                **with_inputs(sanity_method, indices),
            ),
        )
    except (ValueError, TypeError) as error:
        refused("Sanity check", error)
        st.stop()  # the last section of the page
    (st.success if result.passed else st.error)(result.verdict)
    png = state.figure_png(("randomization", *sanity_key), lambda: viz.plot_randomization(result))
    st.image(png)
    downloads.button(
        "Sanity check (PNG)", png, f"{stem}_randomization_{sanity_method}.png", downloads.PNG,
        key="download_randomization",
    )  # fmt: skip
