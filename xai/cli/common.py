"""What the subcommands share: argument checks that return a one-line message naming the flag,
and the usage-error exit."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from xai.errors import InputError

_log = logging.getLogger(__name__)

__all__ = [
    "device_problem",
    "fail",
    "flag_message",
    "out_folder_problem",
    "seed_problem",
]

# Each returns None when the value can be used, else a one-line message that names the flag,
# what was expected and what was given.


def fail(command: str, message: str) -> int:
    """Print ``xai COMMAND: MESSAGE`` to stderr; returns the usage-error exit code 2."""
    print(f"xai {command}: {message}", file=sys.stderr)
    return 2


def flag_message(error: BaseException | str, renames: dict[str, str] | None = None) -> str:
    """A library error on one line, the parameter it is about (``weights: ...``) written as
    the command line's flag (``--weights: ...``). ``renames`` maps other parameter names to
    flags (e.g. ``{"path": "--weights"}``).

    An :class:`~xai.errors.InputError` says its parameter in ``.argument``. Other exceptions
    (``FileNotFoundError("weights: ...")``, modules still raising a plain ValueError) are
    read by the ``name:`` their message starts with; this only chooses the words shown."""
    names = {name: f"--{name}" for name in ("weights", "data", "model", "device", "seed")}
    names.update(renames or {})
    argument: str | None
    if isinstance(error, InputError):
        argument, detail = error.argument, error.detail
    else:
        head, colon, rest = " ".join(str(error).split()).partition(":")
        argument, detail = (head, rest) if colon and head in names else (None, head + colon + rest)
    text = " ".join(detail.split())
    if len(text) > 600:
        text = text[:600] + " ..."
    return f"{names.get(argument, argument)}: {text}" if argument is not None else text


def device_problem(value: str) -> str | None:
    """Whether ``--device VALUE`` can be used on this machine (checked before any work, so a
    missing GPU is one line rather than a stack trace from inside torch)."""
    import torch

    expected = "expected auto, cpu, cuda, cuda:N or mps"
    if value == "auto":
        return None
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        return f"--device: {expected}, got {value!r}."
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            return (
                f"--device: {value!r} asks for a CUDA GPU, but no CUDA device is available "
                f"(torch {torch.__version__}, {build}). Use --device cpu, or --device auto to "
                "take a GPU when there is one."
            )
        if device.index is not None and device.index >= count:
            return (
                f"--device: {value!r} asks for GPU {device.index}, but this machine has {count} "
                f"(cuda:0..cuda:{count - 1})."
            )
        return None
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return None
        return (
            f"--device: {value!r} asks for an Apple GPU (MPS), but MPS is not available here. "
            "Use --device cpu, or --device auto."
        )
    return f"--device: {expected}, got {value!r}."


def seed_problem(value: int | None) -> str | None:
    """Whether ``--seed VALUE`` is a seed the explainers and ``xai.fit`` take."""
    if value is None or 0 <= value < 2**32:
        return None
    return f"--seed: expected an integer in [0, 2**32), got {value}."


def out_folder_problem(flag: str, value: str | Path) -> str | None:
    """Whether ``flag VALUE`` names a folder that can hold the command's files: it is created
    (as the command would) and a file is written in it and removed, before any work is done."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        return f"{flag}: expected a folder, got the existing file {str(value)!r}."
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        return (
            f"{flag}: expected a folder that can be created and written to, got {str(value)!r} "
            f"({error.strerror or error})."
        )
    return None
