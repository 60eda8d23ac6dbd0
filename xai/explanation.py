"""``xai.Explanation``: the one result type, whatever the method."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xai._device import pick_device
from xai._files import atomic_path, to_json_value
from xai._validation import (
    all_finite,
    check_bool,
    check_sample_index,
    index_out_of_range,
    integer_value,
)
from xai.errors import IndexTypeError, InputError, InputTypeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_FORMAT = "xai.explanation"
_FORMAT_VERSION = 1
#: How a param that a file cannot hold (a callable, a module) is written: ``{_UNSAVED: text}``.
_UNSAVED = "xai.unsaved"


class UnsavedOption(str):
    """A param that :meth:`Explanation.save` could not write (a callable ``output``, a module),
    as loaded back: its description. An explanation holding one cannot be re-run from its
    params (``evaluate_explanation`` then skips the metrics that re-run the method)."""


@dataclass
class Explanation:
    """Attributions of a batch of inputs, with everything needed to read and reproduce them.

    Attributes:
        attributions: tensor on the inputs' device with the inputs' shape; layer methods such
            as Grad-CAM may keep a single channel, ``(N, 1, H, W)`` for ``(N, C, H, W)`` inputs.
        inputs: the explained inputs ``(N, ...)``.
        target: the explained class of each sample, LongTensor ``(N,)``.
        method: name of the method, e.g. ``"integrated_gradients"``.
        params: the options that re-run the explanation: each method's options with ``None``
            for a default and the values chosen automatically (seed, layer, n_steps ...).
            After :meth:`load`, callables and modules are :class:`UnsavedOption` descriptions.
        extras: everything else the method reports: convergence delta, LIME segments, SHAP
            expected value, ``model_evaluations``, ``seconds``, ``library_versions`` ...
        tokens: for token ids ``(N, L)``: the token strings, one list of ``L`` per row (from
            ``xai.explain(..., tokens=...)``), shown by :meth:`plot` and :meth:`to_html`;
            ``None`` shows the ids (``"#17"``).

    Example::

        expl = xai.explain(model, images, method="gradcam")
        expl.heatmap().shape  # (N, H, W)
        fig = expl.plot(0)
        expl.save("gradcam.safetensors")
        same = xai.Explanation.load("gradcam.safetensors")
    """

    attributions: torch.Tensor
    inputs: torch.Tensor
    target: torch.Tensor
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    tokens: list[list[str]] | None = None

    def __post_init__(self) -> None:
        n = self.inputs.shape[0]
        self.tokens = check_tokens(self.tokens, self.inputs)
        if self.attributions.shape[0] != n:
            raise ValueError(
                f"attributions: expected {n} rows (one per input), got shape "
                f"{tuple(self.attributions.shape)}."
            )
        layer_map = (
            self.inputs.ndim == 4
            and self.attributions.ndim == 4
            and self.attributions.shape[1] == 1
            and self.attributions.shape[2:] == self.inputs.shape[2:]
        )
        if self.attributions.shape != self.inputs.shape and not layer_map:
            raise ValueError(
                f"attributions: expected the inputs' shape {tuple(self.inputs.shape)} (or "
                f"(N, 1, H, W) for image layer maps), got {tuple(self.attributions.shape)}."
            )
        target = torch.as_tensor(self.target)
        if target.is_floating_point() and bool((target != target.round()).any()):
            raise InputError(
                "target",
                f"expected integer class indices, got {target.dtype} values "
                f"{[round(float(v), 4) for v in target.flatten()[:4]]}; they are not "
                "truncated: pass the classes.",
            )
        self.target = target.to(torch.long) if target.dtype != torch.long else target
        if self.target.shape != (n,):
            raise ValueError(f"target: expected shape ({n},), got {tuple(self.target.shape)}.")

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Explanation:
        """The explanation of a subset of samples (``expl[0]``, ``expl[2:5]``, ``expl[[0, 3]]``).

        Per-sample extras, the samples' rows of ``params["model_kwargs"]`` tensors (an attention
        mask) and their :attr:`tokens` go with them."""
        n = len(self)
        index = _sample_index(index, n)

        def pick(value: Any) -> Any:
            if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == n:
                return value[index]
            return value

        params = dict(self.params)
        if isinstance(params.get("model_kwargs"), Mapping):
            # the samples' own forward arguments (an attention mask) go with their rows, as
            # the methods pair them (xai._model.ModelFunction)
            params["model_kwargs"] = {k: pick(v) for k, v in params["model_kwargs"].items()}
        tokens = None
        if self.tokens is not None:
            rows = range(n)[index] if isinstance(index, slice) else index.tolist()
            tokens = [list(self.tokens[row]) for row in rows]
        return Explanation(
            attributions=self.attributions[index],
            inputs=self.inputs[index],
            target=self.target[index],
            method=self.method,
            params=params,
            extras={key: pick(value) for key, value in self.extras.items()},
            tokens=tokens,
        )

    @property
    def is_image(self) -> bool:
        """True for ``(N, C, H, W)`` inputs."""
        return self.inputs.ndim == 4

    @property
    def is_text(self) -> bool:
        """True for token ids: integer inputs ``(N, L)``."""
        return self.inputs.ndim == 2 and not self.inputs.is_floating_point()

    def heatmap(self) -> torch.Tensor:
        """One map per sample, channels summed with their sign kept.

        Returns:
            A detached tensor on the attributions' device: ``(N, H, W)`` for images,
            ``(N, F)`` for tabular data, ``(N, L)`` for token ids ``(N, L)`` (one value per
            token) and for ``(N, C, L)`` sequences.
        """
        attributions = self.attributions.detach()
        if attributions.ndim in (3, 4):
            return attributions.sum(dim=1)
        if attributions.ndim == 2:
            return attributions
        return attributions.reshape(attributions.shape[0], -1)

    def numpy(self) -> np.ndarray:
        """The attributions as a numpy array.

        Returns:
            A CPU copy of :attr:`attributions`, same shape and dtype.
        """
        return self.attributions.detach().cpu().numpy()

    def to(self, device: str | torch.device) -> Explanation:
        """A copy with every tensor moved to ``device`` (``model_kwargs``' tensors too)."""

        def move(value: Any) -> Any:
            return value.to(device) if isinstance(value, torch.Tensor) else value

        params = {k: move(v) for k, v in self.params.items()}
        if isinstance(params.get("model_kwargs"), Mapping):
            params["model_kwargs"] = {k: move(v) for k, v in params["model_kwargs"].items()}
        return Explanation(
            attributions=self.attributions.to(device),
            inputs=self.inputs.to(device),
            target=self.target.to(device),
            method=self.method,
            params=params,
            extras={k: move(v) for k, v in self.extras.items()},
            tokens=None if self.tokens is None else [list(row) for row in self.tokens],
        )

    def plot(
        self,
        index: int = 0,
        *,
        shared_scale: bool = False,
        overlay: bool = True,
        feature_names: Sequence[str] | None = None,
        max_features: int = 20,
        ax: Axes | None = None,
    ) -> Figure:
        """Plot sample ``index`` with :func:`xai.viz.plot_explanation`.

        Args:
            index: which sample.
            shared_scale: use one colour/axis scale for all samples of the batch.
            overlay: draw image maps over a faded copy of the input.
            feature_names: names of tabular features (default: ``extras["feature_names"]``,
                else ``x0, x1, ...``).
            max_features: bars shown for tabular data.
            ax: draw the attribution panel into this Axes instead of a new figure.

        Returns:
            The matplotlib Figure (input and attribution map for images, a bar chart for
            tabular data, the text with each token coloured by its attribution for token
            ids).
        """
        from xai.viz import plot_explanation

        return plot_explanation(
            self,
            index,
            shared_scale=shared_scale,
            overlay=overlay,
            feature_names=feature_names,
            max_features=max_features,
            ax=ax,
        )

    def to_html(
        self,
        index: int = 0,
        *,
        shared_scale: bool = False,
        class_names: Sequence[str] | None = None,
    ) -> str:
        """Sample ``index`` of a token-id explanation as a self-contained HTML snippet
        (:func:`xai.viz.text_html`): each token a ``<span>`` coloured by its attribution, as
        in :meth:`plot`, with the value in its ``title``; inline styles only, no scripts, every
        token HTML-escaped.

        Args:
            index: which sample.
            shared_scale: use the batch's largest magnitude as the colour scale (default: the
                sample's own).
            class_names: names of the classes, for the header's target (default:
                ``extras["class_names"]``, else class numbers).

        Returns:
            The HTML text (one ``<div>``).

        Raises:
            TypeError: the explanation is not of token ids (integer inputs ``(N, L)``).
            IndexError: ``index`` is not one of the explained samples.
        """
        from xai.viz import text_html

        return text_html(self, index, shared_scale=shared_scale, class_names=class_names)

    def __repr__(self) -> str:
        return (
            f"Explanation(method={self.method!r}, inputs={tuple(self.inputs.shape)}, "
            f"attributions={tuple(self.attributions.shape)}, target={self.target.tolist()[:8]}"
            f"{'...' if len(self) > 8 else ''})"
        )

    # ------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the explanation to one safetensors file (tensors) with a JSON header (the rest).

        Tensor-valued params/extras are stored as tensors; other values as JSON. Params JSON
        cannot hold (modules, callables) are stored as their description and load back as
        :class:`UnsavedOption`; extras as their description. So is ``model_kwargs`` when it
        holds tensors (an attention mask): its names and kinds are kept
        (``UnsavedOption("{attention_mask: tensor (4, 24) int64}")``), not the tensors.
        :attr:`tokens` are stored in the header and load back equal. Numbers in ``params`` load back
        as the numbers they were, NaN and infinities included (stored as
        ``{"xai.float": "nan"}``, ``"inf"``, ``"-inf"``), so the explanation re-runs with the
        same options; a NaN or infinite number in ``extras`` follows the files' one rule and is
        written as ``null`` (it loads back as None). Attribution tensors keep their values;
        the header records whether they hold NaN/inf, which :meth:`load` otherwise refuses.
        Nothing is pickled. The file is written atomically (temp file, then rename) with the
        mode the umask gives; after an error the old file is as it was and no temporary file
        is left.

        Args:
            path: the file to write, conventionally ``*.safetensors``. An existing explanation
                there is replaced; another existing file only with ``overwrite=True``.
            overwrite: also replace a file at ``path`` that is not an xai explanation.

        Returns:
            The path written.

        Raises:
            InputError: ``path`` is an existing file that is not an explanation (and
                ``overwrite`` is False), or the JSON header would exceed the bounds
                :meth:`load` accepts (:data:`MAX_HEADER_CHARS`, :data:`MAX_HEADER_DEPTH`).
            IsADirectoryError: ``path`` is a folder.
        """
        from safetensors.torch import save_file

        path = Path(path)
        check_bool("overwrite", overwrite)
        if not overwrite and _is_foreign_file(path):
            raise InputError(
                "path",
                f"{str(path)!r} exists and is not an xai explanation; pass overwrite=True to "
                "replace it, or choose another file name.",
            )
        tensors = {
            "attributions": self.attributions,
            "inputs": self.inputs,
            "target": self.target,
        }
        header: dict[str, Any] = {
            "method": self.method,
            "nonfinite_attributions": not all_finite(self.attributions),
        }
        for section in ("params", "extras"):
            values = getattr(self, section)
            json_part: dict[str, Any] = {}
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{section}.{key}"] = value
                elif section == "params" and _is_unsaveable(value):
                    json_part[key] = {_UNSAVED: str(to_json_value(value))}
                elif section == "params" and _holds_unsaveable(value):
                    json_part[key] = {_UNSAVED: _describe_mapping(value)}
                elif section == "params":
                    json_part[key] = _mark_nonfinite(value)
                else:
                    json_part[key] = value
            header[section] = json_part
        if self.tokens is not None:
            header["tokens"] = self.tokens
        try:
            data = to_json_value(header)
        except RecursionError:
            data = None
        for section in ("params", "extras"):
            if data is None or _depth(data[section]) > MAX_HEADER_DEPTH - 1:
                raise InputError(
                    section,
                    f"nested deeper than the {MAX_HEADER_DEPTH - 1} levels an explanation file "
                    "holds; store deep structures as tensors or flatten them.",
                )
        text = json.dumps(data, allow_nan=False)
        if len(text) > MAX_HEADER_CHARS:
            parts = [name for name in ("params", "extras", "tokens") if name in data]
            largest = max(parts, key=lambda name: len(json.dumps(data[name])))
            raise InputError(
                largest,
                f"the JSON header would be {len(text):,} characters, more than the "
                f"{MAX_HEADER_CHARS:,} an explanation file holds; store large values as "
                "tensors (they are not part of the header).",
            )
        tensors = _unshared({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        metadata = {
            "format": _FORMAT,
            "format_version": str(_FORMAT_VERSION),
            "xai": text,
        }
        with atomic_path(path) as temporary:
            save_file(tensors, str(temporary), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Explanation:
        """Read an explanation written by :meth:`save` (no unpickling).

        Every part of the file is checked before it is used: the JSON header is at most
        :data:`MAX_HEADER_CHARS` characters and :data:`MAX_HEADER_DEPTH` levels deep;
        ``method`` is a string, ``params``/``extras`` are JSON objects; ``target`` is a 1-D
        tensor of integer class indices (not floats, which would be truncated);
        ``attributions`` are floating-point and finite unless the file records NaN/inf
        attributions (as :meth:`save` does). A file that breaks any of these is an
        :class:`~xai.errors.InputError` (a ``ValueError``) naming the path and the field.

        Args:
            path: a file written by :meth:`save`.
            device: where the tensors are loaded (``"cpu"``, ``"cuda"``, ``"auto"`` ...).

        Returns:
            The explanation; options that could not be saved load as :class:`UnsavedOption`;
            files written without tokens (or before tokens existed) load with ``tokens=None``.

        Raises:
            FileNotFoundError: there is no file at ``path``.
            InputError: (a ``ValueError``, ``.argument == "path"``) the file is not a
                safetensors file written by :meth:`save`, or one of its fields is malformed;
                or ``device`` is not available.
        """
        from safetensors import safe_open

        device = pick_device(device)  # a clear error for a GPU that is not there
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no explanation file at {str(path)!r}.")

        def bad(field: str, detail: str) -> InputError:
            return InputError(
                "path", f"{str(path)!r} is not a valid xai explanation file: {field}: {detail}"
            )

        try:
            with safe_open(str(path), framework="pt", device=str(device)) as handle:
                metadata = handle.metadata() or {}
                if metadata.get("format") != _FORMAT:
                    raise InputError(
                        "path",
                        f"{str(path)!r} is a safetensors file but not an xai explanation "
                        f"(format {metadata.get('format')!r}).",
                    )
                names = list(handle.keys())
                for name in names:
                    section, dot, key = name.partition(".")
                    if name not in _TENSORS and not (section in _SECTIONS and dot and key):
                        raise bad(
                            f"tensor {name!r}",
                            "not a tensor an explanation holds (attributions, inputs, target, "
                            "params.NAME, extras.NAME).",
                        )
                header = _read_header(metadata, bad)
                tensors = {name: handle.get_tensor(name) for name in names}
        except InputError:
            raise
        except Exception as error:
            raise InputError(
                "path",
                f"{str(path)!r} is not a safetensors file written by Explanation.save ({error}).",
            ) from error
        sections = _read_sections(header, bad)
        for name, tensor in tensors.items():
            section, _, key = name.partition(".")
            if section in sections:
                if key in sections[section]:
                    raise bad(f"{section}[{key!r}]", "stored both as a tensor and as JSON.")
                sections[section][key] = tensor
        for name in _TENSORS:
            if name not in tensors:
                raise bad(name, "the tensor is missing.")
        attributions, inputs, target = (tensors[name] for name in _TENSORS)
        _check_tensors(attributions, inputs, target, header, bad)
        try:
            tokens = check_tokens(header.get("tokens"), inputs)
        except InputError as error:
            raise bad("tokens", error.detail) from error
        try:
            return cls(
                attributions=attributions,
                inputs=inputs,
                target=target.long(),
                method=header["method"],
                params=sections["params"],
                extras=sections["extras"],
                tokens=tokens,
            )
        except (ValueError, TypeError, IndexError, RuntimeError) as error:
            raise bad("tensors", str(error)) from error


#: The most characters the JSON header of an explanation file may have (16 Mi): tensors are
#: stored as tensors, so the header holds only options, names and small numbers.
MAX_HEADER_CHARS = 16 * 2**20
#: The deepest nesting of the JSON header (the header object itself is one level).
MAX_HEADER_DEPTH = 32
#: How :meth:`Explanation.save` writes a NaN or infinite number in ``params``.
_FLOAT = "xai.float"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_TENSORS = ("attributions", "inputs", "target")
_SECTIONS = ("params", "extras")
_ATTRIBUTION_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_TARGET_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
#: Everything in a JSON text but its strings (closed or not): what brackets are counted in.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)


def check_tokens(tokens: Any, inputs: torch.Tensor) -> list[list[str]] | None:
    """``tokens`` as one list of strings per row of the token ids ``inputs`` ``(N, L)``."""
    if tokens is None:
        return None
    if inputs.ndim != 2 or inputs.is_floating_point():
        raise InputError(
            "tokens",
            "token strings go with token ids (integer inputs (N, L)), got inputs of dtype "
            f"{inputs.dtype} and shape {tuple(inputs.shape)}.",
        )
    n, length = (int(d) for d in inputs.shape)
    if isinstance(tokens, str | bytes) or not isinstance(tokens, Sequence) or len(tokens) != n:
        raise InputTypeError(
            "tokens",
            f"expected one list of {length} token strings per row ({n} rows), got "
            f"{type(tokens).__name__} {tokens!r:.60}.",
        )
    rows: list[list[str]] = []
    for i, row in enumerate(tokens):
        if (
            isinstance(row, str | bytes)
            or not isinstance(row, Sequence)
            or not all(isinstance(token, str) for token in row)
        ):
            raise InputTypeError(
                "tokens",
                f"row {i}: expected a list of {length} strings, got {type(row).__name__} "
                f"{row!r:.60}.",
            )
        if len(row) != length:
            raise InputError(
                "tokens",
                f"row {i}: expected {length} token strings (one per id), got {len(row)}.",
            )
        rows.append([str(token) for token in row])
    return rows


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _nesting(text: str) -> int:
    """How deeply a JSON text nests, counted without parsing it (so a hostile file cannot
    exhaust the parser's recursion): brackets outside strings, in one vectorised pass."""
    skeleton = _JSON_STRING.sub("", text).encode("ascii", "replace")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.isin(codes, (0x5B, 0x7B)).astype(np.int64) - np.isin(codes, (0x5D, 0x7D))
    return int(np.cumsum(steps).max(initial=0))


def _depth(value: Any) -> int:
    """How deeply JSON data nests (a scalar 0, ``[]`` 1, ``{"a": [1]}`` 2), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_HEADER_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _read_header(metadata: dict[str, str], bad: Any) -> dict[str, Any]:
    """The JSON header of an explanation file, its size, nesting and field types checked."""
    version = metadata.get("format_version")
    if version != str(_FORMAT_VERSION):
        newer = isinstance(version, str) and version.isdigit() and int(version) > _FORMAT_VERSION
        raise bad(
            "format_version",
            f"expected {str(_FORMAT_VERSION)!r}, got {version!r}"
            + ("; it was written by a newer xai: upgrade xai to read it." if newer else "."),
        )
    text = metadata.get("xai")
    if text is None:
        raise bad("xai", "the JSON header (metadata key 'xai') is missing.")
    if len(text) > MAX_HEADER_CHARS:
        raise bad(
            "xai",
            f"the JSON header is {len(text):,} characters, more than the {MAX_HEADER_CHARS:,} "
            "an explanation file holds.",
        )
    if _nesting(text) > MAX_HEADER_DEPTH:
        raise bad("xai", f"the JSON header nests deeper than {MAX_HEADER_DEPTH} levels.")
    try:
        header = json.loads(text)
    except RecursionError as error:  # pragma: no cover - the nesting is bounded above
        raise bad("xai", f"the JSON header nests deeper than {MAX_HEADER_DEPTH} levels.") from error
    except ValueError as error:  # JSONDecodeError, or an integer of too many digits
        where = f" at character {error.pos}" if isinstance(error, json.JSONDecodeError) else ""
        detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise bad("xai", f"the JSON header is not valid JSON ({detail}{where}).") from error
    if _depth(header) > MAX_HEADER_DEPTH:  # pragma: no cover - the same count as _nesting
        raise bad("xai", f"the JSON header nests deeper than {MAX_HEADER_DEPTH} levels.")
    if not isinstance(header, dict):
        raise bad("xai", f"expected a JSON object, got {_kind(header)}.")
    method = header.get("method")
    if not isinstance(method, str) or not method.strip():
        raise bad(
            "method", f"expected the method's name (a non-empty string), got {_kind(method)}."
        )
    for section in _SECTIONS:
        value = header.setdefault(section, {})
        if not isinstance(value, dict):
            raise bad(section, f"expected a JSON object, got {_kind(value)}.")
    flag = header.setdefault("nonfinite_attributions", False)
    if not isinstance(flag, bool):
        raise bad("nonfinite_attributions", f"expected true or false, got {_kind(flag)}.")
    return header


def _read_sections(header: dict[str, Any], bad: Any) -> dict[str, dict[str, Any]]:
    """``params`` (unsaved options and non-finite numbers decoded) and ``extras``."""
    params: dict[str, Any] = {}
    for key, value in header["params"].items():
        if isinstance(value, dict) and set(value) == {_UNSAVED}:
            if not isinstance(value[_UNSAVED], str):
                raise bad(
                    f"params[{key!r}]",
                    f"expected the description of an unsaved option (a string), got "
                    f"{_kind(value[_UNSAVED])}.",
                )
            params[key] = UnsavedOption(value[_UNSAVED])
        else:
            params[key] = _unmark_nonfinite(value, f"params[{key!r}]", bad)
    return {"params": params, "extras": dict(header["extras"])}


def _check_tensors(
    attributions: torch.Tensor,
    inputs: torch.Tensor,
    target: torch.Tensor,
    header: dict[str, Any],
    bad: Any,
) -> None:
    """The types and values of the three tensors of an explanation file."""
    if attributions.dtype not in _ATTRIBUTION_DTYPES:
        raise bad("attributions", f"expected floating-point values, got {attributions.dtype}.")
    if target.dtype not in _TARGET_DTYPES:
        shown = (
            [round(float(v), 4) for v in target.flatten()[:4]]
            if target.dtype.is_floating_point
            else ""
        )
        raise bad(
            "target",
            f"expected integer class indices, got {target.dtype}"
            + (f" values {shown}" if shown else "")
            + " (a float target would be truncated).",
        )
    for name, tensor in (("attributions", attributions), ("inputs", inputs)):
        if tensor.ndim < 1:
            raise bad(
                name, f"expected a tensor with a sample dimension, got shape {tuple(tensor.shape)}."
            )
    if target.ndim != 1:
        raise bad("target", f"expected a 1-D tensor (N,), got shape {tuple(target.shape)}.")
    if target.numel() and int(target.long().min()) < 0:
        raise bad("target", f"expected class indices >= 0, got {int(target.long().min())}.")
    if not header["nonfinite_attributions"] and not all_finite(attributions):
        count = int((~torch.isfinite(attributions)).sum())
        raise bad(
            "attributions",
            f"{count} NaN/inf value(s), but the file does not record non-finite attributions "
            "(nonfinite_attributions is false); the file is damaged.",
        )


def _mark_nonfinite(value: Any) -> Any:
    """A param's value with every NaN/inf number as ``{"xai.float": "nan" | "inf" | "-inf"}``
    (everything else as it is, for :func:`xai._files.to_json_value`)."""
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return {_FLOAT: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        return {key: _mark_nonfinite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_nonfinite(item) for item in value]
    if isinstance(value, torch.Tensor | np.ndarray):
        return _mark_nonfinite(value.tolist())
    return value


def _unmark_nonfinite(value: Any, where: str, bad: Any) -> Any:
    """The inverse of :func:`_mark_nonfinite` (the nesting is bounded by the header's)."""
    if isinstance(value, dict):
        if set(value) == {_FLOAT}:
            if not isinstance(value[_FLOAT], str) or value[_FLOAT] not in _NONFINITE:
                raise bad(
                    where,
                    f"expected 'nan', 'inf' or '-inf' for {_FLOAT}, got {_kind(value[_FLOAT])}.",
                )
            return _NONFINITE[value[_FLOAT]]
        return {
            key: _unmark_nonfinite(item, f"{where}[{key!r}]", bad) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_unmark_nonfinite(item, f"{where}[{i}]", bad) for i, item in enumerate(value)]
    return value


def _is_foreign_file(path: Path) -> bool:
    """Whether ``path`` exists and is something other than an xai explanation file (a folder
    is left to the atomic writer, which refuses it)."""
    if path.is_dir() or not path.exists():  # a dangling link is replaced, its target never
        return False
    if not path.is_file():
        return True
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") != _FORMAT
    except Exception:
        return True


def _is_unsaveable(value: Any) -> bool:
    """Whether a param is a live object JSON cannot hold (a module, a callable)."""
    return isinstance(value, UnsavedOption | torch.nn.Module) or (
        callable(value) and not isinstance(value, type)
    )


def _holds_unsaveable(value: Any) -> bool:
    """Whether a param is a mapping (``model_kwargs``) holding tensors, arrays, modules or
    callables: it is saved as its description (JSON would turn the tensors into lists, which
    the model cannot take when the explanation is re-run)."""
    return isinstance(value, Mapping) and any(
        isinstance(item, torch.Tensor | np.ndarray) or _is_unsaveable(item)
        for item in value.values()
    )


def _describe_mapping(value: Mapping[Any, Any]) -> str:
    """``"{attention_mask: tensor (4, 24) int64, scale: 2.0}"``: the names and kinds of a
    mapping's values, what an unsaved ``model_kwargs`` loads back as."""

    def kind(item: Any) -> str:
        if isinstance(item, torch.Tensor | np.ndarray):
            dtype = str(item.dtype).removeprefix("torch.")
            name = "tensor" if isinstance(item, torch.Tensor) else "array"
            return f"{name} {tuple(int(d) for d in item.shape)} {dtype}"
        if _is_unsaveable(item):
            return str(to_json_value(item))
        text = repr(item)
        return text if len(text) <= 40 else text[:37] + "..."

    return "{" + ", ".join(f"{key}: {kind(item)}" for key, item in value.items()) + "}"


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy tensors that share memory with an earlier one (``baselines=X[0]`` is a view of the
    inputs): safetensors refuses to write shared memory."""
    seen: set[int] = set()
    result = {}
    for key, value in tensors.items():
        storage = value.untyped_storage().data_ptr()
        if storage in seen and value.numel():
            value = value.clone()
        seen.add(value.untyped_storage().data_ptr())
        result[key] = value
    return result


def _sample_index(index: Any, n: int) -> slice | torch.Tensor:
    """A slice or LongTensor of sample positions from an int (Python, numpy or 0-d tensor), a
    slice, a sequence of ints or a boolean mask of ``n`` values. Another type is a TypeError,
    a position out of range an IndexError (both :class:`xai.errors.InputError`); one int is
    checked by :func:`xai._validation.check_sample_index`, as everywhere."""
    if isinstance(index, slice):
        return index
    if integer_value(index) is not None:
        position = check_sample_index(index, n)
        return slice(position, position + 1)
    try:
        positions = torch.as_tensor(np.asarray(index) if isinstance(index, list | tuple) else index)
    except (TypeError, ValueError, RuntimeError):
        positions = None
    if positions is not None and positions.dtype == torch.bool and positions.shape == (n,):
        return positions.nonzero().flatten()
    if (
        positions is None
        or positions.ndim != 1
        or positions.is_floating_point()
        or (positions.dtype == torch.bool)
    ):
        raise IndexTypeError(
            "index",
            f"expected an int, a slice, a sequence of ints or a boolean mask of {n} "
            f"values, got {type(index).__name__}"
            + (f" {index!r}" if isinstance(index, float | str | bool) else "")
            + ".",
        )
    positions = positions.long()
    outside = (positions < -n) | (positions >= n)
    if bool(outside.any()):
        raise index_out_of_range(int(positions[outside][0]), n)
    return positions % n
