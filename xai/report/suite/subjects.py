"""What the bundled suite evaluates: a reference model by name, or a user's model built from
``module:factory`` with safetensors weights and an ``.npz`` test set (no pickle anywhere)."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class Subject:
    """A model under test with its test data.

    Attributes:
        name: the model's name in the report.
        model: the model, in eval mode.
        inputs: test inputs ``(N, ...)``.
        labels: test labels ``(N,)``.
        masks: ground-truth object masks for localization metrics, or None.
        class_names: class names in label order, or None.
        info: what the report shows about the model (task, classes, source).
    """

    name: str
    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None
    class_names: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        return self.inputs.ndim == 4


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
        info={
            "task": ref.info.task,
            "num_classes": ref.info.num_classes,
            "source": f"reference_models ({Path(ref.info.weights).name})",
        },
    )


def _factory(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(
            f"model: expected a reference model name or 'module:factory', got {spec!r}. "
            "Example: --model mypackage.models:build_model"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"model: could not import module {module_name!r} of {spec!r} ({error}). "
            "Run from the folder that holds it or install it."
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(
            f"model: module {module_name!r} has no attribute {attribute!r} (from {spec!r})."
        ) from None


def user_subject(
    spec: str, weights: str | os.PathLike[str], data: str | os.PathLike[str]
) -> Subject:
    """A user's model: ``spec`` is ``module:factory`` (a callable returning the ``nn.Module``),
    ``weights`` a safetensors file of its state dict, ``data`` an ``.npz`` file with arrays
    ``x`` (inputs) and ``y`` (labels), optionally ``masks`` and ``class_names`` (strings).

    Raises:
        ValueError: a malformed spec, missing files or arrays, weights that do not fit.
        TypeError: a factory that does not return an ``nn.Module``.
    """
    from safetensors.torch import load_file

    factory = _factory(spec)
    model = factory()
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model: {spec} returned {type(model).__name__}, expected a torch.nn.Module."
        )
    for argument, path, suffix in (("weights", weights, ".safetensors"), ("data", data, ".npz")):
        if path is None or not Path(path).is_file():
            raise ValueError(
                f"{argument}: expected an existing {suffix} file for model {spec!r}, got {path!r}."
            )
    try:
        model.load_state_dict(load_file(str(weights)))
    except RuntimeError as error:
        raise ValueError(f"weights: {weights} does not fit the model of {spec}: {error}") from error
    model.eval()
    with np.load(data, allow_pickle=False) as arrays:
        missing = {"x", "y"} - set(arrays.files)
        if missing:
            raise ValueError(
                f"data: {data} needs arrays 'x' (inputs) and 'y' (labels); missing "
                f"{sorted(missing)}, found {sorted(arrays.files)}. "
                "Save with np.savez(path, x=inputs, y=labels)."
            )
        inputs = torch.as_tensor(arrays["x"], dtype=torch.float32)
        labels = torch.as_tensor(arrays["y"]).long()
        masks = torch.as_tensor(arrays["masks"]).bool() if "masks" in arrays.files else None
        names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays.files else None
    if len(inputs) != len(labels):
        raise ValueError(
            f"data: 'x' has {len(inputs)} samples but 'y' has {len(labels)}; expected equal."
        )
    return Subject(
        name=spec,
        model=model,
        inputs=inputs,
        labels=labels,
        masks=masks,
        class_names=names,
        info={
            "task": "image-classification" if inputs.ndim == 4 else "classification",
            "num_classes": int(labels.max()) + 1 if names is None else len(names),
            "source": f"{spec} ({Path(weights).name}, {Path(data).name})",
        },
    )
