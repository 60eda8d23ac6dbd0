"""Explain: one sample, its prediction, and the attributions of the chosen methods.

Images get overlays, tabular rows bar charts, and token ids (a text model) their tokens
highlighted by ``xai.viz.text_html`` (what ``Explanation.to_html`` returns: every token
HTML-escaped), for a test sample or a sentence the user types.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
import torch

from dashboards import downloads, state, text_input
from dashboards.single_input import (
    MAX_CSV_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    read_image,
    read_row,
    template_row,
)
from dashboards.text_input import TextSubject, listed_words, markdown_escaped
from xai import viz
from xai.errors import InputError
from xai.evaluation.inspection import SAMPLE_SELECTIONS, class_ranking, select_samples
from xai.explainers import explainer_class
from xai.explainers.parameters import tunable_parameters
from xai.viz import attribution_scale, input_image, overlay_image

key, subject = state.current()
report = state.classification(key, subject)
n_samples = len(subject.labels)
predicted = report.y_pred
text = subject if isinstance(subject, TextSubject) else None  # a text model: token ids
TYPED_KEY = f"typed_text.{key}"  # the sentence typed for this model (kept: a "." in the key)

st.title("Explain a prediction")

# --- which sample -----------------------------------------------------------------------------
SELECTIONS = (*SAMPLE_SELECTIONS, "dropped")
SELECTION_LABELS = dict(
    zip(
        SELECTIONS,
        (
            "by index",
            "misclassified",
            "least confident",
            "a sentence you type"
            if text is not None
            else "your own image"
            if subject.is_image
            else "your own row",
        ),
        strict=True,
    )
)


def describe(i: int) -> str:
    confidence = float(report.probabilities[i].max())
    return (
        f"#{i}: true {subject.class_name(int(subject.labels[i]))}, predicted "
        f"{subject.class_name(int(predicted[i]))} ({confidence:.2f})"
    )


def _forget_dropped() -> None:
    """The user removed the file from the drop zone: forget it (a page visit leaves it)."""
    if st.session_state.get("drop_file") is None:
        st.session_state.get(state.DROPPED_KEY, {}).pop(key, None)


def drop_input() -> tuple[str, torch.Tensor, str] | None:
    """The drop zone for one image or CSV row of the user's; returns ``(id, inputs (1, ...),
    caption)``, or None (nothing dropped yet, or a file refused with a message)."""
    spec = state.input_spec(key, subject)
    max_upload_mb, _ = state.upload_limits()
    if subject.is_image:
        channels, height, width = spec.shape
        limit = min(MAX_IMAGE_BYTES, max_upload_mb * state.MB)
        how = (
            f"converted to {'grey' if channels == 1 else 'RGB'}, resized to {width}x{height} "
            "(bilinear; the aspect ratio is not kept) and scaled to [0, 1] per pixel"
        )
        if spec.described:
            st.caption(
                f"{subject.name} takes {channels}x{height}x{width} images with pixels in "
                "[0, 1] and no mean/std normalisation (as `reference_models` makes its data). "
                f"Your image is {how}."
            )
        else:
            low, high = float(subject.inputs.min()), float(subject.inputs.max())
            fallback = (
                f"{subject.name} does not say how its inputs are normalised. The fallback: "
                f"your image is {how}, as the reference image models' data are."
            )
            if low < -0.01 or high > 1.01:
                st.warning(
                    f"{fallback} Its test data range from {low:.3g} to {high:.3g}, not [0, 1]: "
                    "it probably expects another normalisation, and what it predicts for your "
                    "image may mean little."
                )
            else:
                st.info(f"{fallback} Its test data lie in [{low:.3g}, {high:.3g}], which fits.")
        mean_pixel = float(subject.inputs.mean())
        settings: tuple[Any, ...] = (
            st.checkbox(
                "Invert dark and light",
                key="drop_invert",
                help=f"The model's test images have a mean pixel value of {mean_pixel:.2f} ("
                + ("mostly dark" if mean_pixel < 0.5 else "mostly light")
                + "). Invert, say, a drawing in dark ink on white paper for a model that "
                "learned light strokes on black.",
            ),
        )
        # No type=: Streamlit would refuse another extension with a stack trace; the content
        # is checked here instead, with a message.
        file = st.file_uploader(
            f"Your image: PNG or JPEG, up to {limit / state.MB:g} MB and "
            f"{MAX_IMAGE_PIXELS / 1e6:.1f} million pixels",
            key="drop_file",
            on_change=_forget_dropped,
        )
    else:
        (n_features,) = spec.shape
        limit = min(MAX_CSV_BYTES, max_upload_mb * state.MB)
        if spec.mean is not None:
            st.caption(
                f"{subject.name} takes {n_features} features standardised with its training "
                "data's mean and standard deviation (`reference_models` records them)."
            )
            state.initial("drop_raw", True)
            raw = st.radio(
                "The values in your row are",
                [True, False],
                format_func=lambda r: (
                    "raw measurements (standardised here, as the model's data were)"
                    if r
                    else "already standardised (as the model sees them)"
                ),
                key="drop_raw",
            )
        else:
            raw = False
            st.info(
                f"{subject.name} does not say how its features are scaled. The fallback: your "
                "values go to the model as they are, so write them as its test data are "
                "(the template holds a test sample)."
            )
        settings = (raw,)
        downloads.button(
            "Template (CSV)",
            template_row(spec, subject.inputs[index], raw),
            f"{downloads.file_stem(subject.name)}_template.csv",
            downloads.CSV,
            key="download_template",
            help=f"The header the drop expects and test sample #{index}: edit the values.",
        )
        file = st.file_uploader(
            f"Your row: a CSV with a header naming the {n_features} features and one line "
            f"of numbers (up to {limit / 2**10:g} kB)",
            key="drop_file",
            on_change=_forget_dropped,
        )
    if file is not None:
        # kept for a visit to another page (which empties the drop zone)
        st.session_state.setdefault(state.DROPPED_KEY, {})[key] = (file.name, file.getvalue())
    kept = st.session_state.get(state.DROPPED_KEY, {}).get(key)
    if kept is None:
        st.info(
            f"Drop {'an image' if subject.is_image else 'a CSV row'} above to explain it "
            "with the methods below."
        )
        return None
    name, content = kept
    if file is None:
        st.caption(f"{name}, dropped earlier. Drop another file to replace it.")
    sample_id = state.dropped_id(key, content, *settings)
    try:
        if subject.is_image:
            inputs, how_read = state.cached(
                ("dropped", key, sample_id),
                lambda: read_image(content, spec, max_bytes=limit, invert=settings[0]),
            )
        else:
            inputs, how_read = state.cached(
                ("dropped", key, sample_id),
                lambda: read_row(content, spec, raw=settings[0], max_bytes=limit),
            )
    except InputError as error:
        st.error(f"{name}: {error}")
        return None
    return sample_id, inputs, f"{name} ({how_read})"


def type_sentence(
    text: TextSubject,
) -> tuple[str, torch.Tensor, str, dict[str, torch.Tensor]] | None:
    """The text box of a sentence of the user's; returns ``(id, ids (1, L), caption,
    model_kwargs)``, or None (no vocabulary to encode it, or a sentence refused with a
    message). Typed words are only ever shown escaped."""
    vocabulary = text.vocabulary
    if vocabulary is None:
        st.info(
            f"{markdown_escaped(text.name)} came without a vocabulary, so a typed sentence "
            "cannot be turned into its token ids, and its tokens show as ids. Save the token "
            "strings in its .npz as a string array `vocabulary` (index = token id) to type "
            "sentences; pick a test sample meanwhile."
        )
        return None
    state.initial(TYPED_KEY, text_input.default_sentence(text), lambda v: isinstance(v, str))
    typed = st.text_area(
        f"Your sentence (up to {text.length} tokens)",
        key=TYPED_KEY,
        max_chars=text_input.MAX_TEXT_CHARACTERS,
        height=80,
        help="Split into words on spaces"
        + (
            " by the model's own tokenizer: words are lower-cased and stripped of punctuation"
            if text.tokenizer is not None
            else " and looked up in the model's vocabulary (as typed, else lower-cased and "
            "stripped of punctuation)"
        )
        + ". Press Ctrl+Enter (or click outside the box) to read it.",
    )
    unknown_token = (
        vocabulary[text.unk_token_id]
        if text.unk_token_id is not None and 0 <= text.unk_token_id < len(vocabulary)
        else None
    )
    with st.expander(f"Vocabulary ({len(vocabulary)} tokens)"):
        if text.keywords:
            st.caption("The words that decide each class in the model's data:")
            st.dataframe(
                {name: ", ".join(words) for name, words in text.keywords.items()},
                column_config={"": "class", "value": "keywords"},
            )
        st.caption(
            "Every token the model knows, by id"
            + (
                f"; any other word is read as {markdown_escaped(unknown_token)}."
                if unknown_token
                else "."
            )
        )
        st.text(" ".join(vocabulary))  # plain text: a user's vocabulary is not Markdown
    try:
        encoded = state.typed_text(key, text, typed)
    except InputError as error:
        st.error(markdown_escaped(str(error)))
        return None
    if encoded.unknown:
        st.warning(
            f"{len(encoded.unknown)} word{'s' if len(encoded.unknown) != 1 else ''} of your "
            f"sentence {'are' if len(encoded.unknown) != 1 else 'is'} not in the vocabulary, "
            f"read as {markdown_escaped(unknown_token or 'the unknown token')}: "
            f"{listed_words(encoded.unknown)}. Open *Vocabulary* for the words it knows."
        )
    if encoded.cut:
        st.warning(
            f"{text.name} takes {text.length} tokens: the last {len(encoded.cut)} "
            f"word{'s' if len(encoded.cut) != 1 else ''} of your sentence "
            f"{'were' if len(encoded.cut) != 1 else 'was'} cut: {listed_words(encoded.cut)}."
        )
    sample_id = state.dropped_id(key, typed.encode(), "typed").replace("dropped:", "typed:")
    kwargs = {"attention_mask": encoded.attention_mask} if text.attention_mask is not None else {}
    return sample_id, encoded.ids, f"your sentence ({encoded.n_tokens} tokens)", kwargs


index = min(int(st.session_state.get(state.SAMPLE_KEY, 0)), n_samples - 1)
by = st.radio(
    "Pick a sample",
    SELECTIONS,
    format_func=SELECTION_LABELS.__getitem__,
    horizontal=True,
    key="sample_selection",
)
dropped = None
sample_kwargs: dict[str, torch.Tensor] = {}  # a typed sentence's attention mask
if by == "dropped" and text is not None:
    typed = type_sentence(text)
    if typed is None:
        st.stop()
    typed_id, typed_ids, typed_caption, sample_kwargs = typed
    dropped = (typed_id, typed_ids, typed_caption)
elif by == "dropped":
    dropped = drop_input()
    if dropped is None:
        st.stop()
elif by == "index":
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
# the sample shown: a test sample (its index), or the user's own input (an id, no label)
sample_key: int | str
true_class: int | None
if dropped is None:
    st.session_state[state.SAMPLE_KEY] = index
    sample_key, sample, sample_caption = (
        index,
        subject.inputs[index : index + 1],
        f"sample #{index}",
    )
    probabilities = report.probabilities[index]
    true_class = int(subject.labels[index])
else:
    sample_key, sample, sample_caption = dropped
    probabilities = state.dropped_probabilities(
        key, subject, sample_key, sample, model_kwargs=sample_kwargs
    )
    true_class = None

# --- its prediction ---------------------------------------------------------------------------
ranking = class_ranking(probabilities, report.class_names)
top_class, top_name, top_probability = ranking[0]
left, middle, right = st.columns([1, 1, 2])
if subject.is_image:
    left.image(input_image(sample[0]), caption=sample_caption)
elif dropped is None:
    left.metric("Sample", f"#{index}")
else:
    left.metric("Sample", "your sentence" if text else "your row", help=sample_caption)
if true_class is None:
    middle.metric("True class", "not given", help="Your own input comes without a label.")
    middle.metric("Predicted", top_name, delta=f"{top_probability:.3f}", delta_color="off")
else:
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
if text is not None and dropped is None:
    st.text(text_input.sentence(text, index))  # plain text: tokens are not Markdown

# --- which explanation ------------------------------------------------------------------------
methods_available = state.offered_methods(subject)
default_methods = state.default_methods(subject, methods_available)
target_choices = [
    "predicted", *(["true"] if true_class is not None else []), *range(report.num_classes),
    *(["all"] if text is not None else []),  # one highlighted sentence per class
]  # fmt: skip
TARGET_LABELS = {"predicted": "predicted", "true": "true", "all": "all classes"}

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
        format_func=lambda c: (
            TARGET_LABELS[c] if isinstance(c, str) else f"class {subject.class_name(c)}"
        ),
        key="target_choice",
    )
    options: dict[str, dict[str, Any]] = {}
    parameter_columns = st.columns(max(1, len(methods_available)))
    for column, method in zip(parameter_columns, methods_available, strict=False):
        with column:
            st.markdown(f"**{method}**")
            chosen: dict[str, Any] = {}
            try:
                parameters = state.cached(  # Grad-CAM's layers come from a traced forward pass
                    ("parameters", key, method),
                    lambda method=method: tunable_parameters(
                        method, subject.model, subject.inputs[:1]
                    ),
                )
            except (ValueError, TypeError):  # it does not apply: it says why when it explains
                parameters = []
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
if target == "true" and true_class is None:  # chosen for a test sample, now the user's own
    target = "predicted"
if target == "all" and text is None:  # chosen for a text model, now another one
    target = "predicted"
explained: int | tuple[int, ...]  # what the explanations are computed for: one class or all
if target == "all":
    explained = tuple(range(report.num_classes))
    target = top_class  # file names, the metadata
else:
    target = top_class if target == "predicted" else true_class if target == "true" else int(target)
    explained = target

# --- the explanations -------------------------------------------------------------------------
explanations = {}
seconds = {}
progress = None
for step, method in enumerate(request["methods"]):
    method_options = request["options"].get(method, {})
    cache_key = ("explain", key, sample_key, method, state.option_key(method_options), explained)
    if not state.is_cached(cache_key) and progress is None and len(request["methods"]) > 1:
        progress = st.progress(0.0, text="Explaining ...")
    if progress is not None:
        progress.progress(step / len(request["methods"]), text=f"Explaining with {method} ...")
    start = time.perf_counter()
    try:
        explanations[method] = state.explanation(
            key,
            subject,
            sample_key,
            method,
            method_options,
            explained,
            inputs=sample,
            model_kwargs=sample_kwargs,
        )
    except (ValueError, TypeError) as error:  # the library's message: what does not apply
        st.error(f"{method}: {error}")
        continue
    seconds[method] = time.perf_counter() - start
if progress is not None:
    progress.empty()
if not explanations:
    st.stop()

all_classes = isinstance(explained, tuple)
rows = list(explained) if isinstance(explained, tuple) else [explained]  # one per class shown
st.subheader(
    "Attributions for every class"
    if all_classes
    else f"Attributions for class {subject.class_name(target)}"
)
state.initial("shared_scale", False)
shared = st.toggle(
    "Shared colour scale",
    key="shared_scale",
    help=(
        "One scale for the classes of each method (compare how much each class owes to each "
        "token); off: each sentence scaled to its own largest value."
        if text is not None
        else "One scale for every map (compare magnitudes across methods); off: each map "
        "scaled to its own largest value (compare patterns)."
    ),
)
shown = list(explanations.values())
magnitude = attribution_scale(shown) if shared and text is None else None


def caption(method: str) -> str:
    explanation = explanations[method]
    took = explanation.extras.get("seconds", seconds[method])
    evaluations = explanation.extras.get("model_evaluations")
    parts = [method, f"{1000 * float(took):.0f} ms"]
    if evaluations:
        parts.append(f"{evaluations} model evaluations")
    if text is None:  # a text snippet states its own scale
        scale = magnitude if magnitude is not None else attribution_scale([explanation])
        parts.append(f"scale ±{scale:.3g}")
    return " · ".join(parts)


names = subject.feature_names or [f"x{i}" for i in range(subject.inputs.shape[1])]
sample_name = f"sample{index}" if dropped is None else sample_key.replace(":", "")
stem = downloads.file_stem(
    subject.name, sample_name, "all_classes" if all_classes else f"class{target}"
)


# What the figure's title can say (class names, the prediction, the model), as far as this
# version of xai.viz.plot_explanation takes it.
_accepted = inspect.signature(viz.plot_explanation).parameters
figure_labels = {
    name: value
    for name, value in (
        ("feature_names", None if subject.is_image or text is not None else names),
        ("class_names", report.class_names),
        # one row per explained row (the sentence once per class when all are explained)
        (
            "probabilities",
            torch.as_tensor(probabilities, dtype=torch.float64)[None].expand(len(rows), -1),
        ),
        ("model_name", subject.name),
    )
    if name in _accepted and value is not None
}


def figure_download(method: str, explanation: Any, row: int = 0, suffix: str = "") -> None:
    """The method's figure (input, map and colour bar; bars for tabular data; the highlighted
    sentence for text) as a PNG, drawn only when asked for: matplotlib takes ~0.1 s a figure,
    more than the page's own run."""
    downloads.button(
        "Figure (PNG)",
        lambda labels=dict(figure_labels): downloads.figure_bytes(
            viz.plot_explanation(explanation, row, **labels)
        ),
        f"{stem}_{method}{suffix}.png",
        downloads.PNG,
        key=f"download_figure_{method}{suffix}",
        help=f"{method}'s explanation as a figure with its own colour scale",
    )


if text is not None:
    for method, explanation in explanations.items():
        st.markdown(f"**{method}**")
        for row, explained_class in enumerate(rows):
            # The only HTML the page writes: the library's snippet, every token escaped.
            st.html(
                viz.text_html(
                    explanation,
                    row,
                    shared_scale=shared,
                    class_names=report.class_names,
                )
            )
            if all_classes:
                figure_download(method, explanation, row, f"_class{explained_class}")
        st.caption(caption(method))
        if not all_classes:
            figure_download(method, explanation)
    st.caption(
        "Red raises the class score, blue lowers it (diverging scale centred on zero); hover "
        "a token for its value. Padding is left out: it has attribution 0."
    )
    with st.expander("All tokens"):
        token_table = downloads.attributions_frame(
            explanations, class_names=[subject.class_name(c) for c in rows]
        )
        st.dataframe(token_table, hide_index=True)
elif subject.is_image:
    columns = st.columns(len(explanations))
    for column, (method, explanation) in zip(columns, explanations.items(), strict=True):
        column.image(overlay_image(explanation, 0, magnitude=magnitude), caption=caption(method))
        with column:
            figure_download(method, explanation)
    st.caption(
        "Signed maps: red raises the class score, blue lowers it (diverging scale centred on "
        "zero). Non-negative maps (Grad-CAM) go from black (0) to yellow."
    )
else:
    values = sample[0].tolist()
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
        with column:
            figure_download(method, explanation)
    st.caption("Red raises the class score, blue lowers it. Values as the model sees them.")
    with st.expander("All features"):
        st.dataframe(table, hide_index=True)

# --- the attributions as files ----------------------------------------------------------------
metadata = {
    "model": subject.name,
    "sample": sample_caption,
    "target": "all" if all_classes else target,
    "target_class": "all classes" if all_classes else subject.class_name(target),
    "predicted_class": top_name,
    "predicted_probability": f"{top_probability:.6g}",
}
if text is not None and dropped is not None:
    metadata["text"] = st.session_state.get(TYPED_KEY, "")
left, right = st.columns(2)
with left:
    downloads.button(
        "Attributions (safetensors)",
        # bound now: the callable may run after a later run has rebound these names
        lambda shown=dict(explanations), about=metadata: downloads.attributions_safetensors(
            shown, about
        ),
        f"{stem}_attributions.safetensors",
        downloads.SAFETENSORS,
        key="download_safetensors",
        help="Tensors `inputs`, `target` and `attributions.<method>` per method; the model, "
        "sample, class and options in the metadata. Read with `safetensors.torch.load_file`.",
    )
with right:
    downloads.button(
        "Attributions (CSV)",
        lambda shown=dict(explanations), names=names: downloads.csv_bytes(
            downloads.attributions_frame(
                shown,
                names,
                class_names=[subject.class_name(c) for c in rows] if text is not None else None,
            )
        ),
        f"{stem}_attributions.csv",
        downloads.CSV,
        key="download_attributions_csv",
        help="One row per token: position, token, id, one column per method (and class)"
        if text is not None
        else "One row per feature, one column per method"
        if not subject.is_image
        else "One row per method and position: method, channel, row, column, attribution",
    )
