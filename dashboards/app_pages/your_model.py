"""Your model: load your own model and test data (no pickle), then look at it on every page."""

from __future__ import annotations

import streamlit as st

from dashboards import state

st.title("Your own model")
st.markdown(
    """
Three things make a model here, none of them unpickled:

1. **`module:factory`**: a function that takes no arguments and returns your `torch.nn.Module`,
   importable from the folder the dashboard was started in (or installed);
2. **weights**: its `state_dict` saved with `safetensors.torch.save_file(model.state_dict(), path)`;
3. **data**: an `.npz` file from `np.savez(path, x=inputs, y=labels)`; optionally `masks`
   (ground-truth object masks `(N, H, W)`), `class_names` and `feature_names` (string arrays).

From the command line: `xai dashboard --model module:factory --weights FILE.safetensors --data FILE.npz`.
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

with st.form("upload_model"):
    spec = st.text_input(
        "module:factory", placeholder="mypackage.models:build_model", key="upload_spec"
    )
    weights_file = st.file_uploader(
        "Weights (.safetensors)", type=["safetensors"], key="upload_weights"
    )
    data_file = st.file_uploader("Test data (.npz)", type=["npz"], key="upload_data")
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
                model_key = state.add_upload(
                    spec.strip(), weights_file.getvalue(), data_file.getvalue()
                )
        except (ValueError, TypeError) as error:
            st.error(str(error))
        else:
            st.session_state["upload_message"] = f"Loaded {spec.strip()}; it is now selected."
            st.rerun()

message = st.session_state.pop("upload_message", None)
if message:
    st.success(message)
