"""Progress callbacks of long computations (``compare``, the sanity checks).

A callback takes ``(fraction_done, message)``, with ``fraction_done`` in ``[0, 1]``; front ends
pass one to draw a progress bar. ``None`` means nobody listens.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def check_progress(progress: object) -> Progress | None:
    if progress is not None and not callable(progress):
        raise TypeError(
            f"progress: expected None or a callable (fraction_done, message), got "
            f"{type(progress).__name__}."
        )
    return progress


def notify(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)
