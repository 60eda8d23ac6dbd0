"""Downloads: what a page shows, as files. Figures as PNG, tables as CSV, attributions as
safetensors (``safetensors.torch.save``: bytes in memory, no pickle, nothing on disk) and CSV.

The byte builders are plain functions, tested without Streamlit; :func:`button` draws one
``st.download_button``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import xai

PNG, CSV, SAFETENSORS = "image/png", "text/csv", "application/octet-stream"
JSON = "application/json"

#: Deferred data (a callable run when the button is clicked) came with Streamlit 1.52; before,
#: the bytes are made on every run.
_DEFERRED = tuple(int(part) for part in re.findall(r"\d+", st.__version__)[:2]) >= (1, 52)


def file_stem(*parts: object) -> str:
    """A file name from the model, the sample ... (``dashmodel:build`` -> ``dashmodel_build``)."""
    text = "_".join(str(part) for part in parts if part not in (None, ""))
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_.") or "download"


def csv_bytes(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    return frame.to_csv(index=index).encode()


def json_bytes(value: Any) -> bytes:
    """JSON data (``summary.to_dict()``) as indented UTF-8 text; NaN is refused (the library's
    ``to_dict`` already writes None for it)."""
    return json.dumps(value, indent=2, allow_nan=False).encode()


def figure_bytes(figure: Any) -> bytes:
    """A matplotlib figure as PNG (dpi 100, as the pages render them)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def image_bytes(array: np.ndarray) -> bytes:
    """An RGB ``uint8`` array ``(H, W, 3)`` (an overlay as the page shows it) as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def attributions_safetensors(
    explanations: Mapping[str, xai.Explanation], metadata: Mapping[str, Any]
) -> bytes:
    """One safetensors file: ``inputs``, ``target`` and one ``attributions.<method>`` tensor
    per method; the metadata (strings) name the model, the sample, the class and each
    method's options (``params.<method>``, JSON)."""
    from safetensors.torch import save

    first = next(iter(explanations.values()))
    tensors = {
        "inputs": first.inputs.detach().cpu().float().contiguous().clone(),
        "target": first.target.detach().cpu().contiguous().clone(),
    }
    header = {key: str(value) for key, value in metadata.items()}
    for method, explanation in explanations.items():
        tensors[f"attributions.{method}"] = (
            explanation.attributions.detach().cpu().float().contiguous().clone()
        )
        header[f"params.{method}"] = _json(explanation.params)
    header["methods"] = _json(list(explanations))
    return save(tensors, metadata=header)


def attributions_frame(
    explanations: Mapping[str, xai.Explanation], feature_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """The attributions of sample 0 as a table.

    Tabular inputs: one row per feature (``feature``, ``value``, then one column per method).
    Images: one row per method and position (``method``, ``channel``, ``row``, ``column``,
    ``attribution``), so maps of different channel counts (Grad-CAM's single channel) fit.
    """
    first = next(iter(explanations.values()))
    if first.inputs.ndim == 2:
        values = first.inputs[0].detach().cpu().double().numpy()
        names = list(feature_names or [f"x{i}" for i in range(len(values))])
        frame = pd.DataFrame({"feature": names, "value": values})
        for method, explanation in explanations.items():
            frame[method] = explanation.attributions[0].detach().cpu().double().numpy()
        return frame
    parts = []
    for method, explanation in explanations.items():
        array = explanation.attributions[0].detach().cpu().double().numpy()
        if array.ndim == 2:  # (H, W) maps: one channel
            array = array[None]
        channel, row, column = np.indices(array.shape).reshape(3, -1)
        parts.append(
            pd.DataFrame(
                {
                    "method": method,
                    "channel": channel,
                    "row": row,
                    "column": column,
                    "attribution": array.reshape(-1),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def button(
    label: str,
    data: bytes | Callable[[], bytes],
    file_name: str,
    mime: str,
    key: str,
    help: str | None = None,
) -> None:
    """A small download button that does not rerun the page when clicked. ``data`` may be a
    function making the bytes: it then runs only when clicked (Streamlit >= 1.52)."""
    if callable(data) and not _DEFERRED:
        data = data()
    st.download_button(
        label,
        data,
        file_name=file_name,
        mime=mime,
        key=key,
        help=help,
        on_click="ignore",
        type="tertiary",
        icon=":material/download:",
    )
