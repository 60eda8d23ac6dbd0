"""``xai._validation.all_finite``: the cheap finiteness check behind every input/output check."""

from __future__ import annotations

import math

import pytest
import torch

from xai._validation import all_finite


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_all_finite_agrees_with_isfinite(dtype: torch.dtype) -> None:
    big = torch.finfo(dtype).max
    cases = [
        torch.randn(3, 5),
        torch.full((4,), big, dtype=dtype),  # finite, but the sum overflows: checked in full
        torch.tensor([big, -big, big], dtype=dtype),
        torch.tensor([1.0, math.nan]),
        torch.tensor([1.0, math.inf]),
        torch.tensor([-math.inf, 2.0]),
        torch.tensor([math.inf, -math.inf]),  # sum NaN
        torch.zeros(0),
    ]
    for values in cases:
        values = values.to(dtype)
        assert all_finite(values) == bool(torch.isfinite(values).all()), values


def test_all_finite_other_dtypes() -> None:
    assert all_finite(torch.tensor([1, 2, 3]))
    assert all_finite(torch.tensor([True, False]))
    assert all_finite(torch.tensor([1 + 2j]))
    assert not all_finite(torch.tensor([complex(math.nan, 0.0)]))


def test_all_finite_on_a_tensor_with_a_graph_does_not_warn(
    recwarn: pytest.WarningsRecorder,
) -> None:
    values = torch.randn(4, requires_grad=True) * 2
    assert all_finite(values)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
