"""Turn what users pass as data (DataLoader, Dataset, ``(X, y)`` tensors) into epochs of batches.

Tensor data (``(X, y)`` or a ``TensorDataset``) takes a fast path: batches are sliced from the
tensors with one index per batch (no per-sample collation), and on CUDA the tensors are moved to
the device once when they fit, so an epoch is a loop of index selects on the GPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, TensorDataset

from xai._device import move_to
from xai.training.distributed import DistributedContext

# Tensor datasets up to this size are copied to the GPU once instead of batch by batch.
_PRELOAD_BYTES = 2 * 1024**3


class Batches:
    """Epochs of ``(x, y)`` batches on the training device."""

    def epoch(self, index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def __len__(self) -> int:  # batches per epoch (on this process)
        raise NotImplementedError

    num_samples: int  # samples per epoch (on this process)
    sized: bool = True  # False for a loader whose length is unknown (an IterableDataset)

    def generators(self) -> list[torch.Generator]:
        """Random generators the batches draw from besides torch's global one (saved with a
        checkpoint so that a resumed run sees the same order)."""
        return []


class _EpochSampler(Sampler[int]):
    """A random permutation of ``range(n)`` drawn from ``seed + epoch``: the same order as the
    tensor fast path's, and one that depends only on the epoch (``set_epoch``), so a resumed
    run shuffles its remaining epochs exactly as an uninterrupted one."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())


class TensorBatches(Batches):
    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        batch_size: int,
        shuffle: bool,
        seed: int,
        device: torch.device,
        context: DistributedContext,
    ) -> None:
        x, y = tensors[0], tensors[1]
        self.non_blocking = device.type == "cuda"
        if device.type == "cuda":
            size = x.element_size() * x.numel() + y.element_size() * y.numel()
            if size <= _PRELOAD_BYTES:
                x, y = x.to(device), y.to(device)
            elif x.device.type == "cpu":
                x, y = x.pin_memory(), y.pin_memory()
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.device = device
        self.context = context
        n = x.shape[0]
        self.per_process = -(-n // context.world_size) if context.enabled else n
        self.num_samples = self.per_process

    def __len__(self) -> int:
        return -(-self.per_process // self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        n = self.x.shape[0]
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if self.context.enabled:  # pad to equal shares, then take every world_size-th index
            total = self.per_process * self.context.world_size
            if total > n:
                order = torch.cat([order, order[: total - n]])
            order = order[self.context.rank :: self.context.world_size]
        return order.to(self.x.device)

    def epoch(self, index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._order(index)
        for batch in order.split(self.batch_size):
            x = self.x.index_select(0, batch)
            y = self.y.index_select(0, batch)
            if x.device != self.device:
                x = x.to(self.device, non_blocking=self.non_blocking)
                y = y.to(self.device, non_blocking=self.non_blocking)
            yield x, y


class LoaderBatches(Batches):
    def __init__(self, loader: DataLoader, device: torch.device, name: str) -> None:
        self.loader = loader
        self.device = device
        self.name = name
        self.non_blocking = device.type == "cuda"
        try:
            self.num_samples = len(loader.sampler)  # type: ignore[arg-type]
        except TypeError:
            self.num_samples = 0
        try:
            len(loader)
        except TypeError:
            self.sized = False

    def __len__(self) -> int:
        try:
            return len(self.loader)
        except TypeError:
            return 0

    def generators(self) -> list[torch.Generator]:
        found: list[torch.Generator] = []
        batch_sampler = getattr(self.loader, "batch_sampler", None)
        for owner in (self.loader, self.loader.sampler, getattr(batch_sampler, "sampler", None)):
            generator = getattr(owner, "generator", None)
            if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
                found.append(generator)
        return found

    def epoch(self, index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler = self.loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(index)
        for batch in self.loader:
            x, y = _split_batch(batch, self.name)
            yield (
                move_to(x, self.device, self.non_blocking),
                move_to(y, self.device, self.non_blocking),
            )


def _split_batch(batch: Any, name: str) -> tuple[Any, torch.Tensor]:
    if isinstance(batch, Sequence) and not isinstance(batch, str) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TypeError(
        f"{name}: expected batches of (inputs, targets[, ...]), got {type(batch).__name__}. "
        "Make the Dataset return (x, y) pairs, or pass (X, y) tensors."
    )


def as_batches(
    data: Any,
    name: str,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    device: torch.device,
    context: DistributedContext,
    num_workers: int = 0,
) -> Batches:
    """Normalise ``data`` (DataLoader, Dataset or ``(X, y)`` tensors) to :class:`Batches`.

    Under ``torchrun`` the training data is sharded: each process sees ``1/world_size`` of every
    epoch (``DistributedSampler`` for datasets and loaders, the same scheme for tensors).
    """
    if isinstance(data, tuple | list) and not isinstance(data, Dataset):
        if len(data) < 2 or not all(isinstance(t, torch.Tensor) for t in data[:2]):
            raise TypeError(
                f"{name}: expected a DataLoader, a Dataset, or a pair of tensors (X, y), got a "
                f"{type(data).__name__} of {[type(t).__name__ for t in data]}."
            )
        x, y = data[0], data[1]
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{name}: X and y must have the same number of rows, got X with {x.shape[0]} "
                f"and y with {y.shape[0]}."
            )
        data = TensorDataset(x, y)
    if isinstance(data, TensorDataset):
        if len(data.tensors) < 2:
            raise ValueError(
                f"{name}: expected a TensorDataset of (inputs, targets[, ...]), got one with "
                f"{len(data.tensors)} tensor(s)."
            )
        if len(data) == 0:
            raise ValueError(f"{name}: expected at least one sample, got an empty dataset.")
        return TensorBatches(data.tensors, batch_size, shuffle, seed, device, context)
    if isinstance(data, DataLoader):
        if context.enabled and shuffle and not isinstance(data.sampler, DistributedSampler):
            warnings.warn(
                f"{name}: rebuilding the DataLoader with a DistributedSampler so that each of the "
                f"{context.world_size} processes gets its own shard (batch size "
                f"{data.batch_size} per process).",
                stacklevel=3,
            )
            data = DataLoader(
                data.dataset,
                batch_size=data.batch_size,
                sampler=DistributedSampler(
                    data.dataset, context.world_size, context.rank, shuffle=True, seed=seed
                ),
                num_workers=data.num_workers,
                collate_fn=data.collate_fn,
                pin_memory=data.pin_memory,
                drop_last=data.drop_last,
            )
        return LoaderBatches(data, device, name)
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        if len(data) == 0:
            raise ValueError(f"{name}: expected at least one sample, got an empty dataset.")
        if context.enabled and shuffle:
            sampler: Any = DistributedSampler(
                data, context.world_size, context.rank, shuffle=True, seed=seed
            )
        elif shuffle:
            sampler = _EpochSampler(len(data), seed)
        else:
            sampler = None
        loader = DataLoader(
            data,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
        )
        return LoaderBatches(loader, device, name)
    raise TypeError(
        f"{name}: expected a torch DataLoader, a Dataset, or a pair of tensors (X, y), got "
        f"{type(data).__name__}. Wrap arrays with (torch.as_tensor(X), torch.as_tensor(y))."
    )
