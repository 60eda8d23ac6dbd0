"""Dataset runs: open a folder written by ``xai.explain_dataset`` (or ``xai explain --all``)
and browse it: its settings, its summary figures and tables, and any sample's explanation.

UI only: the run is read by :class:`xai.DatasetExplanation` and summarised by its
``summary()``; the figures are :mod:`xai.viz`'s. A typed folder is only read (an index in
JSON and safetensors shards), never run or unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import xai
from dashboards import downloads, state
from xai import viz
from xai.evaluation.dataset_run import DatasetSummary

PATH_KEY = "dataset_run_path"
SAMPLE_KEY = "dataset_run_sample"
TOP_K_KEY = "dataset_run_top_k"
#: The file a run writes its settings and progress to (``xai.evaluation._shards.INDEX``).
INDEX_FILE = "index.json"
#: Errors of reading a folder that is not a (readable) run: shown, never raised.
READ_ERRORS = (OSError, ValueError, KeyError, TypeError)


def index_version(folder: str) -> tuple[str, int]:
    """What the cache of a run is keyed on besides its folder: the index's ``updated`` field
    and the index file's modification time (``updated`` has a resolution of one second), so a
    run still being written is read again when its index changes."""
    path = Path(folder) / INDEX_FILE
    try:
        stamp = path.stat().st_mtime_ns
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "", 0
    updated = index.get("updated", "") if isinstance(index, dict) else ""
    return str(updated), stamp


@st.cache_resource(max_entries=8, show_spinner="Reading the run ...")
def load_run(folder: str, updated: str, stamp: int) -> xai.DatasetExplanation:
    """The run in ``folder`` (``updated`` and ``stamp`` key the cache, see
    :func:`index_version`)."""
    return xai.DatasetExplanation.load(folder)


@st.cache_resource(max_entries=8, show_spinner="Summarising the run ...")
def load_summary(folder: str, updated: str, stamp: int, top_k: int) -> DatasetSummary:
    """``run.summary(top_k)`` of the run in ``folder`` (one pass over its shards)."""
    return load_run(folder, updated, stamp).summary(top_k=top_k)


def folder_problem(text: str) -> str | None:
    """Why the typed path cannot be a run folder (None when it is a folder)."""
    folder = Path(text).expanduser()
    if not folder.exists():
        return f"{text!r} does not exist. Type the folder of a run (`out` of explain_dataset)."
    if not folder.is_dir():
        return f"{text!r} is a file, not a folder. Type the folder of a run (with index.json)."
    return None


def shown(value: Any) -> str:
    """A setting's value as one line of the settings table."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def settings_table(run: xai.DatasetExplanation) -> pd.DataFrame:
    index = run.index
    rows = [
        ("folder", str(run.path)),
        ("method", run.method),
        ("options", shown(run.options)),
        ("params", shown(run.params)),
        ("seed", shown(run.seed)),
        ("target", shown(run.target)),
        ("samples", shown(run.n_samples)),
        ("samples stored", shown(run.done_samples)),
        ("batch size", shown(run.batch_size)),
        ("shards stored", f"{len(run)} of {run.n_batches}"),
        ("complete", "yes" if run.complete else "no"),
        ("processes", shown(index.get("world_size"))),
        ("created", shown(index.get("created"))),
        ("updated", shown(index.get("updated"))),
    ]
    rows += [(f"version: {name}", shown(value)) for name, value in sorted(run.versions.items())]
    return pd.DataFrame(rows, columns=["setting", "value"])


def counts_table(summary: DatasetSummary) -> pd.DataFrame:
    counts = summary.class_counts
    frame = pd.DataFrame({"class": range(summary.num_classes)})
    for name in ("label", "predicted", "target"):
        if name in counts:
            frame[name] = counts[name].cpu().numpy()
    frame["explained"] = summary.class_map_counts.cpu().numpy()
    return frame


def confidence_table(summary_dict: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"examples": which, **example}
        for which in ("most", "least")
        for example in summary_dict[f"{which}_confident"]
    ]
    columns = ["examples", "index", "confidence", "predicted", "target"]
    return pd.DataFrame(rows, columns=columns)


st.title("Dataset runs")
st.caption(
    "Open the folder of a run written by `xai.explain_dataset(..., out=FOLDER)` or "
    "`xai explain MODEL --all --out FOLDER`. A run still being written is read again when its "
    "index changes."
)
text = st.text_input(
    "Run folder",
    key=PATH_KEY,
    placeholder="runs/ig",
    help="A folder on the machine the dashboard runs on (relative to where it was started). "
    "It is only read: index.json and the safetensors shards.",
).strip()
if not text:
    st.info("Type the folder of a dataset run.")
    st.stop()
problem = folder_problem(text)
if problem:
    st.error(problem)
    st.stop()
folder = str(Path(text).expanduser().resolve())
updated, stamp = index_version(folder)
try:
    run = load_run(folder, updated, stamp)
except READ_ERRORS as error:
    st.error(f"{text!r} cannot be opened as a dataset run: {error}")
    st.stop()
st.button("Read the folder again", help="Shows what a run still being written has added.")

st.subheader("Settings")
if not run.complete:
    st.warning(
        f"This run is not complete: {len(run)} of {run.n_batches} batches "
        f"({run.done_samples} of {run.n_samples} samples) are stored. What follows covers "
        "the stored samples; resume the run with the same settings to finish it."
    )
st.dataframe(settings_table(run), hide_index=True)
if len(run) == 0:
    st.info("No batch is stored yet: nothing to summarise or browse.")
    st.stop()

state.initial(TOP_K_KEY, 5, lambda value: isinstance(value, int) and 1 <= value <= 20)
top_k = int(
    st.number_input(
        "Most and least confident samples shown",
        min_value=1,
        max_value=20,
        step=1,
        key=TOP_K_KEY,
    )
)
try:
    summary = load_summary(folder, updated, stamp, top_k)
except READ_ERRORS as error:
    st.error(f"The run in {text!r} could not be summarised: {error}")
    st.stop()
summary_dict = summary.to_dict()
stem = downloads.file_stem(Path(folder).name, run.method)
figure_key = ("dataset_run", folder, updated, stamp)

accuracy = "n/a" if summary.accuracy is None else f"{summary.accuracy:.4f}"
st.caption(
    f"{summary.kind} inputs · {summary.n_samples} samples summarised · "
    f"{summary.num_classes} classes · accuracy {accuracy}"
)
downloads.button(
    "Summary (JSON)",
    downloads.json_bytes(summary_dict),
    f"{stem}_summary.json",
    downloads.JSON,
    key="download_run_summary_json",
    help="summary.to_dict(): importance, per-class maps and counts, the example samples.",
)


def figure(title: str, name: str, make: Any) -> None:
    """A summary figure and, under it, its PNG for download."""
    png = state.figure_png((*figure_key, name, top_k), make)
    st.image(png)
    downloads.button(
        f"{title} (PNG)", png, f"{stem}_{name}.png", downloads.PNG, key=f"download_run_{name}"
    )


st.subheader("Summary")
figure("Dataset summary", "summary", lambda: viz.plot_dataset_summary(summary))
st.subheader("Mean attribution per class")
figure("Per-class maps", "class_maps", lambda: viz.plot_class_maps(summary))

st.subheader("Samples per class")
counts = counts_table(summary)
st.dataframe(counts, hide_index=True)
downloads.button(
    "Per-class counts (CSV)",
    downloads.csv_bytes(counts),
    f"{stem}_class_counts.csv",
    downloads.CSV,
    key="download_run_class_counts",
)

st.subheader("Most and least confident samples")
examples = confidence_table(summary_dict)
st.dataframe(
    examples,
    hide_index=True,
    column_config={"confidence": st.column_config.NumberColumn(format="%.4f")},
)
downloads.button(
    "Confident samples (CSV)",
    downloads.csv_bytes(examples),
    f"{stem}_confidence.csv",
    downloads.CSV,
    key="download_run_confidence",
)
left, right = st.columns(2)
with left:
    figure(
        "Most confident",
        "most_confident",
        lambda: viz.plot_confidence_examples(summary, "most"),
    )
with right:
    figure(
        "Least confident",
        "least_confident",
        lambda: viz.plot_confidence_examples(summary, "least"),
    )

st.subheader("Browse the samples")
state.initial(
    SAMPLE_KEY,
    0,
    lambda value: isinstance(value, int) and 0 <= value < run.n_samples,
)
index = int(
    st.number_input(
        "Sample index",
        min_value=0,
        max_value=run.n_samples - 1,
        step=1,
        key=SAMPLE_KEY,
        help="The sample's position in the data the run explained.",
    )
)
try:
    sample = run.sample(index)
except READ_ERRORS as error:
    st.info(f"Sample {index} is not stored yet ({error}).")
    st.stop()
extras = sample.extras
label = f" · label {int(extras['labels'][0])}" if "labels" in extras else ""
st.caption(
    f"Sample {index} · explained class {int(sample.target[0])} · predicted "
    f"{int(extras['predictions'][0])} (p = {float(extras['confidence'][0]):.3f}){label}"
)
png = state.figure_png(
    (*figure_key, "sample", index),
    lambda: sample.plot(feature_names=summary.feature_names),
)
st.image(png)
downloads.button(
    "Sample figure (PNG)",
    png,
    f"{stem}_sample{index}.png",
    downloads.PNG,
    key="download_run_sample",
)
