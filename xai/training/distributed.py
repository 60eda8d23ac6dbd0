"""torch.distributed helpers: detect a ``torchrun`` launch, set up and tear down the process group.

The loop never launches processes itself: start it with ``torchrun --nproc_per_node N script.py``
(or ``python -m torch.distributed.run``). ``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; when ``WORLD_SIZE > 1`` the loop joins the group (NCCL on CUDA, gloo on CPU).
"""

from __future__ import annotations

import atexit
import gc
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "launched_by_torchrun", "setup"]


def launched_by_torchrun() -> bool:
    """True when the environment says this is one of several processes started by ``torchrun``."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


@dataclass
class DistributedContext:
    """The process's place in the group. ``world_size == 1`` means plain single-process training."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when this call created the process group

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes files, logs and shows progress."""
        return self.rank == 0

    def all_reduce_sum(self, values: list[float], device: torch.device) -> list[float]:
        """Sum a few scalars over all processes (identity when not distributed)."""
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def broadcast_flag(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's value of ``flag`` on every process."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
        dist.broadcast(tensor, src=0)
        return bool(tensor.item())

    def close(self) -> None:
        """Nothing to undo: a group fit() created stays open for later calls (re-creating one
        under the same torchrun rendezvous can hang) and is destroyed when the process exits."""


def _destroy_group() -> None:
    """Tear the group down at exit, once every rank has got there: a rank that destroys its
    gloo group while a peer is still using it makes that peer abort ("terminate called
    without an active exception")."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    # Free finished collectives (DDP's reducer keeps gloo work objects that hold tensors)
    # while the interpreter is fully alive; freeing them during finalization aborts.
    gc.collect()
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=60))
        else:
            dist.barrier()
    except Exception:  # a peer is gone already: nothing left to synchronise with
        return
    dist.destroy_process_group()


def setup(device: torch.device) -> DistributedContext:
    """Join the ``torchrun`` process group if there is one; otherwise a single-process context.

    An already initialised group (set up by the caller or by an earlier ``fit``) is used as is.
    A group created here stays open for later calls and is destroyed at interpreter exit.
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(
            rank=dist.get_rank(),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=dist.get_world_size(),
        )
    if not (dist.is_available() and launched_by_torchrun()):
        return DistributedContext()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    atexit.register(_destroy_group)
    return DistributedContext(
        rank=dist.get_rank(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        world_size=dist.get_world_size(),
        owns_group=True,
    )
