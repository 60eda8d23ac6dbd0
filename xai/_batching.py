"""Chunk sizes for model evaluations: large enough to run the model efficiently, small enough
that memory stays bounded whatever the number of samples, steps or perturbations."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

# Elements of input per forward chunk. 2**20 floats = 4 MiB of input on CPU; activations of a
# small CNN are a few times that. On a GPU, larger chunks keep the device busy.
_CPU_ELEMENT_BUDGET = 2**18
_GPU_ELEMENT_BUDGET = 2**24
_MAX_ROWS = 16384


def chunk_rows(sample_shape: torch.Size | tuple[int, ...], device: torch.device) -> int:
    """Rows per forward/backward chunk for samples of ``sample_shape`` on ``device``."""
    numel = 1
    for dim in sample_shape:
        numel *= int(dim)
    budget = _GPU_ELEMENT_BUDGET if device.type == "cuda" else _CPU_ELEMENT_BUDGET
    return max(2, min(_MAX_ROWS, budget // max(numel, 1)))


def chunks(total: int, size: int) -> Iterator[slice]:
    """Slices ``[0:size], [size:2*size], ...`` covering ``range(total)``."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def map_in_chunks(
    function: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, size: int
) -> torch.Tensor:
    """``function(inputs)`` computed ``size`` rows at a time and concatenated."""
    return torch.cat([function(inputs[part]) for part in chunks(inputs.shape[0], size)])
