"""The Streamlit dashboard (UI only; all logic is imported from xai and reference_models)."""
