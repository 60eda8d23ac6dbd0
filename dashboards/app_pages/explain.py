"""Explain: one sample, its prediction, and the attributions of the chosen methods."""

from __future__ import annotations

import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import state
from xai.evaluation.inspection import SAMPLE_SELECTIONS, class_ranking, select_samples
from xai.explainers import explainer_class
from xai.explainers.parameters import applicable_methods, tunable_parameters
from xai.viz import attribution_scale, input_image, overlay_image

key, subject = state.current()
report = state.classification(key, subject)
n_samples = len(subject.labels)
predicted = report.y_pred

st.title("Explain a prediction")

# --- which sample -----------------------------------------------------------------------------
SELECTION_LABELS = dict(
    zip(SAMPLE_SELECTIONS, ("by index", "misclassified", "least confident"), strict=True)
)


def describe(i: int) -> str:
    confidence = float(report.probabilities[i].max())
    return (
        f"#{i}: true {subject.class_name(int(subject.labels[i]))}, predicted "
        f"{subject.class_name(int(predicted[i]))} ({confidence:.2f})"
    )


index = min(int(st.session_state.get(state.SAMPLE_KEY, 0)), n_samples - 1)
by = st.radio(
    "Pick a sample",
    SAMPLE_SELECTIONS,
    format_func=SELECTION_LABELS.__getitem__,
    horizontal=True,
    key="sample_selection",
)
if by == "index":
    state.initial("sample_number", index, lambda value: 0 <= value < n_samples)
    index = int(
        st.number_input(
            f"Sample index (0 to {n_samples - 1})",
            min_value=0,
            max_value=n_samples - 1,
            step=1,
            key="sample_number",
        )
    )
else:
    candidates = select_samples(report.probabilities, report.y_true, by)[:200]
    if not candidates:
        st.info(f"No {SELECTION_LABELS[by]} samples in the test data; showing sample #{index}.")
    else:
        state.initial(
            "sample_choice",
            index if index in candidates else candidates[0],
            candidates.__contains__,
        )
        index = st.selectbox(
            f"{SELECTION_LABELS[by].capitalize()} samples (first {len(candidates)})",
            candidates,
            format_func=describe,
            key="sample_choice",
        )
st.session_state[state.SAMPLE_KEY] = index

# --- its prediction ---------------------------------------------------------------------------
ranking = class_ranking(report.probabilities[index], report.class_names)
true_class = int(subject.labels[index])
top_class, top_name, top_probability = ranking[0]
left, middle, right = st.columns([1, 1, 2])
if subject.is_image:
    left.image(input_image(subject.inputs[index]), caption=f"sample #{index}")
else:
    left.metric("Sample", f"#{index}")
middle.metric("True class", subject.class_name(true_class))
middle.metric(
    "Predicted",
    top_name,
    delta=f"{top_probability:.3f} · {'correct' if top_class == true_class else 'wrong'}",
    delta_color="normal" if top_class == true_class else "inverse",
)
top = ranking[:10]
right.bar_chart(
    pd.DataFrame({"class": [name for _, name, _ in top], "probability": [p for *_, p in top]}),
    x="class",
    y="probability",
    horizontal=True,
    sort="-probability",
    height=220,
)

# --- which explanation ------------------------------------------------------------------------
methods_available = applicable_methods(subject.inputs)
# Preselected: the first two deterministic methods (quick, no seed to choose), as the registry
# lists them: Grad-CAM and Integrated Gradients for images.
default_methods = [m for m in methods_available if not explainer_class(m).stochastic][:2]
default_methods = default_methods or methods_available[:1]
target_choices = ["predicted", "true", *range(report.num_classes)]

state.initial("methods", default_methods, lambda chosen: set(chosen) <= set(methods_available))
state.initial("target_choice", "predicted", target_choices.__contains__)
with st.form("explain_settings"):
    methods = st.multiselect(
        "Methods",
        methods_available,
        key="methods",
        help="Explanations of the same sample by several methods, side by side.",
    )
    target_choice = st.selectbox(
        "Class to explain",
        target_choices,
        format_func=lambda c: c if isinstance(c, str) else f"class {subject.class_name(c)}",
        key="target_choice",
    )
    options: dict[str, dict[str, Any]] = {}
    parameter_columns = st.columns(max(1, len(methods_available)))
    for column, method in zip(parameter_columns, methods_available, strict=False):
        with column:
            st.markdown(f"**{method}**")
            chosen: dict[str, Any] = {}
            parameters = state.cached(  # Grad-CAM's layers come from a traced forward pass
                ("parameters", key, method),
                lambda method=method: tunable_parameters(method, subject.model, subject.inputs[:1]),
            )
            for parameter in parameters:
                widget_key = f"{method}.{parameter.name}"
                state.initial(widget_key, parameter.default, parameter.accepts)
                if parameter.is_choice:
                    value = st.selectbox(
                        parameter.label, parameter.choices, key=widget_key, help=parameter.help
                    )
                else:
                    value = st.number_input(
                        parameter.label,
                        min_value=parameter.minimum,
                        max_value=parameter.maximum,
                        step=parameter.step,
                        key=widget_key,
                        help=parameter.help,
                    )
                chosen[parameter.name] = parameter.to_option(value)
            if explainer_class(method).stochastic:
                state.initial(f"{method}.seed", 0)
                chosen["seed"] = int(st.number_input("seed", min_value=0, key=f"{method}.seed"))
            options[method] = chosen
    submitted = st.form_submit_button("Explain", type="primary")

if submitted:
    st.session_state["explain_request"] = {
        "methods": list(methods),
        "options": options,
        "target": target_choice,
    }
request = st.session_state.get("explain_request")
if not request or not request["methods"]:
    st.info("Choose one or more methods and press **Explain**.")
    st.stop()

target = request["target"]
target = top_class if target == "predicted" else true_class if target == "true" else int(target)

# --- the explanations -------------------------------------------------------------------------
explanations = {}
seconds = {}
progress = None
for step, method in enumerate(request["methods"]):
    method_options = request["options"].get(method, {})
    cache_key = ("explain", key, index, method, state.option_key(method_options), target)
    if not state.is_cached(cache_key) and progress is None and len(request["methods"]) > 1:
        progress = st.progress(0.0, text="Explaining ...")
    if progress is not None:
        progress.progress(step / len(request["methods"]), text=f"Explaining with {method} ...")
    start = time.perf_counter()
    try:
        explanations[method] = state.explanation(
            key, subject, index, method, method_options, target
        )
    except (ValueError, TypeError) as error:
        st.error(f"{method}: {error}")
        continue
    seconds[method] = time.perf_counter() - start
if progress is not None:
    progress.empty()
if not explanations:
    st.stop()

st.subheader(f"Attributions for class {subject.class_name(target)}")
state.initial("shared_scale", False)
shared = st.toggle(
    "Shared colour scale",
    key="shared_scale",
    help="One scale for every map (compare magnitudes across methods); off: each map scaled "
    "to its own largest value (compare patterns).",
)
shown = list(explanations.values())
magnitude = attribution_scale(shown) if shared else None


def caption(method: str) -> str:
    explanation = explanations[method]
    took = explanation.extras.get("seconds", seconds[method])
    evaluations = explanation.extras.get("model_evaluations")
    scale = magnitude if magnitude is not None else attribution_scale([explanation])
    parts = [method, f"{1000 * float(took):.0f} ms"]
    if evaluations:
        parts.append(f"{evaluations} model evaluations")
    parts.append(f"scale ±{scale:.3g}")
    return " · ".join(parts)


if subject.is_image:
    columns = st.columns(len(explanations))
    for column, (method, explanation) in zip(columns, explanations.items(), strict=True):
        column.image(overlay_image(explanation, 0, magnitude=magnitude), caption=caption(method))
    st.caption(
        "Signed maps: red raises the class score, blue lowers it (diverging scale centred on "
        "zero). Non-negative maps (Grad-CAM) go from black (0) to yellow."
    )
else:
    names = subject.feature_names or [f"x{i}" for i in range(subject.inputs.shape[1])]
    values = subject.inputs[index].tolist()
    table = pd.DataFrame({"feature": names, "value": values})
    domain = magnitude or None
    columns = st.columns(min(2, len(explanations)))
    for position, (method, explanation) in enumerate(explanations.items()):
        attributions = explanation.attributions[0].detach().float().cpu().tolist()
        table[method] = attributions
        frame = table[["feature", "value"]].assign(attribution=attributions)
        frame = frame.reindex(frame["attribution"].abs().sort_values(ascending=False).index)
        frame = frame.head(15).assign(
            label=lambda f: f["feature"] + " = " + f["value"].map("{:.2f}".format)
        )
        scale = alt.Scale(domain=[-domain, domain]) if domain else alt.Undefined
        chart = (
            alt.Chart(frame, title=method)
            .mark_bar()
            .encode(
                x=alt.X("attribution:Q", scale=scale),
                y=alt.Y("label:N", sort=None, title=None),
                color=alt.condition(
                    "datum.attribution > 0", alt.value("#b2182b"), alt.value("#2166ac")
                ),
                tooltip=["feature", "value", "attribution"],
            )
        )
        column = columns[position % len(columns)]
        column.altair_chart(chart, width="stretch")
        column.caption(caption(method))
    st.caption("Red raises the class score, blue lowers it. Values as the model sees them.")
    with st.expander("All features"):
        st.dataframe(table, hide_index=True)
