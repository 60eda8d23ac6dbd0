"""A model under study with its test data: a reference model by name, or a user's model built
from ``module:factory`` with safetensors weights and an ``.npz`` test set.

The evaluation suite behind ``xai report`` and the dashboard both start from a
:class:`Subject`. Nothing here unpickles: weights are safetensors, data is ``np.load`` with
``allow_pickle=False``. Files may be given as paths or as raw bytes (an upload).
"""

from __future__ import annotations

import importlib
import io
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

from xai.training.checkpoint import history_path
from xai.training.history import History

__all__ = ["Subject", "load_factory", "reference_subject", "user_subject"]

#: A file given as a path or as its bytes (e.g. a browser upload).
FileLike = str | os.PathLike[str] | bytes


#: How ``xai dashboard`` hands the user's model to the app (a Streamlit script has no arguments
#: of its own): environment variables holding the ``module:factory``, the weights and the data.
MODEL_ENV, WEIGHTS_ENV, DATA_ENV = (
    "XAI_DASHBOARD_MODEL",
    "XAI_DASHBOARD_WEIGHTS",
    "XAI_DASHBOARD_DATA",
)


@dataclass
class Subject:
    """A model under study with its test data.

    Attributes:
        name: the model's name in reports and the dashboard.
        model: the model, in eval mode.
        inputs: test inputs ``(N, ...)``.
        labels: test labels ``(N,)``.
        masks: ground-truth object masks ``(N, H, W)`` for localization metrics, or None.
        class_names: class names in label order, or None.
        feature_names: names of tabular features, or None.
        history: the training history (:class:`xai.training.History`) when one was found
            beside the weights (``NAME.history.json``, as ``xai.fit`` writes it), else None.
        info: what a report shows about the model (task, classes, source).
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

    @property
    def is_image(self) -> bool:
        return self.inputs.ndim == 4

    @property
    def num_classes(self) -> int:
        return int(self.info.get("num_classes") or len(self.class_names or []) or 2)

    def class_name(self, label: int) -> str:
        """The name of class ``label`` (its number when the classes have no names)."""
        names = self.class_names or []
        return names[label] if 0 <= label < len(names) else str(label)


def reference_subject(name: str, loader: Any = None) -> Subject:
    """The reference model ``name`` on its test split (``loader``: a cached loader such as
    the ``xai_reference_model`` fixture; default :func:`reference_models.load`)."""
    import reference_models

    ref = (loader or reference_models.load)(name)
    tensors = ref.data["test"].tensors
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
    )


def load_factory(spec: str) -> Any:
    """The callable named by ``spec`` (``"module:factory"``), imported from the current folder
    or the installed packages.

    Raises:
        ValueError: a malformed spec, a module that cannot be imported, a missing attribute.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(
            f"model: expected a reference model name or 'module:factory', got {spec!r}. "
            "Example: --model mypackage.models:build_model"
        )
    module_name, _, attribute = spec.strip().partition(":")
    if not module_name or not attribute:
        raise ValueError(
            f"model: expected 'module:factory' with both parts, got {spec!r}. "
            "Example: --model mypackage.models:build_model"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or any error raised while importing it
        raise ValueError(
            f"model: could not import module {module_name!r} of {spec!r} "
            f"({type(error).__name__}: {error}). Run from the folder that holds it or install it."
        ) from error
    try:
        factory = getattr(module, attribute)
    except AttributeError:
        raise ValueError(
            f"model: module {module_name!r} has no attribute {attribute!r} (from {spec!r}); "
            "expected 'module:factory' naming a callable in it that returns the "
            "torch.nn.Module."
        ) from None
    if not callable(factory):
        raise TypeError(
            f"model: {spec} is a {type(factory).__name__}, expected a callable that returns "
            "the torch.nn.Module."
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
        raise ValueError(
            f"weights: expected a .safetensors file of the model's state dict, but "
            f"{_describe(weights)} could not be read as one ({error}). "
            "Save with safetensors.torch.save_file(model.state_dict(), path)."
        ) from error


def _not_npz(data: FileLike, reason: str) -> ValueError:
    return ValueError(
        f"data: expected an .npz file (np.savez(path, x=inputs, y=labels)), but "
        f"{_describe(data)} could not be read as one ({reason})."
    )


def _load_arrays(data: FileLike) -> dict[str, np.ndarray]:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        loaded = np.load(source, allow_pickle=False)
    except ValueError as error:  # neither .npz nor .npy: numpy would fall back to pickle
        raise _not_npz(data, "it is neither an .npz nor an .npy file") from error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise _not_npz(data, str(error)) from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a single .npy array
        raise _not_npz(data, f"it is one .npy array of shape {tuple(np.shape(loaded))}")
    try:
        with loaded as arrays:
            return {name: arrays[name] for name in arrays.files}
    except ValueError as error:  # object arrays need pickle, which is refused
        raise ValueError(
            f"data: {_describe(data)} holds arrays that need pickle to load ({error}); "
            "save plain numeric arrays (and class names as a string array)."
        ) from error
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise _not_npz(data, str(error)) from error


def _check_exists(argument: str, path: FileLike, suffix: str, spec: str) -> None:
    if isinstance(path, bytes):
        return
    if path is None or not Path(path).is_file():
        raise ValueError(
            f"{argument}: expected an existing {suffix} file for model {spec!r}, got {path!r}."
        )


def _check_model_fits_data(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, spec: str
) -> int:
    """Run the model on two samples; returns its number of output columns."""
    try:
        with torch.no_grad():
            output = model(inputs[:2])
    except Exception as error:
        raise ValueError(
            f"data: the model of {spec} cannot run on 'x' of shape {tuple(inputs.shape)} "
            f"(one sample {tuple(inputs.shape[1:])}): {type(error).__name__}: {error}. "
            "Save inputs in the layout the model takes, e.g. (N, C, H, W) for images."
        ) from error
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"model: {spec} should return logits of shape (N, classes), got {shape}.")
    columns = int(output.shape[1])
    classes = max(columns, 2)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"data: labels 'y' range over {int(labels.min())}..{int(labels.max())} but the model "
            f"has {columns} output column(s); expected labels in 0..{classes - 1}."
        )
    return classes


def user_subject(spec: str, weights: FileLike, data: FileLike) -> Subject:
    """A user's model: ``spec`` is ``module:factory`` (a callable returning the ``nn.Module``),
    ``weights`` a safetensors file of its state dict, ``data`` an ``.npz`` file with arrays
    ``x`` (inputs) and ``y`` (labels), optionally ``masks``, ``class_names`` and
    ``feature_names`` (string arrays). Files are paths or their bytes.

    Raises:
        ValueError: a malformed spec, missing or unreadable files, missing arrays, weights that
            do not fit the model, inputs the model cannot take.
        TypeError: a factory that does not return an ``nn.Module``.
    """
    factory = load_factory(spec)
    _check_exists("weights", weights, ".safetensors", spec)
    _check_exists("data", data, ".npz", spec)
    try:
        model = factory()
    except Exception as error:
        raise ValueError(
            f"model: calling {spec}() failed: {type(error).__name__}: {error}. The factory "
            "must take no arguments and return the torch.nn.Module."
        ) from error
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model: {spec} returned {type(model).__name__}, expected a torch.nn.Module."
        )
    try:
        model.load_state_dict(_load_weights(weights))
    except RuntimeError as error:
        raise ValueError(
            f"weights: {_describe(weights)} does not fit the model of {spec}: {error}"
        ) from error
    model.eval()

    arrays = _load_arrays(data)
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise ValueError(
            f"data: {_describe(data)} needs arrays 'x' (inputs) and 'y' (labels); missing "
            f"{sorted(missing)}, found {sorted(arrays)}. "
            "Save with np.savez(path, x=inputs, y=labels)."
        )
    try:
        inputs = torch.as_tensor(arrays["x"], dtype=torch.float32)
        raw_labels = torch.as_tensor(arrays["y"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"data: 'x' and 'y' must be numeric arrays ({error}).") from error
    if raw_labels.is_floating_point() and not bool((raw_labels == raw_labels.round()).all()):
        raise ValueError(
            f"data: expected whole-number class labels in 'y', got {raw_labels.dtype} values "
            "with fractions (e.g. probabilities); save the class indices, e.g. y.argmax(1)."
        )
    labels = raw_labels.long()
    if inputs.ndim < 2 or labels.ndim != 1 or len(inputs) != len(labels) or not len(labels):
        raise ValueError(
            f"data: expected 'x' of shape (N, ...) and 'y' of shape (N,) with N > 0, got "
            f"x {tuple(inputs.shape)} and y {tuple(labels.shape)}."
        )
    masks = torch.as_tensor(arrays["masks"]).bool() if "masks" in arrays else None
    class_names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else None
    feature_names = [str(n) for n in arrays["feature_names"]] if "feature_names" in arrays else None
    classes = _check_model_fits_data(model, inputs, labels, spec)
    if class_names is not None and len(class_names) != classes:
        raise ValueError(
            f"data: 'class_names' has {len(class_names)} names but the model has {classes} "
            "classes; expected one name per class."
        )
    if feature_names is not None and (inputs.ndim != 2 or len(feature_names) != inputs.shape[1]):
        raise ValueError(
            f"data: 'feature_names' has {len(feature_names)} names; expected one per column "
            f"of tabular 'x', which has shape {tuple(inputs.shape)}."
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
        info={
            "task": "image-classification" if inputs.ndim == 4 else "classification",
            "num_classes": classes,
            "source": f"{spec} ({_file_name(weights)}, {_file_name(data)})",
        },
    )
