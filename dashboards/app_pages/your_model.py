"""Your model: load your own model and test data (no pickle), then look at it on every page."""

from __future__ import annotations

import streamlit as st

from dashboards import state

st.title("Your own model")
st.markdown(
    """
Three things make a model here, none of them unpickled:

1. **`module:factory`**: a function that takes no arguments and returns your `torch.nn.Module`,
   importable from the folder the dashboard was started in (or installed), and named when the
   dashboard starts (`xai dashboard module:factory`): the page imports no other code;
2. **weights**: its `state_dict` saved with `safetensors.torch.save_file(model.state_dict(), path)`;
3. **data**: an `.npz` file from `np.savez(path, x=inputs, y=labels)`; optionally `masks`
   (ground-truth object masks `(N, H, W)`), `class_names` and `feature_names` (string arrays).

**A text model** (a Hugging Face `BertForSequenceClassification`, say): save integer token ids
`(N, L)` as `x`, and optionally `attention_mask` (`(N, L)`, 1 at real tokens) and `vocabulary`
(the token strings, index = token id, as a string array). The model is called as
`model(input_ids, attention_mask=mask)` and may return a tensor or an output with `.logits`.
With a vocabulary, tokens show as words, and a sentence typed on the **Explain** page is split
on spaces and looked up in it; without one, tokens show as ids and only test samples are
explained.

With the files on the command line: `xai dashboard --model module:factory --weights FILE.safetensors --data FILE.npz`.
"""
)

given = state.command_line_model()
if given is not None:
    spec, weights, data = given
    try:
        loaded = state.subject(f"cli:{spec}")
    except (ValueError, TypeError) as error:
        st.error(f"The model given on the command line did not load: {error}")
    else:
        st.success(
            f"Given on the command line: **{loaded.name}** with {len(loaded.labels)} test samples "
            f"({weights}, {data}). Pick it in the sidebar."
        )

allowed = state.allowed_factories()
max_upload_mb, max_data_mb = state.upload_limits()
if state.code_allowed():
    st.warning(
        "This dashboard was started with `--allow-code`: the module named below is imported "
        "and its factory run on the server. **Anyone who can reach this page can run code.**"
    )
elif allowed:
    st.caption(
        "This dashboard loads the models it was started with: "
        + ", ".join(f"`{name}`" for name in allowed)
        + ". Name one, and upload its weights and data."
    )
else:
    st.info(
        "This dashboard loads only the models it was started with, and none of yours was "
        "given. Start it with `xai dashboard --model module:factory` to upload that model's "
        "weights and data here."
    )

with st.form("upload_model"):
    spec = st.text_input(
        "module:factory",
        value=allowed[0] if allowed and not state.code_allowed() else "",
        placeholder="mypackage.models:build_model",
        key="upload_spec",
        help="One of the models this dashboard was started with"
        + (" (or, with --allow-code, any importable one)." if state.code_allowed() else "."),
    )
    weights_file = st.file_uploader(
        "Weights (.safetensors)", type=["safetensors"], key="upload_weights"
    )
    data_file = st.file_uploader("Test data (.npz)", type=["npz"], key="upload_data")
    st.caption(
        f"Up to {max_upload_mb} MB a file, and {max_data_mb} MB of test data once decompressed "
        "(`xai dashboard --max-upload-mb`, `--max-data-mb`)."
    )
    submitted = st.form_submit_button("Load model", type="primary")

if submitted:
    missing = [
        name
        for name, value in (
            ("module:factory", spec.strip()),
            ("weights", weights_file),
            ("data", data_file),
        )
        if not value
    ]
    if missing:
        st.error(f"Give {', '.join(missing)} to load a model.")
    else:
        try:
            with st.spinner("Loading your model ..."):
                state.add_upload(spec, weights_file.getvalue(), data_file.getvalue())
        except (ValueError, TypeError) as error:
            st.error(str(error))
        else:
            st.session_state["upload_message"] = f"Loaded {spec.strip()}; it is now selected."
            st.rerun()

message = st.session_state.pop("upload_message", None)
if message:
    st.success(message)

st.caption(
    "One image (PNG/JPEG) or one CSV row of your own, rather than a test set, is dropped on "
    "the **Explain** page: *Pick a sample → your own image* (or *row*), for any model here; "
    "for a text model, *a sentence you type*."
)
