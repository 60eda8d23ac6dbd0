"""Progress of long computations: one argument, ``progress``, with one type everywhere
(``xai.fit``, ``xai.evaluate_explanation``, ``xai.compare``, the sanity checks,
``reference_models.train``).

``progress`` (the type :data:`Progress`) is one of:

- ``None`` (the default): a progress bar (tqdm, on stderr) when stderr is a terminal and
  neither ``CI`` nor ``XAI_NO_PROGRESS`` is set in the environment; otherwise one log line per
  stage (logger ``xai.progress``, level INFO: the ``xai`` command shows them, a program once it
  configures :mod:`logging`).
- ``True``: a progress bar, also where stderr is not a terminal (a notebook).
- ``False``: nothing.
- a callable ``progress(fraction_done, message)``, with ``fraction_done`` a float in
  ``[0, 1]`` that never decreases and reaches 1.0 exactly once, at the end (to drive a bar of
  one's own, e.g. the dashboard's).

A computation that calls another one (``compare`` scores each method with
``evaluate_explanation``) shows one bar: the inner call gets ``progress=False``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from xai.errors import InputTypeError

__all__ = ["Progress", "ProgressCallback", "Tracker", "check_progress", "on_terminal"]

#: What a callable ``progress`` is called with: ``(fraction_done, message)``.
ProgressCallback = Callable[[float, str], None]
#: The type of every ``progress=`` argument: None (a bar on a terminal, else log lines), True
#: (a bar), False (nothing) or a callable ``(fraction_done, message)``.
Progress = bool | ProgressCallback | None

#: The logger of the one-line summaries shown when there is no bar.
log = logging.getLogger("xai.progress")


def check_progress(progress: object) -> Progress:
    """``progress`` itself when it is a :data:`Progress`.

    Raises:
        InputTypeError: anything else (numbers, strings, lists).
    """
    if progress is None or isinstance(progress, bool) or callable(progress):
        return progress
    raise InputTypeError(
        "progress",
        f"expected None (a bar on a terminal), True (a bar), False (nothing) or a callable "
        f"(fraction_done, message), got {type(progress).__name__}.",
    )


def on_terminal() -> bool:
    """Whether ``progress=None`` draws a bar here: stderr is a terminal and neither ``CI`` nor
    ``XAI_NO_PROGRESS`` is set (a CI log is not a terminal a bar can redraw)."""
    if os.environ.get("CI") or os.environ.get("XAI_NO_PROGRESS"):
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def shows_bar(progress: Progress) -> bool:
    """Whether ``progress`` asks for a tqdm bar."""
    return progress is True or (progress is None and on_terminal())


class Tracker:
    """The progress of ``total`` stages of one computation, shown as ``progress`` asks.

    ``begin(message)`` before a stage (the callback hears it, the bar shows it), ``end(message)``
    after it (the bar advances; without a bar, ``progress=None`` logs one line:
    ``what: message (2/5, 3.1 s)``), ``close()`` at the end (the callback hears 1.0 if the
    last stage did not say it). A context manager closes it.
    """

    def __init__(self, progress: Progress, what: str, total: int, unit: str = "step") -> None:
        self.what = what
        self.total = max(int(total), 1)
        self.done = 0
        self.started = time.perf_counter()
        self._callback = progress if callable(progress) else None
        self._log = progress is None and not shows_bar(progress)
        self._last = -1.0
        self._bar: Any = None
        if shows_bar(progress):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=what, unit=unit, leave=False)

    def _notify(self, fraction: float, message: str) -> None:
        if self._callback is not None:
            fraction = min(max(float(fraction), self._last, 0.0), 1.0)
            if fraction == 1.0 and self._last == 1.0:
                return  # 1.0 is said once
            self._last = fraction
            self._callback(fraction, message)

    def begin(self, message: str, part: float = 0.0) -> None:
        """A stage starts (``part``: how far into the current stage, in [0, 1))."""
        self._notify(min((self.done + part) / self.total, 1.0 - 1e-9), message)
        if self._bar is not None:
            self._bar.set_postfix_str(message, refresh=True)

    def end(self, message: str) -> None:
        """A stage is done; ``message`` says what it found."""
        self.done = min(self.done + 1, self.total)
        self._notify(self.done / self.total, message)
        if self._bar is not None:
            self._bar.update(1)
        level = logging.INFO if self._log else logging.DEBUG
        if log.isEnabledFor(level):
            seconds = time.perf_counter() - self.started
            log.log(
                level, "%s: %s (%d/%d, %.1f s)", self.what, message, self.done, self.total, seconds
            )

    def close(self) -> None:
        """The computation is over (also after an error)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._last < 1.0 and self.done >= self.total:
            self._notify(1.0, f"{self.what}: done")

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
