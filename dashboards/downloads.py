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
import torch

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
    method's options (``params.<method>``, JSON; an attention mask as its description), and
    for token ids the token strings (``tokens``, JSON: one list per row)."""
    from safetensors.torch import save

    first = next(iter(explanations.values()))
    inputs = first.inputs.detach().cpu()
    tensors = {
        # token ids stay integers (the ids the model took); other inputs as float32
        "inputs": (inputs if first.is_text else inputs.float()).contiguous().clone(),
        "target": first.target.detach().cpu().contiguous().clone(),
    }
    header = {key: str(value) for key, value in metadata.items()}
    if first.tokens is not None:
        header["tokens"] = _json(first.tokens)
    for method, explanation in explanations.items():
        tensors[f"attributions.{method}"] = (
            explanation.attributions.detach().cpu().float().contiguous().clone()
        )
        header[f"params.{method}"] = _json(explanation.params)
    header["methods"] = _json(list(explanations))
    return save(tensors, metadata=header)


def attributions_frame(
    explanations: Mapping[str, xai.Explanation],
    feature_names: Sequence[str] | None = None,
    *,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The attributions of sample 0 as a table.

    Tabular inputs: one row per feature (``feature``, ``value``, then one column per method).
    Images: one row per method and position (``method``, ``channel``, ``row``, ``column``,
    ``attribution``), so maps of different channel counts (Grad-CAM's single channel) fit.
    Token ids: one row per token (``position``, ``token``, ``id``, ``attention`` when the
    explanation had an attention mask, then one column per method); an explanation of the
    same sentence for several classes (one row each, ``class_names`` naming them) gets one
    column per method and class, ``"<method> (<class>)"``.
    """
    first = next(iter(explanations.values()))
    if first.is_text:
        return _token_frame(explanations, class_names)
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


def _token_frame(
    explanations: Mapping[str, xai.Explanation], class_names: Sequence[str] | None
) -> pd.DataFrame:
    first = next(iter(explanations.values()))
    ids = first.inputs[0].detach().cpu().tolist()
    tokens = first.tokens[0] if first.tokens is not None else [str(i) for i in ids]
    frame = pd.DataFrame({"position": range(len(ids)), "token": tokens, "id": ids})
    kwargs = first.params.get("model_kwargs")
    mask = kwargs.get("attention_mask") if isinstance(kwargs, Mapping) else None
    if isinstance(mask, torch.Tensor) and mask.shape == first.inputs.shape:
        frame["attention"] = mask[0].detach().cpu().long().numpy()
    for method, explanation in explanations.items():
        values = explanation.attributions.detach().cpu().double().numpy()
        if len(values) == 1:
            frame[method] = values[0]
            continue
        names = list(class_names or [str(int(t)) for t in explanation.target.tolist()])
        for row, name in enumerate(names[: len(values)]):
            frame[f"{method} ({name})"] = values[row]
    return frame


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
