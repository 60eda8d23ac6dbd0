"""Chunk sizes for model evaluations: large enough to run the model efficiently, small enough
that memory stays bounded whatever the number of samples, steps or perturbations; and the upper
bounds of the size options (steps, samples, rows per pass, bins), checked before any work."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import torch

from xai.errors import InputError

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
    function: Callable[..., torch.Tensor], inputs: torch.Tensor, size: int
) -> torch.Tensor:
    """``function(inputs)`` computed ``size`` rows at a time and concatenated; each call is
    told which rows it gets (``rows=``: row ``i`` of ``inputs`` belongs to sample ``i``)."""
    return torch.cat(
        [
            function(inputs[part], rows=torch.arange(part.start, part.stop))
            for part in chunks(inputs.shape[0], size)
        ]
    )


#: Model evaluations per explained sample above which a method that streams its rows in chunks
#: (Integrated Gradients' steps, SmoothGrad's and gradient SHAP's samples, Occlusion's windows)
#: refuses to start: a million forward/backward passes per sample take minutes even for a small
#: model, and every estimate has converged long before (the usual values are 16-1000).
MAX_EVALUATIONS_PER_SAMPLE = 10**6

# Below this many bytes an option is not checked against the free memory (reading it costs
# ~30 us): every machine that runs torch has it.
_ALWAYS_FITS = 256 * 2**20


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What the container's memory limit (cgroup v2 or v1) leaves, in bytes; None without one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with (
                open(limit_file, encoding="ascii") as limit,
                open(usage_file, encoding="ascii") as usage,
            ):
                text = limit.read().strip()
                if text == "max" or int(text) >= 2**60:  # no limit (v1 writes a huge number)
                    return None
                return max(int(text) - int(usage.read().strip()), 0)
        except (OSError, ValueError):
            continue
    return None


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device``, or ``None`` when it cannot be told.

    CUDA: the free device memory plus what torch's caching allocator holds unused. CPU:
    ``MemAvailable`` (Linux), within the container's memory limit when there is one; else the
    physical memory. Other devices: ``None`` (not checked).
    """
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
            cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        except (RuntimeError, AssertionError):
            return None
        return int(free + max(cached, 0))
    if device.type != "cpu":
        return None
    known = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if known:
        return min(known)
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``1.6e11`` -> ``"149 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            break
        count /= 1024
    if unit == "bytes":
        return f"{int(count)} bytes"
    return f"{count:.3g} {unit}" if count < 1000 else f"{count:,.0f} {unit}"


def check_memory(name: str, what: str, needed: float, device: torch.device, fix: str) -> None:
    """Raise an :class:`~xai.errors.InputError` about option ``name`` when ``needed`` bytes, what
    the option's value ``what`` (e.g. ``"1,000,000,000 perturbed samples"``) makes a call hold at
    once, exceed the memory available on ``device``; ``fix`` says what to change.

    ``needed`` is a lower estimate (the tensors the method itself builds, not the model's
    activations), so a refused value could not have run."""
    if needed <= _ALWAYS_FITS:
        return
    available = available_memory(device)
    if available is None or needed <= available:
        return
    where = "the CPU" if device.type == "cpu" else str(device)
    raise InputError(
        name,
        f"{what} would need at least {format_bytes(needed)} of memory at once on {where}, "
        f"more than the {format_bytes(available)} available. {fix}",
    )


def check_evaluations(name: str, got: str, per_sample: int, fix: str) -> None:
    """Raise an :class:`~xai.errors.InputError` about option ``name`` when it asks for more than
    :data:`MAX_EVALUATIONS_PER_SAMPLE` model evaluations per sample (``per_sample``); ``got``
    says the value in words (``"1,000,000,000 steps"``), ``fix`` what to change."""
    if per_sample <= MAX_EVALUATIONS_PER_SAMPLE:
        return
    raise InputError(
        name,
        f"expected at most {MAX_EVALUATIONS_PER_SAMPLE:,} model evaluations per sample, got "
        f"{got}: that many passes per sample take minutes to days, and the estimate has "
        f"converged long before. {fix}",
    )


def check_rows_per_pass(
    name: str,
    rows: int,
    total: int,
    sample_shape: tuple[int, ...] | torch.Size,
    dtype: torch.dtype,
    device: torch.device,
    copies: int = 3,
) -> None:
    """Raise when a pass of ``min(rows, total)`` rows of ``sample_shape`` (``copies`` tensors of
    them: the points, their gradient, ...) cannot fit in the memory of ``device``; ``name`` is
    the rows-per-pass option (``internal_batch_size``, ``batch_size``)."""
    numel = 1
    for dim in sample_shape:
        numel *= int(dim)
    used = min(rows, total)
    itemsize = torch.empty((), dtype=dtype).element_size()
    check_memory(
        name,
        f"{rows:,} rows per pass ({used:,} in the largest pass)",
        float(used) * numel * itemsize * copies,
        device,
        "Pass a smaller value, or leave it as None to choose it from the input size.",
    )
