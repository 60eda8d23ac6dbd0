"""Checkpoints: weights as safetensors, metadata as JSON next to them. Loading never unpickles.

A checkpoint ``model.safetensors`` is one unit of up to four files:

- ``model.safetensors``: the weights; its header also holds a copy of the metadata and of the
  history and the unit's ``checkpoint_id``;
- ``model.json``: the metadata (with the same ``checkpoint_id``);
- ``model.history.json``: the training history (written by :func:`xai.fit`);
- ``model.resume.safetensors``: while :func:`xai.fit` runs, everything a resumed run needs
  (current and best weights, optimizer, scheduler, scaler and RNG states, the history); it is
  removed when the run ends.

Every file of a unit is written to a temporary name first and renamed into place only once all
of them are complete, so an error or ``KeyboardInterrupt`` leaves the previous unit as it was.
A reader that finds files of two units (a crash between two renames, or a write in progress)
tells them apart by ``checkpoint_id``: :func:`load_checkpoint` then uses the metadata stored in
the weights file, so weights and metadata always come from the same write.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xai._files import atomic_path, dumps_json, to_json_value
from xai._provenance import library_versions
from xai.errors import InputError

__all__ = ["load_checkpoint", "metadata_path", "save_checkpoint"]

FORMAT = "xai.checkpoint"
FORMAT_VERSION = 1
STATE_FORMAT = "xai.training-state"

# fields of the metadata that readers use, and the JSON type each must have when present
_OBJECT_FIELDS = ("architecture", "metrics", "training", "data", "recipe", "library_versions")
_STRING_FIELDS = ("format", "history", "checkpoint_id", "reference_model")


def metadata_path(path: str | Path) -> Path:
    """The JSON metadata file of a checkpoint: ``model.safetensors`` -> ``model.json``."""
    return Path(path).with_suffix(".json")


def history_path(path: str | os.PathLike[str]) -> Path:
    """The training-history file of a checkpoint: ``model.safetensors`` -> ``model.history.json``."""
    return Path(path).with_suffix(".history.json")


def state_path(path: str | os.PathLike[str]) -> Path:
    """The training state of an unfinished run: ``model.safetensors`` ->
    ``model.resume.safetensors``."""
    return Path(path).with_suffix(".resume.safetensors")


def check_path(path: Any, argument: str = "path") -> Path:
    """``path`` as a Path ending in ``.safetensors`` that is not a folder, or an InputError."""
    if not isinstance(path, str | os.PathLike):
        raise InputError(
            argument,
            f"expected a file name ending in '.safetensors', got {type(path).__name__} "
            f"{path!r:.60}.",
        )
    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(
            argument,
            f"expected a file name ending in '.safetensors', got {str(path)!r}. "
            f"Use e.g. {str(path.with_suffix('.safetensors'))!r}.",
        )
    if path.is_dir():
        raise InputError(
            argument,
            f"{str(path)!r} is a folder; expected a file name inside it, e.g. "
            f"{str(path / 'model.safetensors')!r}.",
        )
    return path


def _cpu_tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # a copy of each (safetensors refuses tensors that share memory, e.g. tied weights)
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def write_unit(
    path: Path,
    weights: Mapping[str, torch.Tensor],
    record: Mapping[str, Any],
    *,
    history: Mapping[str, Any] | None = None,
    state: tuple[Mapping[str, torch.Tensor], Mapping[str, str]] | None = None,
    drop_state: bool = False,
) -> str:
    """Write one checkpoint unit (weights, metadata, and optionally history and training
    state) so that a reader never sees files of two units as one; returns its checkpoint id.

    Everything is serialised before the first file is created (metadata JSON cannot hold is a
    TypeError with nothing written); every file goes to a temporary name, and the renames
    happen only once all are complete. ``drop_state`` removes a training-state file left by
    an earlier unit (the run is over).
    """
    from safetensors.torch import save_file

    checkpoint_id = secrets.token_hex(8)
    record = {**dict(record), "checkpoint_id": checkpoint_id}
    record_text = dumps_json(record, indent=2, strict=True, where="metadata") + "\n"
    header = {
        "format": FORMAT,
        "checkpoint_id": checkpoint_id,
        "metadata": dumps_json(record, strict=True, where="metadata"),
    }
    history_text = None
    if history is not None:
        history_record = {**dict(history), "checkpoint_id": checkpoint_id}
        history_text = dumps_json(history_record, indent=2, strict=True, where="history") + "\n"
        header["history"] = dumps_json(history_record, strict=True, where="history")
    tensors = _cpu_tensors(weights)
    with ExitStack() as stack:
        # entered in this order, committed (renamed into place) in the reverse one: training
        # state, history, metadata, and the weights last (the unit's commit point); an error
        # anywhere discards every file not renamed yet
        save_file(tensors, str(stack.enter_context(atomic_path(path))), metadata=header)
        stack.enter_context(atomic_path(metadata_path(path))).write_text(
            record_text, encoding="utf-8"
        )
        if history_text is not None:
            stack.enter_context(atomic_path(history_path(path))).write_text(
                history_text, encoding="utf-8"
            )
        if state is not None:
            state_tensors, state_header = state
            save_file(
                _cpu_tensors(state_tensors),
                str(stack.enter_context(atomic_path(state_path(path)))),
                metadata={**dict(state_header), "checkpoint_id": checkpoint_id},
            )
    if drop_state:
        state_path(path).unlink(missing_ok=True)
    return checkpoint_id


def save_checkpoint(
    path: str | Path, model: nn.Module, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save ``model``'s state dict as safetensors at ``path`` and metadata as JSON beside it.

    Args:
        path: the weights file, ending in ``.safetensors``; metadata goes to the same name with
            ``.json``.
        model: the model (a ``DistributedDataParallel`` or compiled wrapper is unwrapped).
        metadata: JSON data (tensors and numpy values are turned into numbers and lists):
            architecture name and config, data split seed, metrics ... Library versions, the
            format and a ``checkpoint_id`` (shared with the weights file) are added. NaN and
            infinite numbers are written as ``null`` (read back as None).

    Returns:
        The path of the weights file.

    Raises:
        ValueError: when ``path`` does not end in ``.safetensors``.
        TypeError: when ``metadata`` holds something JSON cannot (a module, a function ...);
            nothing is written then.
    """
    path = check_path(path)
    record: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
    record.update(dict(metadata or {}))
    record.setdefault("library_versions", library_versions())
    # converted before anything is written: metadata JSON cannot hold fails with no file left
    record = to_json_value(record, strict=True, where="metadata")
    write_unit(path, unwrap(model).state_dict(), record)
    return path


def read_header(path: Path, argument: str = "path") -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, or an InputError naming ``argument``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise InputError(
            argument,
            f"{str(path)!r} is not a readable safetensors file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}).",
        ) from error


def _json_kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"a number ({value!r})"
    return names.get(type(value), type(value).__name__)


def check_metadata(value: Any, source: str, argument: str = "path") -> dict[str, Any]:
    """``value`` if it is checkpoint metadata: a JSON object whose known fields have their
    types; else an InputError naming ``argument``, the file and the field."""
    if not isinstance(value, dict):
        raise InputError(
            argument,
            f"the metadata in {source} is {_json_kind(value)}; expected a JSON object "
            '({"architecture": ..., "metrics": ...}) at the top level. Rewrite it with '
            "save_checkpoint, or remove the file to load the weights alone.",
        )
    problems: list[tuple[str, str, Any]] = []
    for field in _OBJECT_FIELDS:
        if value.get(field) is not None and not isinstance(value[field], dict):
            problems.append((field, "a JSON object", value[field]))
    for field in _STRING_FIELDS:
        if value.get(field) is not None and not isinstance(value[field], str):
            problems.append((field, "a string", value[field]))
    architecture = value.get("architecture")
    if isinstance(architecture, dict):
        if architecture.get("name") is not None and not isinstance(architecture["name"], str):
            problems.append(("architecture.name", "a string", architecture["name"]))
        if architecture.get("config") is not None and not isinstance(architecture["config"], dict):
            problems.append(("architecture.config", "a JSON object", architecture["config"]))
    if problems:
        field, expected, found = problems[0]
        raise InputError(
            argument,
            f"field {field!r} of the metadata in {source}: expected {expected} or null, got "
            f"{_json_kind(found)}. Fix or remove the field.",
        )
    return value


def _read_json(file: Path, argument: str) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise InputError(
            argument,
            f"the metadata beside the weights, {str(file)!r}, is not valid JSON "
            f"({type(error).__name__}: {str(error)[:200]}).",
        ) from error


def _embedded(header: Mapping[str, str], key: str, path: Path, argument: str) -> Any:
    try:
        return json.loads(header[key])
    except (json.JSONDecodeError, RecursionError) as error:
        raise InputError(
            argument,
            f"the {key} stored in {str(path)!r} is not valid JSON ({str(error)[:200]}).",
        ) from error


def _same_unit(header: Mapping[str, str], data: Mapping[str, Any]) -> bool | None:
    """Whether a JSON file beside the weights belongs to their unit: True (same id, or a file
    without an id, written or edited by hand), False (another unit's id), None (it has an id
    but the weights do not: weights older than the file, from an interrupted write)."""
    unit, other = header.get("checkpoint_id"), data.get("checkpoint_id")
    if other is None:
        return True
    if unit is None:
        return None
    return bool(other == unit)


def read_metadata(path: Path, header: Mapping[str, str], argument: str = "path") -> dict[str, Any]:
    """The metadata of the checkpoint unit whose weights are ``path`` (with ``header``).

    The JSON file beside the weights when it belongs to the same unit (same ``checkpoint_id``,
    or none: written by hand); the copy in the weights file when the JSON file belongs to
    another unit (with a warning) or is missing; ``{}`` for weights without either.
    """
    meta_file = metadata_path(path)
    if meta_file.is_file():
        metadata = check_metadata(_read_json(meta_file, argument), repr(str(meta_file)), argument)
        same = _same_unit(header, metadata)
        if same is None or (same is False and "metadata" not in header):
            raise InputError(
                argument,
                f"{str(meta_file)!r} was written by a later save than the weights "
                f"{str(path)!r} (checkpoint_id {metadata.get('checkpoint_id')!r}; a write was "
                "interrupted). Save the checkpoint again, or remove the JSON file to load the "
                "weights alone.",
            )
        if same:
            return metadata
        warnings.warn(
            f"{argument}: {str(meta_file)!r} belongs to another write of this checkpoint "
            f"(checkpoint_id {metadata.get('checkpoint_id')!r}, the weights have "
            f"{header.get('checkpoint_id')!r}: a write was interrupted or is in progress); "
            "using the metadata stored in the weights file.",
            stacklevel=3,
        )
    if "metadata" in header:
        return check_metadata(
            _embedded(header, "metadata", path, argument), f"the header of {str(path)!r}", argument
        )
    return {}


def read_history(path: str | Path) -> dict[str, Any] | None:
    """The history data of the checkpoint unit whose weights are ``path`` (the file beside
    them when it belongs to their unit, else the copy in the weights file), or None when
    there is none."""
    path = Path(path)
    header = read_header(path)
    file = history_path(path)
    if file.is_file():
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            data = None
        if isinstance(data, dict) and _same_unit(header, data):
            return data
    if "history" in header:
        data = _embedded(header, "history", path, "path")
        return data if isinstance(data, dict) else None
    return None


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
        ``(state_dict, metadata)``; metadata is ``{}`` when the weights have none. A number
        that was NaN or infinite is None (``null`` in the file). When the JSON file beside the
        weights belongs to another write (an interrupted one), the metadata stored in the
        weights file is returned instead, with a warning.

    Raises:
        FileNotFoundError: when the weights file does not exist.
        ValueError: when it is not a safetensors file, its metadata is not valid JSON or not
            a JSON object (or a field has the wrong type), it is the training state of a run
            rather than a checkpoint, or the weights do not fit ``model``.
    """
    from safetensors.torch import load_file

    path = check_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path: no checkpoint at {str(path)!r}. Train one with xai.fit(..., checkpoint=path) "
            "or `xai train NAME --out DIR`."
        )
    header = read_header(path)
    if header.get("format") == STATE_FORMAT:
        raise InputError(
            "path",
            f"{str(path)!r} is the training state of an unfinished run (for "
            "xai.fit(..., resume=...)), not a checkpoint. Load the checkpoint beside it.",
        )
    try:
        state = load_file(str(path), device=str(device))
    except Exception as error:  # safetensors raises its own error types for a bad file
        raise InputError(
            "path",
            f"{str(path)!r} is not a readable safetensors file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}).",
        ) from error
    metadata = read_metadata(path, header)
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
