"""The files of a dataset run (:func:`xai.explain_dataset`): one JSON index and one shard per
batch, and the rules that say which files of a folder are the run's.

A run folder holds:

- ``index.json``: the run's settings (method, options, seed, target, batch size, data and model
  fingerprints, and the per-sample forward arguments ``model_kwargs`` when the run has them: a
  field index and digest, or a tensor's shape and digest, per name), the library versions, the list of complete shards and the progress. Written
  atomically (:func:`xai._files.write_json`) by one process (rank 0).
- ``shard-BBBBBB.safetensors``: the explanation of global batch ``B`` as an
  :class:`xai.Explanation` file (:meth:`~xai.Explanation.save`: temporary file, ``fsync``,
  rename), so a shard is either absent or complete. Its extras hold the sample ``indices``,
  ``labels`` (when the data has them), ``predictions``, ``confidence`` and ``outputs``, and
  ``dataset_run`` (the run's fingerprint, the batch number and its sample range), which ties
  the shard to its run. Its ``params["model_kwargs"]`` (the batch's forward arguments) are
  stored as a description, names and shapes (:meth:`~xai.Explanation.save`), not the tensors.
- ``summary/``: figures and JSON written by ``xai explain --summary`` (optional).

Anything else in the folder means xai did not write it, and a run refuses to write there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xai._files import write_json
from xai.errors import InputError

FORMAT = "xai.dataset_explanation"
FORMAT_VERSION = 1
INDEX = "index.json"
SUMMARY = "summary"
#: The extras key of a shard that ties it to its run.
RUN_KEY = "dataset_run"

_SHARD = re.compile(r"^shard-(\d{6,})\.safetensors$")
# the temporary files of xai._files' atomic writes of a shard or the index (a killed run
# leaves them behind): ".NAME.<12 hex>.tmp"
_TEMPORARY = re.compile(r"^\.(shard-\d{6,}\.safetensors|index\.json)\.[0-9a-f]{12}\.tmp$")


def shard_name(batch: int) -> str:
    """The file name of global batch ``batch``'s shard."""
    return f"shard-{batch:06d}.safetensors"


def shard_batch(name: str) -> int | None:
    """The batch number of a shard's file name; None for another name."""
    match = _SHARD.match(name)
    return int(match.group(1)) if match else None


def is_run_file(name: str) -> bool:
    """Whether a folder entry is one a run writes (index, shard, summary, leftover temporary)."""
    return name in (INDEX, SUMMARY) or bool(_SHARD.match(name) or _TEMPORARY.match(name))


def read_index(folder: Path) -> dict[str, Any] | None:
    """The index of the run in ``folder``, None when there is none; an index file that is not
    a run's is an :class:`~xai.errors.InputError` naming ``out``."""
    path = folder / INDEX
    if not path.is_file():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(
            "out", f"{str(folder)!r} holds an index.json that cannot be read ({error})."
        ) from error
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise InputError(
            "out",
            f"{str(folder)!r} holds an index.json that is not an xai dataset run "
            f"(format {index.get('format') if isinstance(index, dict) else None!r}); choose "
            "another folder.",
        )
    version = index.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            "out",
            f"{str(folder)!r} is a dataset run of format version {version!r}; this xai reads "
            f"version {FORMAT_VERSION}" + (": upgrade xai." if _newer(version) else "."),
        )
    if not isinstance(index.get("run"), dict) or not isinstance(index.get("shards"), list):
        raise InputError("out", f"{str(folder)!r}: index.json lacks its 'run' or 'shards'.")
    return index


def _newer(version: Any) -> bool:
    return isinstance(version, int) and version > FORMAT_VERSION


def write_index(folder: Path, index: dict[str, Any]) -> Path:
    """Write the index atomically (a reader sees the old one or the new one)."""
    return write_json(folder / INDEX, index, strict=False)


def foreign_entries(folder: Path) -> list[str]:
    """The entries of ``folder`` a run did not write (sorted)."""
    return sorted(entry.name for entry in folder.iterdir() if not is_run_file(entry.name))


def remove_temporaries(folder: Path) -> None:
    """Remove the temporary files an interrupted write left (never a complete shard)."""
    for entry in folder.iterdir():
        if _TEMPORARY.match(entry.name):
            entry.unlink(missing_ok=True)


def clear(folder: Path) -> None:
    """Remove every file of a run from ``folder`` (for ``overwrite=True``); other files are
    never touched (the caller has refused folders that hold any)."""
    for entry in folder.iterdir():
        if not is_run_file(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def shard_files(folder: Path) -> Iterator[tuple[int, Path]]:
    """``(batch, path)`` of every shard file in ``folder``, by batch."""
    found = []
    for entry in os.scandir(folder):
        batch = shard_batch(entry.name)
        if batch is not None and entry.is_file():
            found.append((batch, Path(entry.path)))
    yield from sorted(found)


def shard_header(path: Path) -> dict[str, Any] | None:
    """The ``dataset_run`` record of a shard (read from its header, no tensor loaded); None when
    the file is not a complete explanation file of a run."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        header = json.loads(metadata.get("xai", "null"))
        record = header["extras"][RUN_KEY]
    except Exception:  # a damaged or foreign file: not a shard of any run
        return None
    return record if isinstance(record, dict) else None
