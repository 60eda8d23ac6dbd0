"""The errors xai raises for bad user input.

Every one names the argument it is about in :attr:`InputError.argument`, and its message reads
``"argument: what was expected, what was given, the fix"``. Code that needs to know which
argument was wrong (the command line writes it as its flag, a wrapper renames it to its own
parameter) reads ``.argument``, never the message text, so rewording a message changes no
behaviour.

- :class:`InputError` (a ``ValueError``): a value that cannot be used.
- :class:`InputTypeError` (also a ``TypeError``): a value of the wrong type.
- :class:`InputIndexError` (also an ``IndexError``): a sample index outside the data.
- :class:`IndexTypeError` (``TypeError`` and ``IndexError``): a sample index that is not an
  int (numpy, too, raises an ``IndexError`` for a float index, Python a ``TypeError``).

This module imports nothing of xai's: every layer may raise these errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "IndexTypeError",
    "InputError",
    "InputIndexError",
    "InputTypeError",
    "unknown_name_error",
]


class InputError(ValueError):
    """Bad user input for ``argument``.

    Args:
        argument: the name of the argument (parameter, option, file) that is wrong.
        detail: what was expected, what was given, and the fix when there is one; the message
            is ``f"{argument}: {detail}"``.

    Example:
        >>> import torch, xai
        >>> model = torch.nn.Linear(4, 3)
        >>> try:
        ...     xai.explain(model, torch.rand(2, 4), target=7)
        ... except xai.InputError as error:
        ...     print(error.argument)
        target
    """

    def __init__(self, argument: str, detail: str) -> None:
        super().__init__(f"{argument}: {detail}")
        self.argument = argument
        self.detail = detail

    def renamed(self, argument: str) -> InputError:
        """The same error about ``argument``: for a function that passes its own parameter on
        under another name (``reference_models.load(weights=...)`` calls
        ``load_checkpoint(path)``). Raise it ``from`` the original."""
        return type(self)(argument, self.detail)

    def __reduce__(self) -> tuple[Any, ...]:
        # the default rebuilds an exception from ``args`` (the whole message): one argument
        # short of __init__'s two; pickled errors cross process boundaries (pytest-xdist)
        return type(self), (self.argument, self.detail), self.__dict__


class InputTypeError(InputError, TypeError):
    """Bad user input for ``argument``: a value of the wrong type."""


class InputIndexError(InputError, IndexError):
    """A sample index outside the data."""


class IndexTypeError(InputTypeError, InputIndexError):
    """A sample index that is not an int."""


def unknown_name_error(
    argument: str,
    kind: str,
    name: Any,
    known: Iterable[str],
    *,
    problem: str | None = None,
    listing: str | None = "Available",
    limit: int | None = None,
    suggestions: int = 1,
    error: type[InputError] = InputError,
) -> InputError:
    """The error for a name that is not one of ``known`` (a method, a metric, a layer, an
    option), with the closest known names as a "Did you mean" hint and the known names listed.

    The message is ``"{argument}: {problem}. Did you mean 'x'? {listing}: a, b, c."``, where
    ``problem`` defaults to ``"unknown {kind} {name!r}"``; ``listing=None`` leaves the list out
    (when ``problem`` already names the choices), ``limit`` shows only the first names.

    Example:
        >>> print(unknown_name_error("method", "method", "gradcamm", ["gradcam", "lime"]))
        method: unknown method 'gradcamm'. Did you mean 'gradcam'? Available: gradcam, lime.
    """
    known = list(known)
    close = difflib.get_close_matches(str(name), known, n=suggestions)
    message = problem if problem is not None else f"unknown {kind} {name!r}"
    message += "."
    if close:
        message += f" Did you mean {', '.join(map(repr, close))}?"
    if listing is not None:
        shown = known if limit is None else known[:limit]
        message += f" {listing}: {', '.join(shown)}{' ...' if len(known) > len(shown) else ''}."
    return error(argument, message)
