"""The xai dashboard: look at models, their explanations, and how far to trust them.

Start it with ``xai dashboard`` (or ``make dashboard``); it serves on 127.0.0.1. This script
draws what every page shares (the model picker in the sidebar) and hands over to the page
chosen in the navigation. Pages live in ``app_pages/`` and hold UI only.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboards/app.py` puts dashboards/ (not the project) on sys.path; make the
# package importable the same way whether or not the project is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from dashboards import state

# An emoji favicon is drawn in the browser (an inline SVG); a ":material/...:" one would be
# fetched from fonts.gstatic.com on every visit, and the app contacts nothing outside.
st.set_page_config(page_title="xai dashboard", page_icon="📊", layout="wide")

pages = [
    st.Page("app_pages/models.py", title="Models", icon=":material/bar_chart:", default=True),
    st.Page("app_pages/explain.py", title="Explain", icon=":material/search:"),
    st.Page("app_pages/trust.py", title="Trust", icon=":material/verified:"),
    st.Page("app_pages/your_model.py", title="Your model", icon=":material/upload_file:"),
    st.Page("app_pages/dataset_runs.py", title="Dataset runs", icon=":material/dataset:"),
]
page = st.navigation(pages)

choices = state.model_choices()
pending = st.session_state.pop(state.PENDING_MODEL_KEY, None)
if pending in choices:
    st.session_state[state.MODEL_KEY] = pending
if st.session_state.get(state.MODEL_KEY) not in choices:
    st.session_state[state.MODEL_KEY] = state.first_model(choices)
with st.sidebar:
    st.selectbox(
        "Model",
        options=list(choices),
        format_func=choices.__getitem__,
        key=state.MODEL_KEY,
        help="A reference model shipped with xai, or your own (page 'Your model').",
    )
    st.caption("Explanations are computed on this machine's CPU or GPU and cached.")

state.keep_widget_state()
page.run()
