"""``xai._threads.one_blas_thread``: numpy's BLAS on one thread inside, as before outside."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from xai._threads import one_blas_thread


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_is_restored_after() -> None:
    import scipy.linalg  # noqa: F401  (its BLAS too)

    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can control is loaded")
    with one_blas_thread():
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


def test_restored_when_the_body_raises() -> None:
    before = blas_threads()
    with pytest.raises(RuntimeError, match="boom"), one_blas_thread():
        raise RuntimeError("boom")
    assert blas_threads() == before
