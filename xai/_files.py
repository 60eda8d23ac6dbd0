"""Writing files: one atomic write and one JSON conversion for everything xai saves.

Explanations (:meth:`xai.Explanation.save`), checkpoints and training histories
(:mod:`xai.training.checkpoint`) and reports (:func:`xai.report.write_report`) all write through
this module, so they share its guarantees:

- **Atomic.** The data goes into a temporary file in the target's folder, is flushed to disk
  (``fsync``) and renamed over the target (``os.replace``): a reader sees the old file or the
  new one, never half of one. After any error, ``KeyboardInterrupt`` included, the temporary
  file is removed and the old file is left as it was.
- **Ordinary permissions.** The file gets the mode a plain ``open(path, "w")`` would give it,
  ``0o666`` less the process's umask (``0o644`` under the usual umask ``022``), not the
  private ``0o600`` of :func:`tempfile.mkstemp`. While being written it is private.
- **Never a folder.** A target that is a folder is refused with :class:`IsADirectoryError`;
  a target that is a symbolic link is replaced by the new file (the link's target is left
  alone).

JSON: :func:`to_json_value` turns tensors, numpy arrays and scalars, tuples, sets, paths,
dataclasses and result objects (anything with ``to_dict()``) into JSON data, with **one rule for
non-finite numbers: NaN and ±inf become ``None``** (JSON ``null``) — standard JSON that every
reader accepts. :func:`dumps_json` and :func:`write_json` apply it and then serialise with
``allow_nan=False``, so an invalid ``NaN`` token can never reach a file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

__all__ = [
    "append_line",
    "atomic_open",
    "atomic_path",
    "atomic_write",
    "current_umask",
    "dumps_json",
    "file_mode",
    "to_json_value",
    "write_json",
]

_UMASK_LOCK = threading.Lock()
_TEMP_SUFFIX = ".tmp"


# ---------------------------------------------------------------------------- permissions
def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting a restrictive
    mask (``0o077``) for an instant under a lock, so a file another thread creates meanwhile is
    at worst more private than asked, never more open.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from the umask: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


# ---------------------------------------------------------------------------- atomic writes
def _target(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(
            f"path: {str(target)!r} is a folder; expected a file name inside it, e.g. "
            f"{str(target / 'out.json')!r}."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class _Temporary:
    """The temporary file of one atomic write: created private (0600) beside the target,
    committed (synced, given the umask's mode, renamed over the target) or discarded."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.descriptor: int | None = None
        self.path: Path | None = None

    def create(self) -> None:
        stem = self.target.name[:200]  # room in the 255-byte name limit for the random part
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        for _ in range(100):
            # named before it exists, so an interrupt right after os.open still removes it
            self.path = self.target.with_name(f".{stem}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
            try:
                self.descriptor = os.open(self.path, flags, 0o600)
            except FileExistsError:  # someone else's file: not ours to remove
                self.path = None
                continue
            return
        raise FileExistsError(
            f"path: could not create a temporary file beside {str(self.target)!r}."
        )

    @property
    def fd(self) -> int:
        """The open descriptor (after :meth:`create` or :meth:`reopen`)."""
        if self.descriptor is None:
            raise RuntimeError(f"the temporary file for {str(self.target)!r} is not open.")
        return self.descriptor

    @property
    def name(self) -> Path:
        """The temporary file's path (after :meth:`create`)."""
        if self.path is None:
            raise RuntimeError(f"no temporary file was created for {str(self.target)!r}.")
        return self.path

    def close(self) -> None:
        descriptor, self.descriptor = self.descriptor, None
        if descriptor is not None:
            os.close(descriptor)

    def reopen(self) -> None:
        """Open the file again by name (a writer given the name may have recreated it)."""
        self.close()
        self.descriptor = os.open(self.name, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def commit(self) -> None:
        if os.chmod in os.supports_fd:
            os.chmod(self.fd, file_mode())
        else:  # pragma: no cover - Windows
            os.chmod(self.name, file_mode())
        os.fsync(self.fd)
        self.close()
        os.replace(self.name, self.target)
        self.path = None
        _sync_folder(self.target.parent)

    def discard(self) -> None:
        """Close and remove the temporary file (after an error); never raises."""
        with suppress(OSError):
            self.close()
        path, self.path = self.path, None
        if path is not None:
            with suppress(OSError):  # nothing more can be done
                path.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); a folder that cannot be opened or synced is skipped."""
    if os.name != "posix":  # pragma: no cover
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover - some file systems refuse to sync a folder
        pass
    finally:
        os.close(descriptor)


@contextmanager
def _temporary(path: str | os.PathLike[str]) -> Iterator[_Temporary]:
    """A :class:`_Temporary` for ``path`` that is discarded unless committed in the block."""
    temporary = _Temporary(_target(path))
    try:
        temporary.create()
        yield temporary
    finally:
        temporary.discard()  # a no-op after a commit


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """A file to write ``path`` through, for writers that stream; the target is replaced when
    the ``with`` block ends without an error, and left as it was otherwise.

    Args:
        path: the file to write (its folder is created when missing).
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding: the text encoding (ignored for ``"wb"``).

    Yields:
        The open file (text or binary by ``mode``).

    Raises:
        ValueError: for another ``mode``.
        IsADirectoryError: when ``path`` is a folder.

    Example::

        with atomic_open("rows.csv") as stream:
            for row in rows:
                stream.write(row)
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode: expected 'w' or 'wb', got {mode!r}.")
    with _temporary(path) as temporary:
        options: dict[str, Any] = {"encoding": encoding} if mode == "w" else {}
        with os.fdopen(temporary.fd, mode, closefd=False, **options) as stream:
            yield stream
        temporary.commit()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that take a file name (e.g. safetensors'
    ``save_file``); it replaces ``path`` when the ``with`` block ends without an error and is
    removed otherwise.

    Args:
        path: the file to write (its folder is created when missing).

    Yields:
        The temporary file's path (an empty file the writer may overwrite or recreate).

    Raises:
        IsADirectoryError: when ``path`` is a folder.

    Example::

        with atomic_path("model.safetensors") as temporary:
            save_file(state, str(temporary))
    """
    with _temporary(path) as temporary:
        temporary.close()
        yield temporary.name
        temporary.reopen()
        temporary.commit()


def atomic_write(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` atomically: temporary file
    in the same folder, ``fsync``, ``os.replace``; mode ``0o666 & ~umask``. After an error the
    temporary file is gone and ``path`` is as it was.

    Args:
        path: the file to write (its folder is created when missing).
        data: the content.
        encoding: how text is encoded.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        IsADirectoryError: when ``path`` is a folder.
        TypeError: when ``data`` is neither ``str`` nor bytes.
    """
    if isinstance(data, str):
        payload = data.encode(encoding)
    elif isinstance(data, bytes | bytearray | memoryview):
        payload = bytes(data)
    else:
        raise TypeError(f"data: expected str or bytes, got {type(data).__name__}.")
    with _temporary(path) as temporary:
        view = memoryview(payload)
        while view:
            view = view[os.write(temporary.fd, view) :]
        temporary.commit()
        return temporary.target


def append_line(path: str | os.PathLike[str], line: str, encoding: str = "utf-8") -> Path:
    """Append ``line`` and a newline to ``path`` (created with the umask's mode when missing) in
    one ``write`` to a file opened with ``O_APPEND``: for journals that several records reach
    one at a time (the report's per-test records under pytest-xdist). A process that dies after
    the call has its line in the file; one killed during it leaves at most a partial last line,
    which a reader skips. Not synced to disk: it survives the process, not the machine.

    Args:
        path: the journal file (its folder must exist).
        line: one line of text, without a newline in it.
        encoding: how the text is encoded.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: when ``line`` holds a newline (it would be two records).
        IsADirectoryError: when ``path`` is a folder.
    """
    if "\n" in line or "\r" in line:
        raise ValueError("line: expected one line of text, got a newline in it.")
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"path: {str(target)!r} is a folder; expected a file name.")
    view = memoryview((line + "\n").encode(encoding))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    descriptor = os.open(target, flags, file_mode())
    try:
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)
    return target


# ---------------------------------------------------------------------------- JSON
def to_json_value(value: Any, *, strict: bool = False, where: str = "value") -> Any:
    """``value`` as JSON data (dicts with string keys, lists, str, int, float, bool, None).

    - floats stay floats; **NaN and ±inf become None** (the one rule for non-finite numbers);
    - tensors, numpy arrays and numpy scalars become (nested lists of) numbers;
    - tuples, lists and sets become lists; mapping keys become strings;
    - paths become strings; objects with a ``to_dict()`` method (xai's results) become what it
      returns, other dataclasses dicts of their fields;
    - anything else becomes a description: ``"<module Linear>"``, ``"<callable f>"``, or its
      ``str`` — unless ``strict``, where it is a :class:`TypeError` naming where it was found
      (``where``, e.g. ``"metadata['config']"``).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {
            str(k): to_json_value(v, strict=strict, where=f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [to_json_value(v, strict=strict, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        try:
            items = sorted(value)
        except TypeError:
            items = list(value)
        return [to_json_value(v, strict=strict, where=f"{where}[{i}]") for i, v in enumerate(items)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if callable(getattr(value, "tolist", None)) and not isinstance(value, type):
        # torch tensors, numpy arrays and numpy scalars (a 0-d one gives a plain number)
        return to_json_value(value.tolist(), strict=strict, where=where)
    if callable(getattr(value, "to_dict", None)) and not isinstance(value, type):
        return to_json_value(value.to_dict(), strict=strict, where=where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_value(getattr(value, f.name), strict=strict, where=f"{where}.{f.name}")
            for f in dataclasses.fields(value)
        }
    if strict:
        raise TypeError(
            f"{where}: expected JSON data (numbers, strings, lists, dicts, tensors), got "
            f"{type(value).__name__} {_short(value)}. Store a plain description instead."
        )
    if _is_module(value):
        return f"<module {type(value).__name__}>"
    if callable(value):
        return f"<callable {getattr(value, '__qualname__', type(value).__name__)}>"
    if isinstance(value, bytes | bytearray):
        return repr(bytes(value))
    return str(value)


def _is_module(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return ""
    return text if len(text) <= 60 else text[:57] + "..."


def dumps_json(
    value: Any, *, indent: int | None = None, strict: bool = False, where: str = "value"
) -> str:
    """``json.dumps(to_json_value(value), allow_nan=False)``: always valid JSON, non-finite
    numbers as ``null``."""
    return json.dumps(
        to_json_value(value, strict=strict, where=where), indent=indent, allow_nan=False
    )


def write_json(
    path: str | os.PathLike[str],
    value: Any,
    *,
    indent: int | None = 2,
    strict: bool = False,
    where: str = "value",
) -> Path:
    """Write ``value`` as JSON (see :func:`dumps_json`) to ``path`` atomically, with a final
    newline; returns the path."""
    return atomic_write(path, dumps_json(value, indent=indent, strict=strict, where=where) + "\n")
