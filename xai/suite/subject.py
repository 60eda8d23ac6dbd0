"""A model under study with its test data: a reference model by name, or a user's model built
from ``module:factory`` with safetensors weights and an ``.npz`` test set.

The evaluation suite behind ``xai report`` and the dashboard both start from a
:class:`Subject`. Nothing here unpickles: weights are safetensors, data is ``np.load`` with
``allow_pickle=False``. Files may be given as paths or as raw bytes (an upload).
"""

from __future__ import annotations

import importlib
import io
import math
import os
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xai._model import automatic_selector, select_output
from xai._state import eval_mode
from xai.errors import InputError, InputTypeError
from xai.training.checkpoint import history_path
from xai.training.history import History

__all__ = [
    "Subject",
    "load_factory",
    "method_applicability",
    "parse_spec",
    "reference_subject",
    "user_data",
    "user_model",
    "user_subject",
]

#: A file given as a path or as its bytes (e.g. a browser upload).
FileLike = str | os.PathLike[str] | bytes


#: How ``xai dashboard`` hands the user's model to the app (a Streamlit script has no arguments
#: of its own): environment variables holding the ``module:factory``, the weights and the data.
MODEL_ENV, WEIGHTS_ENV, DATA_ENV = (
    "XAI_DASHBOARD_MODEL",
    "XAI_DASHBOARD_WEIGHTS",
    "XAI_DASHBOARD_DATA",
)
#: The ``module:factory`` names the dashboard's upload form may load (comma-separated): the
#: ones ``xai dashboard`` was started with. Nothing else is imported from a web page ...
FACTORIES_ENV = "XAI_DASHBOARD_FACTORIES"
#: ... unless this is ``"1"`` (``xai dashboard --allow-code``): then any typed name is imported.
ALLOW_CODE_ENV = "XAI_DASHBOARD_ALLOW_CODE"
#: Limits on uploads, in MB (2**20 bytes): each uploaded file, and the arrays of an uploaded
#: ``.npz`` once decompressed (``xai dashboard --max-upload-mb / --max-data-mb``).
MAX_UPLOAD_ENV, MAX_DATA_ENV = "XAI_DASHBOARD_MAX_UPLOAD_MB", "XAI_DASHBOARD_MAX_DATA_MB"
DEFAULT_MAX_UPLOAD_MB, DEFAULT_MAX_DATA_MB = 100, 256
MB = 2**20


@dataclass
class Subject:
    """A model under study with its test data.

    Attributes:
        name: the model's name in reports and the dashboard.
        model: the model, in eval mode.
        inputs: test inputs ``(N, ...)``.
        labels: test labels ``(N,)``.
        masks: ground-truth masks for localization metrics, or None: object masks
            ``(N, 1, H, W)`` of images, keyword masks ``(N, L)`` of token ids.
        class_names: class names in label order, or None.
        feature_names: names of tabular features, or None.
        history: the training history (:class:`xai.training.History`) when one was found
            beside the weights (``NAME.history.json``, as ``xai.fit`` writes it), else None.
        info: what a report shows about the model (task, classes, source).
        model_kwargs: extra forward arguments of the test inputs, one row per sample
            (``{"attention_mask": (N, L)}`` for a text model), passed to every explanation and
            evaluation of the subject's samples (:meth:`forward_kwargs` slices them).
        vocabulary: the token strings of a text model (index = token id), else None.
    """

    name: str
    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    history: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, torch.Tensor] = field(default_factory=dict)
    vocabulary: list[str] | None = None

    @property
    def is_image(self) -> bool:
        return self.inputs.ndim == 4

    @property
    def is_text(self) -> bool:
        """True for token ids: integer inputs ``(N, L)``."""
        return self.inputs.ndim == 2 and not self.inputs.is_floating_point()

    def forward_kwargs(self, rows: Any = None) -> dict[str, torch.Tensor]:
        """:attr:`model_kwargs` of the samples ``rows`` (indices, a slice; None: all), for
        ``model_kwargs=`` of :func:`xai.explain`, :func:`xai.compare` and the metrics."""
        if rows is None:
            return dict(self.model_kwargs)
        return {key: value[rows] for key, value in self.model_kwargs.items()}

    def tokens(self, rows: Any = None) -> list[list[str]] | None:
        """The token strings of the samples ``rows`` (one list of ``L`` per row, padding
        included), for ``tokens=`` of :func:`xai.explain`; None for a subject without a
        vocabulary."""
        if self.vocabulary is None or not self.is_text:
            return None
        ids = self.inputs if rows is None else self.inputs[rows]
        vocabulary = self.vocabulary
        return [[vocabulary[i] if 0 <= i < len(vocabulary) else "?" for i in row]
                for row in ids.reshape(len(ids), -1).tolist()]  # fmt: skip

    def outputs(self, rows: Any = None, batch_size: int = 512) -> torch.Tensor:
        """The model's scores of the samples ``rows`` (None: all) with their
        :attr:`model_kwargs`, computed in batches without gradients, on the CPU."""
        inputs = self.inputs if rows is None else self.inputs[rows]
        kwargs = self.forward_kwargs(rows)
        device = next(iter(self.model.parameters()), torch.empty(0)).device
        chunks = []
        # under xai's model lock (eval_mode), as explanations in other threads are
        with eval_mode(self.model), torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                part = slice(start, start + batch_size)
                extra = {key: value[part].to(device) for key, value in kwargs.items()}
                raw = self.model(inputs[part].to(device), **extra)
                scores = select_output(raw, automatic_selector(raw))  # logits of a ModelOutput
                chunks.append(scores.float().cpu())
        return torch.cat(chunks)

    def evaluate(self) -> Any:
        """:func:`xai.evaluate` of the model on the subject's test data (with its
        :attr:`model_kwargs`: the scores of :meth:`outputs`)."""
        from xai.evaluation.classification import evaluate, evaluate_outputs

        if not self.model_kwargs:
            return evaluate(self.model, (self.inputs, self.labels), class_names=self.class_names)
        return evaluate_outputs(self.labels, self.outputs(), class_names=self.class_names)

    @property
    def num_classes(self) -> int:
        return int(self.info.get("num_classes") or len(self.class_names or []) or 2)

    def class_name(self, label: int) -> str:
        """The name of class ``label`` (its number when the classes have no names)."""
        names = self.class_names or []
        return names[label] if 0 <= label < len(names) else str(label)


def reference_subject(name: str, loader: Any = None, split: str = "test") -> Subject:
    """The reference model ``name`` on its ``split`` (default the test split; ``loader``: a
    cached loader such as the ``xai_reference_model`` fixture; default
    :func:`reference_models.load`). The text model's subject carries its keyword masks as
    ``masks``, its attention masks in ``model_kwargs`` and its vocabulary."""
    import reference_models

    ref = (loader or reference_models.load)(name)
    if split not in ref.data:
        raise InputError("split", f"expected one of {', '.join(ref.data)}, got {split!r}.")
    tensors = ref.data[split].tensors
    vocabulary = ref.info.vocabulary
    text = vocabulary is not None
    return Subject(
        name=name,
        model=ref.model,
        inputs=tensors[0],
        labels=tensors[1],
        masks=tensors[2] if len(tensors) > 2 else None,
        class_names=list(ref.info.class_names),
        feature_names=list(ref.info.feature_names) if ref.info.feature_names else None,
        history=_history_beside(ref.info.weights),
        info={
            "task": ref.info.task,
            "num_classes": ref.info.num_classes,
            "source": f"reference_models ({Path(ref.info.weights).name})",
        },
        # (input_ids, labels, keyword_mask, attention_mask): the model reads the fourth
        model_kwargs={"attention_mask": tensors[3]} if text and len(tensors) > 3 else {},
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )


def method_applicability(inputs: torch.Tensor, model: nn.Module | None = None) -> dict[str, str]:
    """Every registered method -> ``""`` when it explains inputs of this layout, else why
    not (e.g. Grad-CAM on tabular rows: "explains image inputs only"), as each method's class
    declares it (:meth:`~xai.explainers.base.Explainer.accepts`)."""
    from xai.explainers.registry import available_explainers, explainer_class

    reasons = {}
    for method in available_explainers():
        cls = explainer_class(method)
        kinds = " and ".join(cls.input_kinds())
        if cls.accepts(inputs, model):
            reasons[method] = ""
        elif not inputs.is_floating_point() and inputs.ndim == 2:
            reasons[method] = "does not explain the token ids of this model"
        else:
            reasons[method] = f"explains {kinds} inputs only"
    return reasons


def parse_spec(spec: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``"module:factory"``, checked without importing anything.

    Raises:
        InputError: a spec that is not a string of the form ``module:factory``.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(
            "model",
            f"expected a reference model name or 'module:factory', got {spec!r}. "
            "Example: --model mypackage.models:build_model",
        )
    module_name, _, attribute = spec.strip().partition(":")
    if not module_name or not attribute:
        raise InputError(
            "model",
            f"expected 'module:factory' with both parts, got {spec!r}. "
            "Example: --model mypackage.models:build_model",
        )
    return module_name, attribute


def load_factory(spec: str) -> Any:
    """The callable named by ``spec`` (``"module:factory"``), imported from the current folder
    or the installed packages. Importing runs the module's code: give only trusted names.

    Raises:
        InputError: a malformed spec, a module that cannot be imported, a missing attribute.
        InputTypeError: an attribute that is not callable.
    """
    module_name, attribute = parse_spec(spec)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or any error raised while importing it
        raise InputError(
            "model",
            f"could not import module {module_name!r} of {spec!r} "
            f"({type(error).__name__}: {error}). Run from the folder that holds it or install it.",
        ) from error
    try:
        factory = getattr(module, attribute)
    except AttributeError:
        raise InputError(
            "model",
            f"module {module_name!r} has no attribute {attribute!r} (from {spec!r}); "
            "expected 'module:factory' naming a callable in it that returns the "
            "torch.nn.Module.",
        ) from None
    if not callable(factory):
        raise InputTypeError(
            "model",
            f"{spec} is a {type(factory).__name__}, expected a callable that returns "
            "the torch.nn.Module.",
        )
    return factory


def _describe(source: FileLike) -> str:
    return f"the uploaded file ({len(source)} bytes)" if isinstance(source, bytes) else str(source)


def _history_beside(weights: str | os.PathLike[str]) -> Any:
    """The History saved beside a checkpoint by ``xai.fit``, or None (absent or unreadable)."""
    path = history_path(weights)
    if not path.is_file():
        return None
    try:
        return History.load(path)
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _file_name(source: FileLike) -> str:
    return "upload" if isinstance(source, bytes) else Path(source).name


def _load_weights(weights: FileLike) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load, load_file

    try:
        if isinstance(weights, bytes):
            return load(weights)
        return load_file(str(weights))
    except (SafetensorError, ValueError, OSError) as error:
        raise InputError(
            "weights",
            f"expected a .safetensors file of the model's state dict, but "
            f"{_describe(weights)} could not be read as one ({error}). "
            "Save with safetensors.torch.save_file(model.state_dict(), path).",
        ) from error


def _not_npz(data: FileLike, reason: str) -> InputError:
    return InputError(
        "data",
        f"expected an .npz file (np.savez(path, x=inputs, y=labels)), but "
        f"{_describe(data)} could not be read as one ({reason}).",
    )


def _too_large(data: FileLike, what: str, size: int, max_bytes: int) -> InputError:
    return InputError(
        "data",
        f"{_describe(data)} {what} {size / MB:.1f} MB once decompressed, more than the "
        f"limit of {max_bytes / MB:g} MB; save fewer or smaller samples.",
    )


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def _npy_header(stream: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype an ``.npy`` stream declares, read from its header alone."""
    version = np.lib.format.read_magic(stream)
    # a 3.0 header is a 2.0 one in UTF-8; read as Latin-1, field names may be garbled, but
    # the shape and the item size (all that is used here) are the same
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read(stream)
    return tuple(int(n) for n in shape), dtype


def _load_arrays(data: FileLike, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, never unpickled. With ``max_bytes``, the sizes its zip
    headers and ``.npy`` headers declare are checked against it before anything is
    decompressed (an ``.npz`` of zeros compresses a thousandfold)."""
    try:
        if isinstance(data, bytes):
            start = data[:6]
        else:
            with open(data, "rb") as file:
                start = file.read(6)
    except OSError as error:
        raise _not_npz(data, str(error)) from error
    if start == _NPY_MAGIC:
        try:
            with io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb") as stream:
                shape, _ = _npy_header(stream)
        except (ValueError, OSError, EOFError) as error:
            raise _not_npz(data, "it is an .npy file, not an .npz") from error
        raise _not_npz(data, f"it is one .npy array of shape {shape}")
    if not start.startswith(_ZIP_MAGIC[:2]):
        raise _not_npz(data, "it is neither an .npz nor an .npy file")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            members = [i for i in archive.infolist() if i.filename.endswith(".npy")]
            declared = sum(member.file_size for member in members)
            if max_bytes is not None and declared > max_bytes:
                raise _too_large(data, "holds", declared, max_bytes)
            for member in members:
                name = member.filename[: -len(".npy")]
                with archive.open(member) as stream:
                    shape, dtype = _npy_header(stream)
                    if dtype.hasobject:
                        raise InputError(
                            "data",
                            f"{_describe(data)} holds arrays that need pickle to load ({name!r} "
                            f"has dtype {dtype}); save plain numeric arrays (and class names as "
                            "a string array).",
                        )
                    size = math.prod(shape) * dtype.itemsize
                    # numpy allocates the whole array from the header before reading it
                    if size > member.file_size:
                        raise _not_npz(
                            data,
                            f"array {name!r} declares shape {shape} of {dtype}, {size} bytes, "
                            f"but holds {member.file_size}",
                        )
                with archive.open(member) as stream:
                    arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    except InputError:
        raise
    except ValueError as error:  # a header numpy cannot read, or arrays shorter than declared
        raise _not_npz(data, str(error)) from error
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise _not_npz(data, str(error)) from error
    return arrays


def _check_exists(argument: str, path: FileLike, suffix: str, spec: str) -> None:
    if isinstance(path, bytes):
        return
    if path is None or not Path(path).is_file():
        raise InputError(
            argument, f"expected an existing {suffix} file for model {spec!r}, got {path!r}."
        )


def _check_model_fits_data(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    spec: str,
    model_kwargs: dict[str, torch.Tensor] | None = None,
) -> int:
    """Run the model on two samples; returns its number of output columns."""
    extra = {key: value[:2] for key, value in (model_kwargs or {}).items()}
    text = not inputs.is_floating_point()
    try:
        with torch.no_grad():
            raw = model(inputs[:2], **extra)
    except Exception as error:
        if text:
            given = " and 'attention_mask'" if extra else ""
            raise InputError(
                "data",
                f"the model of {spec} cannot run on the token ids 'x' of shape "
                f"{tuple(inputs.shape)}{given}: {type(error).__name__}: {error}. Save the ids "
                "the model takes (model(input_ids, attention_mask=...)).",
            ) from error
        raise InputError(
            "data",
            f"the model of {spec} cannot run on 'x' of shape {tuple(inputs.shape)} "
            f"(one sample {tuple(inputs.shape[1:])}): {type(error).__name__}: {error}. "
            "Save inputs in the layout the model takes, e.g. (N, C, H, W) for images.",
        ) from error
    try:
        output = select_output(raw, automatic_selector(raw))  # the logits of a ModelOutput
    except InputError as error:
        raise InputError(
            "model",
            f"{spec} should return logits of shape (N, classes) (a tensor, or an output with "
            f".logits), but: {error}",
        ) from error
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise InputError(
            "model", f"{spec} should return logits of shape (N, classes), got {shape}."
        )
    columns = int(output.shape[1])
    classes = max(columns, 2)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise InputError(
            "data",
            f"labels 'y' range over {int(labels.min())}..{int(labels.max())} but the model "
            f"has {columns} output column(s); expected labels in 0..{classes - 1}.",
        )
    return classes


def _token_arrays(
    arrays: dict[str, np.ndarray], ids: torch.Tensor, masks: torch.Tensor | None
) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """The forward arguments (``attention_mask``) and the vocabulary of an ``.npz`` of token
    ids ``ids``, checked with its ground-truth ``masks``."""
    shape = tuple(ids.shape)
    if ids.numel() and int(ids.min()) < 0:
        raise InputError(
            "data", f"'x' holds token ids, which must be >= 0, got a minimum of {int(ids.min())}."
        )
    if masks is not None and tuple(masks.shape) != shape:
        raise InputError(
            "data",
            f"'masks' of token ids mark the tokens that decide the class, shape {shape} as "
            f"'x', got {tuple(masks.shape)}.",
        )
    model_kwargs = {}
    if "attention_mask" in arrays:
        raw = torch.as_tensor(arrays["attention_mask"])
        if tuple(raw.shape) != shape or raw.is_complex():
            raise InputError(
                "data",
                f"'attention_mask' must have the shape of 'x' {shape} (1 at real tokens, 0 at "
                f"padding), got {tuple(raw.shape)}.",
            )
        if not bool(((raw == 0) | (raw == 1)).all()):
            raise InputError(
                "data", "'attention_mask' must hold 0 and 1 only (1 at real tokens, 0 at padding)."
            )
        model_kwargs["attention_mask"] = raw.long()
    vocabulary = None
    if "vocabulary" in arrays:
        words = arrays["vocabulary"]
        if words.dtype.kind != "U" or words.ndim != 1:
            raise InputError(
                "data",
                "'vocabulary' must be a 1-D string array (np.array(tokens), index = token id), "
                f"got dtype {words.dtype} and shape {words.shape}.",
            )
        vocabulary = [str(word) for word in words]
        if ids.numel() and int(ids.max()) >= len(vocabulary):
            raise InputError(
                "data",
                f"'x' holds token id {int(ids.max())}, but 'vocabulary' has {len(vocabulary)} "
                "tokens; expected one string per id.",
            )
    return model_kwargs, vocabulary


def _built_model(
    spec: str, state_dict: dict[str, torch.Tensor] | None, weights: FileLike | None
) -> nn.Module:
    """The factory's model (eval mode), holding ``state_dict`` (read from ``weights``) when
    given."""
    factory = load_factory(spec)
    try:
        model = factory()
    except Exception as error:
        raise InputError(
            "model",
            f"calling {spec}() failed: {type(error).__name__}: {error}. The factory "
            "must take no arguments and return the torch.nn.Module.",
        ) from error
    if not isinstance(model, nn.Module):
        raise InputTypeError(
            "model", f"{spec} returned {type(model).__name__}, expected a torch.nn.Module."
        )
    if state_dict is not None and weights is not None:
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as error:
            raise InputError(
                "weights", f"{_describe(weights)} does not fit the model of {spec}: {error}"
            ) from error
    model.eval()
    return model


def user_model(spec: str, weights: FileLike | None = None) -> nn.Module:
    """The model of ``module:factory`` (eval mode), with the safetensors ``weights`` loaded
    when given (else as the factory built it: ``xai train`` starts from there). The weights
    are read before the factory's module is imported.

    Raises:
        InputError: a malformed spec, a missing or unreadable weights file, weights that do not
            fit the model.
        InputTypeError: a factory that does not return an ``nn.Module``.
    """
    parse_spec(spec)
    state_dict = None
    if weights is not None:
        _check_exists("weights", weights, ".safetensors", spec)
        state_dict = _load_weights(weights)
    return _built_model(spec, state_dict, weights)


def user_data(
    data: FileLike, *, argument: str = "data", max_data_bytes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs ``x`` (float32) and labels ``y`` (int64) of an ``.npz`` file, checked as
    :func:`user_subject` checks them; errors name ``argument`` (e.g. ``val_data``).

    Raises:
        InputError: a missing or unreadable file, missing arrays, arrays that do not match.
    """
    if not isinstance(data, bytes) and not Path(data).is_file():
        raise InputError(argument, f"expected an existing .npz file, got {str(data)!r}.")
    try:
        inputs, labels, _ = _read_data(data, max_data_bytes)
    except InputError as error:
        raise error.renamed(argument) from error
    return inputs, labels


def _read_data(
    data: FileLike, max_data_bytes: int | None
) -> tuple[torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
    """``x`` and ``y`` of an ``.npz`` file as tensors, checked, and all its arrays."""
    arrays = _load_arrays(data, max_data_bytes)
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise InputError(
            "data",
            f"{_describe(data)} needs arrays 'x' (inputs) and 'y' (labels); missing "
            f"{sorted(missing)}, found {sorted(arrays)}. "
            "Save with np.savez(path, x=inputs, y=labels).",
        )
    try:
        token_ids = np.issubdtype(arrays["x"].dtype, np.integer) and arrays["x"].ndim == 2
        # integer (N, L) inputs are token ids, kept as integers (xai explains them as text)
        inputs = torch.as_tensor(arrays["x"], dtype=torch.long if token_ids else torch.float32)
        raw_labels = torch.as_tensor(arrays["y"])
    except (TypeError, ValueError) as error:
        raise InputError("data", f"'x' and 'y' must be numeric arrays ({error}).") from error
    if raw_labels.is_floating_point() and not bool((raw_labels == raw_labels.round()).all()):
        raise InputError(
            "data",
            f"expected whole-number class labels in 'y', got {raw_labels.dtype} values "
            "with fractions (e.g. probabilities); save the class indices, e.g. y.argmax(1).",
        )
    labels = raw_labels.long()
    if inputs.ndim < 2 or labels.ndim != 1 or len(inputs) != len(labels) or not len(labels):
        raise InputError(
            "data",
            f"expected 'x' of shape (N, ...) and 'y' of shape (N,) with N > 0, got "
            f"x {tuple(inputs.shape)} and y {tuple(labels.shape)}.",
        )
    return inputs, labels, arrays


def user_subject(
    spec: str, weights: FileLike, data: FileLike, *, max_data_bytes: int | None = None
) -> Subject:
    """A user's model: ``spec`` is ``module:factory`` (a callable returning the ``nn.Module``),
    ``weights`` a safetensors file of its state dict, ``data`` an ``.npz`` file with arrays
    ``x`` (inputs) and ``y`` (labels), optionally ``masks``, ``class_names`` and
    ``feature_names`` (string arrays). Files are paths or their bytes. An integer ``x``
    ``(N, L)`` holds token ids, kept as integers, with optionally ``attention_mask`` (``(N, L)``,
    0/1, read into :attr:`Subject.model_kwargs`), ``vocabulary`` (the token strings, index =
    id) and ``masks`` ``(N, L)`` (the tokens that decide the class).

    Both files are read and checked before the module is imported and the factory called, so
    a bad upload runs no code. ``max_data_bytes`` bounds the arrays of ``data`` once
    decompressed (checked from the file's headers before decompressing; None: no bound).

    Raises:
        InputError: a malformed spec, missing or unreadable files, missing arrays, data larger
            than ``max_data_bytes``, weights that do not fit the model, inputs the model cannot
            take.
        InputTypeError: a factory that does not return an ``nn.Module``.
    """
    parse_spec(spec)
    _check_exists("weights", weights, ".safetensors", spec)
    _check_exists("data", data, ".npz", spec)
    state_dict = _load_weights(weights)
    inputs, labels, arrays = _read_data(data, max_data_bytes)
    masks = torch.as_tensor(arrays["masks"]).bool() if "masks" in arrays else None
    text = not inputs.is_floating_point()
    model_kwargs, vocabulary = _token_arrays(arrays, inputs, masks) if text else ({}, None)
    class_names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else None
    feature_names = [str(n) for n in arrays["feature_names"]] if "feature_names" in arrays else None

    # Only now, with both files read, is the user's code run.
    model = _built_model(spec, state_dict, weights)

    classes = _check_model_fits_data(model, inputs, labels, spec, model_kwargs)
    if class_names is not None and len(class_names) != classes:
        raise InputError(
            "data",
            f"'class_names' has {len(class_names)} names but the model has {classes} "
            "classes; expected one name per class.",
        )
    if feature_names is not None and (inputs.ndim != 2 or len(feature_names) != inputs.shape[1]):
        raise InputError(
            "data",
            f"'feature_names' has {len(feature_names)} names; expected one per column "
            f"of tabular 'x', which has shape {tuple(inputs.shape)}.",
        )
    return Subject(
        name=spec,
        model=model,
        inputs=inputs,
        labels=labels,
        masks=masks,
        class_names=class_names,
        feature_names=feature_names,
        history=None if isinstance(weights, bytes) else _history_beside(weights),
        model_kwargs=model_kwargs,
        vocabulary=vocabulary,
        info={
            "task": "image-classification"
            if inputs.ndim == 4
            else "text-classification"
            if text
            else "classification",
            "num_classes": classes,
            "source": f"{spec} ({_file_name(weights)}, {_file_name(data)})",
        },
    )
