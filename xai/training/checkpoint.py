"""Checkpoints: weights as safetensors, metadata as JSON next to them. Loading never unpickles."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xai._files import atomic_path, to_json_value, write_json
from xai._provenance import library_versions
from xai.errors import InputError

__all__ = ["load_checkpoint", "metadata_path", "save_checkpoint"]

FORMAT = "xai.checkpoint"
FORMAT_VERSION = 1


def metadata_path(path: str | Path) -> Path:
    """The JSON metadata file of a checkpoint: ``model.safetensors`` -> ``model.json``."""
    return Path(path).with_suffix(".json")


def history_path(path: str | os.PathLike[str]) -> Path:
    """The training-history file of a checkpoint: ``model.safetensors`` -> ``model.history.json``."""
    return Path(path).with_suffix(".history.json")


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(
            "path",
            f"expected a file name ending in '.safetensors', got {str(path)!r}. "
            f"Use e.g. {str(path.with_suffix('.safetensors'))!r}.",
        )
    return path


def save_checkpoint(
    path: str | Path, model: nn.Module, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save ``model``'s state dict as safetensors at ``path`` and metadata as JSON beside it.

    Args:
        path: the weights file, ending in ``.safetensors``; metadata goes to the same name with
            ``.json``.
        model: the model (a ``DistributedDataParallel`` or compiled wrapper is unwrapped).
        metadata: JSON data (tensors and numpy values are turned into numbers and lists):
            architecture name and config, data split seed, metrics ... Library versions and the
            format are added. NaN and infinite numbers are written as ``null`` (read back as
            None).

    Returns:
        The path of the weights file.

    Raises:
        ValueError: when ``path`` does not end in ``.safetensors``.
        TypeError: when ``metadata`` holds something JSON cannot (a module, a function ...);
            nothing is written then.
    """
    from safetensors.torch import save_file

    path = _check_path(path)
    model = unwrap(model)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    record = {"format": FORMAT, "format_version": FORMAT_VERSION}
    record.update(dict(metadata or {}))
    record.setdefault("library_versions", library_versions())
    # converted before anything is written: metadata JSON cannot hold fails with no file left
    record = to_json_value(record, strict=True, where="metadata")
    with atomic_path(path) as temporary:
        save_file(state, str(temporary), metadata={"format": FORMAT})
    write_json(metadata_path(path), record)
    return path


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    device: str | torch.device = "cpu",
    strict: bool = True,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint` (safetensors + JSON; no pickle).

    Args:
        path: the ``.safetensors`` weights file.
        model: when given, the weights are loaded into it (``load_state_dict``).
        device: where the tensors are loaded.
        strict: passed to ``load_state_dict``.

    Returns:
        ``(state_dict, metadata)``; metadata is ``{}`` when the JSON file is absent. A number
        that was NaN or infinite is None (``null`` in the file).

    Raises:
        FileNotFoundError: when the weights file does not exist.
        ValueError: when it is not a safetensors file, its JSON is broken, or the weights do
            not fit ``model``.
    """
    from safetensors.torch import load_file

    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path: no checkpoint at {str(path)!r}. Train one with xai.fit(..., checkpoint=path) "
            "or `xai train NAME --out DIR`."
        )
    try:
        state = load_file(str(path), device=str(device))
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise InputError(
            "path",
            f"{str(path)!r} is not a readable safetensors file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}).",
        ) from error
    meta_file = metadata_path(path)
    try:
        metadata = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(
            "path",
            f"the metadata beside the weights, {str(meta_file)!r}, is not valid JSON ({error}).",
        ) from error
    if model is not None:
        try:
            unwrap(model).load_state_dict(state, strict=strict)
        except RuntimeError as error:
            raise InputError(
                "path",
                f"the weights in {str(path)!r} do not fit the model: "
                f"{' '.join(str(error).split())[:600]}",
            ) from error
    return state, metadata


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside ``DistributedDataParallel`` / ``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod  # type: ignore[assignment]
        elif isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        else:
            return model
