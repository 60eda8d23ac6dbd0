"""Keeping numpy's BLAS threads out of torch's way.

numpy and scipy ship their own OpenBLAS, whose worker threads keep spinning for a while after
each call, and torch runs its own OpenMP threads. On a machine with few cores, small BLAS
calls made between model passes (lime's ridge fit, sklearn's distances) leave those threads
spinning on the cores the next model pass needs: on 2 cores, LIME on a 3-channel 32x32 image
took ~40% longer than its model passes alone. Such small calls gain nothing from threads, so
they run on one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@functools.cache
def _controller() -> Any:
    # Created once (listing the loaded libraries costs milliseconds); after numpy and scipy
    # are imported, so that their BLAS libraries are in the list.
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with numpy's and scipy's BLAS limited to one thread (~20 us to enter)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
