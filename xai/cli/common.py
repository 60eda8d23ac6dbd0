"""What the subcommands share: argument checks that return a one-line message naming the flag,
the usage-error exit, the flags every subcommand takes (``-q``/``-v``, ``--json``), where log
lines and progress go, plain help text, and the model given as a reference name or
``module:factory``."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xai.errors import InputError

if TYPE_CHECKING:
    from xai._progress import Progress
    from xai.suite.subject import Subject

_log = logging.getLogger(__name__)

__all__ = [
    "USAGE_ERROR",
    "add_model_arguments",
    "add_output_flags",
    "device_problem",
    "fail",
    "flag_message",
    "logging_to_stderr",
    "out_folder_problem",
    "plain",
    "plain_help",
    "progress_setting",
    "seed_problem",
    "subject_from_arguments",
]

#: The exit code of every usage error: a bad flag or value, a file named on the command line
#: that cannot be used. argparse's own (``xai explain --no-such-flag`` exits 2 too), so there
#: is one. 0 is success; ``xai report`` exits 1 when a check failed (pytest's codes); 130 is
#: an interrupted command (Ctrl-C).
USAGE_ERROR = 2

# Each returns None when the value can be used, else a one-line message that names the flag,
# what was expected and what was given.


def fail(command: str, message: str) -> int:
    """Print ``xai COMMAND: MESSAGE`` to stderr; returns :data:`USAGE_ERROR` (2)."""
    print(f"xai {command}: {message}", file=sys.stderr)
    return USAGE_ERROR


# --------------------------------------------------------------------- flags every command takes


def add_output_flags(parser: argparse.ArgumentParser, json: str | None = None) -> None:
    """``-q``/``--quiet`` and ``-v``/``--verbose`` (exclusive), and ``--json`` with its help
    when ``json`` is given (a subcommand that prints results)."""
    group = parser.add_argument_group("output")
    levels = group.add_mutually_exclusive_group()
    levels.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only results and errors: no progress bars, no log lines",
    )
    levels.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="print more: each stage's log lines and debug details",
    )
    if json is not None:
        group.add_argument("--json", action="store_true", help=json)


def progress_setting(args: argparse.Namespace) -> Progress:
    """The ``progress=`` the command passes to the library: False with ``-q``; else None (a
    bar on a terminal, one log line per stage elsewhere: :func:`logging_to_stderr` shows
    them)."""
    return False if getattr(args, "quiet", False) else None


class _Stderr(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (a test's capture replaces it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


#: The loggers whose lines the command shows: the library's and the reference models'.
_LOGGERS = ("xai", "reference_models")


@contextmanager
def logging_to_stderr(command: str, args: argparse.Namespace) -> Iterator[None]:
    """While a subcommand runs, log lines of xai go to stderr as ``xai COMMAND: message``:
    INFO and up by default (one line per stage of long work when there is no progress bar),
    WARNING and up with ``-q``, everything with ``-v``. Restored afterwards."""
    if getattr(args, "quiet", False):
        level = logging.WARNING
    elif getattr(args, "verbose", 0):
        level = logging.DEBUG
    else:
        level = logging.INFO
    handler = _Stderr()
    handler.setFormatter(logging.Formatter(f"xai {command}: %(message)s"))
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False  # shown once, here, not again by a root handler
    try:
        yield
    finally:
        for logger, old_level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = propagate


# --------------------------------------------------------------------- help text in plain words

_ROLE = re.compile(r":(?:[a-z]+:)?[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]*)``")


def plain(text: str | None) -> str | None:
    """``text`` without reStructuredText markup: a role such as :meth:`xai.Explanation.load`
    reads as its target (the last part with ``~``), a double-backquoted literal as its text."""
    if not text:
        return text

    def role(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        return name.rsplit(".", 1)[-1] if match.group(0).split("`")[1].startswith("~") else name

    return _LITERAL.sub(r"\1", _ROLE.sub(role, text))


def plain_help(parser: argparse.ArgumentParser) -> None:
    """Rewrite the descriptions and help of ``parser`` and of its subcommands in plain words."""
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain(choice.help)
            for subparser in dict.fromkeys(action.choices.values()):
                plain_help(subparser)


# --------------------------------------------------------------------- the model under study


def add_model_arguments(
    parser: argparse.ArgumentParser, data: str = ".npz test data (arrays x, y)"
) -> None:
    """The positional MODEL (a reference model or ``module:factory``) with ``--weights`` and
    ``--data``, as ``explain``, ``evaluate``, ``train``, ``report`` and ``dashboard`` take it."""
    parser.add_argument("model", help="reference model name, or module:factory for your own")
    parser.add_argument("--weights", help="safetensors weights of a module:factory model")
    parser.add_argument("--data", help=f"{data} of a module:factory model")


def subject_from_arguments(model: str, weights: str | None, data: str | None) -> Subject:
    """The reference model ``model`` (no ``--weights``/``--data``), or the user's
    ``module:factory`` with both.

    Raises:
        InputError: about ``model`` (neither a reference model nor ``module:factory``; files
            missing) or ``weights``/``data`` (given for a reference model, or unusable).
    """
    import reference_models
    from xai.suite.subject import reference_subject, user_subject

    if model in reference_models.available():
        if weights or data:
            raise InputError(
                "weights" if weights else "data",
                f"only for a module:factory model; {model!r} is a reference model with "
                "shipped weights and data.",
            )
        return reference_subject(model)
    if ":" not in model:
        raise InputError(
            "model",
            f"expected a reference model ({', '.join(reference_models.available())}) "
            f"or module:factory, got {model!r}.",
        )
    if not weights or not data:
        raise InputError("model", f"{model} needs --weights FILE.safetensors and --data FILE.npz.")
    return user_subject(model, weights, data)


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
