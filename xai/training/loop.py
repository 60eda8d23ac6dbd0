"""``xai.fit``: a GPU-first training loop for classifiers.

One call trains any ``nn.Module`` classifier: picks the device, mixed precision on CUDA, AdamW
with a cosine schedule, optional gradient clipping, early stopping on a validation metric with
the best weights restored, a seeded (bit-for-bit repeatable on CPU) run, a progress bar, a
history, safetensors checkpoints, and DistributedDataParallel when started by ``torchrun``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xai._device import describe_device, pick_device
from xai._state import eval_mode
from xai._validation import check_positive_int, check_seed
from xai.training._data import Batches, as_batches
from xai.training.checkpoint import history_path, save_checkpoint, unwrap
from xai.training.distributed import DistributedContext, setup
from xai.training.history import History

__all__ = ["fit"]

_log = logging.getLogger(__name__)

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_AMP_CHOICES = ("auto", "off", "bf16", "fp16")
_SCHEDULES = ("cosine", "constant")


def _auto_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for ``(N, K)`` logits; binary cross-entropy for one logit ``(N,)``/``(N, 1)``."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return F.cross_entropy(outputs, targets)
    return F.binary_cross_entropy_with_logits(outputs.reshape(-1), targets.reshape(-1).float())


def _resolve_amp(amp: Any, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision."""
    if amp is None or amp is False:
        amp = "off"
    if amp is True:
        amp = "auto" if device.type == "cuda" else "off"
        if device.type != "cuda":
            warnings.warn(
                f"amp: mixed precision is used on CUDA only; training on {device} in float32. "
                "Pass amp='bf16' to force bfloat16 autocast on this device.",
                stacklevel=3,
            )
    if amp not in _AMP_CHOICES:
        raise ValueError(
            f"amp: expected one of {', '.join(map(repr, _AMP_CHOICES))} (or True/False), "
            f"got {amp!r}."
        )
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(
            f"amp: 'fp16' needs a CUDA device, training is on {device}. Use amp='bf16' or 'off'."
        )
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _metric_mode(name: str) -> str:
    """'min' for names ending in _loss/_error, 'max' otherwise."""
    return "min" if name.endswith(("_loss", "_error")) else "max"


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI") or os.environ.get("XAI_NO_PROGRESS"):
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _make_scheduler(
    schedule: Any, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
) -> Any:
    if callable(schedule):
        return schedule(optimizer, total_steps)
    if schedule not in _SCHEDULES and schedule is not None:
        raise ValueError(
            f"scheduler: expected 'cosine', 'constant', None or a callable "
            f"(optimizer, total_steps) -> LRScheduler, got {schedule!r}."
        )
    if schedule in (None, "constant"):
        return None

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _grad_scaler() -> Any:
    """A CUDA gradient scaler (``torch.amp.GradScaler`` from torch 2.3, else the older one)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # pragma: no cover - torch < 2.3


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's RNGs for the body (dropout, init of lazy layers) without touching the caller's."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def fit(
    model: nn.Module,
    train_data: Any,
    val_data: Any = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    optimizer: torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer] | None = None,
    scheduler: str | Callable[[torch.optim.Optimizer, int], Any] | None = "cosine",
    warmup_epochs: float = 0.0,
    loss: LossFunction | None = None,
    max_grad_norm: float | None = None,
    monitor: str | None = None,
    patience: int | None = None,
    restore_best: bool = True,
    device: str | torch.device = "auto",
    amp: str | bool = "auto",
    compile: bool = False,
    seed: int | None = None,
    checkpoint: str | Path | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    num_workers: int = 0,
) -> History:
    """Train a classifier and return its history (one record per epoch).

    The model is trained in place and left on the training device in eval mode, holding the best
    weights seen (by ``monitor``) when ``restore_best`` and validation data are given.

    Args:
        model: the classifier; returns logits ``(N, K)`` or one logit ``(N,)``/``(N, 1)``.
        train_data: a ``DataLoader``, a ``Dataset`` of ``(x, y[, ...])``, or ``(X, y)`` tensors.
        val_data: same kinds, or None. Adds ``val_loss`` and ``val_accuracy`` to each record.
        epochs: maximum number of epochs.
        batch_size: samples per step (per process under torchrun); ignored for DataLoaders.
        lr: peak learning rate of the default AdamW optimizer.
        weight_decay: AdamW's decoupled weight decay.
        optimizer: an optimizer over the model's parameters, or a callable
            ``params -> optimizer``; default AdamW(lr, weight_decay).
        scheduler: ``"cosine"`` (decay to zero over all steps, after ``warmup_epochs`` of linear
            warm-up), ``"constant"``/None, or ``(optimizer, total_steps) -> LRScheduler``,
            stepped once per batch.
        warmup_epochs: epochs of linear warm-up for the cosine schedule.
        loss: ``(outputs, targets) -> scalar``; default cross-entropy for ``K > 1`` logits and
            binary cross-entropy with logits for a single logit.
        max_grad_norm: clip the global gradient norm to this value (None: no clipping).
        monitor: the record key early stopping and best-weights selection watch, e.g.
            ``"val_loss"`` (lower is better: names ending in ``_loss``/``_error``) or
            ``"val_accuracy"`` (higher is better). Default ``"val_loss"`` with validation data.
        patience: stop after this many epochs without improvement of ``monitor`` (None: never).
        restore_best: load the weights of the best epoch at the end.
        device: ``"auto"`` (CUDA, then MPS, else CPU), or a device. Under torchrun with CUDA,
            each process uses ``cuda:LOCAL_RANK``.
        amp: ``"auto"`` (bf16 autocast on GPUs that support it, else fp16 with a gradient
            scaler; off on CPU), ``"bf16"``, ``"fp16"`` (CUDA only), ``"off"``, or True/False.
        compile: run the model through ``torch.compile``.
        seed: seeds shuffling, dropout and other random layers; on CPU the same seed and the
            same initial weights give bit-for-bit the same run. None: not seeded.
        checkpoint: a ``*.safetensors`` path. At the end, the weights are written there, the
            metadata (``metadata`` plus metrics, training settings, library versions) to
            ``*.json`` and the history to ``*.history.json``. Only rank 0 writes.
        metadata: JSON-serialisable facts stored with the checkpoint, e.g.
            ``{"architecture": {"name": ..., "config": {...}}, "data": {"split_seed": 0}}``.
        progress: show a progress bar per epoch; None: only when stderr is a terminal and the
            ``CI`` environment variable is unset.
        num_workers: DataLoader workers for ``Dataset`` inputs.

    Returns:
        The :class:`~xai.training.History`: records with ``epoch``, ``train_loss``,
        ``val_loss``/``val_accuracy`` (with validation data), ``lr``, ``seconds``,
        ``samples_per_second``; plus ``best_epoch`` and ``stopped_early``.

    Raises:
        TypeError: when ``model`` is not an ``nn.Module`` or the data is of an unsupported kind.
        ValueError: for out-of-range settings (the message names the argument and the fix).

    Example::

        history = xai.fit(model, (x_train, y_train), (x_val, y_val), epochs=5, seed=0)
        history.best["val_accuracy"]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}.")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    if not isinstance(lr, int | float) or isinstance(lr, bool) or not lr > 0:
        raise ValueError(f"lr: expected a positive number, got {lr!r}.")
    if max_grad_norm is not None and not (
        isinstance(max_grad_norm, int | float) and max_grad_norm > 0
    ):
        raise ValueError(
            f"max_grad_norm: expected None or a positive number, got {max_grad_norm!r}."
        )
    if patience is not None:
        patience = check_positive_int("patience", patience)
    if loss is not None and not callable(loss):
        raise TypeError(
            f"loss: expected a callable (outputs, targets) -> loss, got {type(loss).__name__}."
        )
    if monitor is None and val_data is not None:
        monitor = "val_loss"
    allowed = ["train_loss"] + (["val_loss", "val_accuracy"] if val_data is not None else [])
    if monitor is not None and monitor not in allowed:
        hint = " Pass val_data to monitor a validation metric." if val_data is None else ""
        raise ValueError(
            f"monitor: expected one of {', '.join(map(repr, allowed))}, got {monitor!r}.{hint}"
        )
    if patience is not None and monitor is None:
        monitor = "train_loss"

    device = pick_device(device)
    context = setup(device)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    try:
        with _seeded(seed, device):
            return _fit(
                model,
                train_data,
                val_data,
                epochs=epochs,
                batch_size=batch_size,
                lr=float(lr),
                weight_decay=weight_decay,
                optimizer=optimizer,
                scheduler=scheduler,
                warmup_epochs=warmup_epochs,
                loss_fn=loss or _auto_loss,
                max_grad_norm=max_grad_norm,
                monitor=monitor,
                patience=patience,
                restore_best=restore_best,
                device=device,
                amp_dtype=_resolve_amp(amp, device),
                compile=compile,
                seed=seed,
                checkpoint=checkpoint,
                metadata=metadata,
                progress=_progress_enabled(progress),
                num_workers=num_workers,
                context=context,
            )
    finally:
        context.close()


def _fit(
    model: nn.Module,
    train_data: Any,
    val_data: Any,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    optimizer: Any,
    scheduler: Any,
    warmup_epochs: float,
    loss_fn: LossFunction,
    max_grad_norm: float | None,
    monitor: str | None,
    patience: int | None,
    restore_best: bool,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    compile: bool,
    seed: int | None,
    checkpoint: str | Path | None,
    metadata: Mapping[str, Any] | None,
    progress: bool,
    num_workers: int,
    context: DistributedContext,
) -> History:
    # One base seed for shuffling; drawn from torch's (possibly seeded) RNG when seed is None.
    base_seed = seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
    train = as_batches(
        train_data,
        "train_data",
        batch_size=batch_size,
        shuffle=True,
        seed=base_seed,
        device=device,
        context=context,
        num_workers=num_workers,
    )
    val: Batches | None = None
    if val_data is not None:
        val = as_batches(
            val_data,
            "val_data",
            batch_size=max(batch_size, 256),
            shuffle=False,
            seed=base_seed,
            device=device,
            context=DistributedContext(),  # every process validates on all of val_data
            num_workers=num_workers,
        )

    model.to(device)
    module = model
    if context.enabled:
        module = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if compile:
        module = torch.compile(module)  # type: ignore[assignment]

    opt: torch.optim.Optimizer
    if optimizer is None:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    elif isinstance(optimizer, torch.optim.Optimizer):
        opt = optimizer
    elif callable(optimizer):
        opt = optimizer(model.parameters())
    else:
        raise TypeError(
            "optimizer: expected None, a torch.optim.Optimizer, or a callable params -> "
            f"optimizer, got {type(optimizer).__name__}."
        )
    steps_per_epoch = max(1, len(train))
    sched = _make_scheduler(
        scheduler, opt, epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch)
    )
    scaler = _grad_scaler() if amp_dtype == torch.float16 and device.type == "cuda" else None
    autocast: Callable[[], Any] = (
        (lambda: torch.autocast(device.type, dtype=amp_dtype))
        if amp_dtype is not None
        else contextlib.nullcontext
    )
    parameters = [p for p in model.parameters() if p.requires_grad]

    # the running loss stays on the device (no sync per step); MPS has no float64
    accumulate_dtype = torch.float32 if device.type == "mps" else torch.float64
    history = History(monitor=monitor)
    mode = _metric_mode(monitor) if monitor else "min"
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    show = progress and context.is_main
    _log.info(
        "fit: %d epoch(s) on %s, %d process(es), amp=%s, %d step(s) per epoch",
        epochs,
        describe_device(device),
        context.world_size,
        amp_dtype,
        steps_per_epoch,
    )

    for epoch in range(epochs):
        module.train()
        started = time.perf_counter()
        loss_sum = torch.zeros((), dtype=accumulate_dtype, device=device)
        seen = 0
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", leave=False, unit="batch"
            )
        for step, (x, y) in enumerate(train.epoch(epoch)):
            with autocast():
                outputs = module(x)
                batch_loss = loss_fn(outputs, y)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(batch_loss).backward()
                if max_grad_norm is not None:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
                scaler.step(opt)
                scaler.update()
            else:
                batch_loss.backward()
                if max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
                opt.step()
            if sched is not None:
                sched.step()
            n = int(y.shape[0])
            loss_sum += batch_loss.detach().to(accumulate_dtype) * n
            seen += n
            if bar is not None:
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{float(loss_sum) / max(seen, 1):.4f}")
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - started
        total_loss, total_seen = context.all_reduce_sum([float(loss_sum), float(seen)], device)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": total_loss / max(total_seen, 1.0),
        }
        if val is not None:
            record.update(_validate(model, val, loss_fn, autocast))
        record["lr"] = float(opt.param_groups[0]["lr"])
        record["seconds"] = time.perf_counter() - started
        record["samples_per_second"] = total_seen / train_seconds if train_seconds > 0 else 0.0
        if bar is not None:
            shown = {"loss": f"{record['train_loss']:.4f}"}
            if monitor and monitor != "train_loss":
                shown[monitor] = f"{record[monitor]:.4f}"
            bar.set_postfix(shown)
            bar.close()

        improved = False
        if monitor is not None:
            value = float(record[monitor])
            improved = best_value is None or (
                value < best_value if mode == "min" else value > best_value
            )
            if improved:
                best_value = value
                history.best_epoch = epoch + 1
                stale = 0
                if restore_best and val is not None:
                    best_state = copy.deepcopy(unwrap(model).state_dict())
            else:
                stale += 1
        record["best"] = improved
        history.records.append(record)
        _log.info("epoch %d: %s", epoch + 1, _format_record(record))
        stop = patience is not None and stale >= patience
        if context.broadcast_flag(stop, device):
            history.stopped_early = True
            _log.info(
                "early stopping after epoch %d (best epoch %s)", epoch + 1, history.best_epoch
            )
            break

    if best_state is not None:
        unwrap(model).load_state_dict(best_state)
    model.eval()

    if checkpoint is not None and context.is_main:
        _write_checkpoint(
            Path(checkpoint),
            model,
            history,
            metadata,
            {
                "epochs": epochs,
                "epochs_run": len(history.records),
                "batch_size": batch_size,
                "lr": lr,
                "weight_decay": weight_decay,
                "max_grad_norm": max_grad_norm,
                "scheduler": scheduler if isinstance(scheduler, str | None) else "custom",
                "warmup_epochs": warmup_epochs,
                "monitor": monitor,
                "patience": patience,
                "seed": seed,
                "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
                "device": describe_device(device),
                "world_size": context.world_size,
            },
        )
    return history


@torch.inference_mode()
def _validate(
    model: nn.Module, batches: Batches, loss_fn: LossFunction, autocast: Callable[[], Any]
) -> dict[str, float]:
    loss_sum, correct, seen = 0.0, 0, 0
    with eval_mode(model):  # every submodule's mode restored, not the top one set on all
        for x, y in batches.epoch(0):
            with autocast():
                outputs = model(x)
                batch_loss = loss_fn(outputs, y)
            outputs = outputs.float()
            if outputs.ndim == 2 and outputs.shape[1] > 1:
                predicted = outputs.argmax(dim=1)
            else:
                predicted = (outputs.reshape(-1) > 0).long()
            n = int(y.shape[0])
            loss_sum += float(batch_loss) * n
            correct += int((predicted == y.reshape(-1).long()).sum())
            seen += n
    return {"val_loss": loss_sum / seen, "val_accuracy": correct / seen}


def _format_record(record: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
    )


def _write_checkpoint(
    path: Path,
    model: nn.Module,
    history: History,
    metadata: Mapping[str, Any] | None,
    training: dict[str, Any],
) -> None:
    record = dict(metadata or {})
    module = unwrap(model)
    config = getattr(module, "config", None)
    record.setdefault(
        "architecture",
        {"name": type(module).__name__, "config": config if isinstance(config, dict) else None},
    )
    best = history.best or {}
    metrics = dict(record.get("metrics") or {})
    metrics.update(
        {k: v for k, v in best.items() if k.startswith(("val_", "train_")) and k != "best"}
    )
    record["metrics"] = metrics
    record["training"] = {**training, **dict(record.get("training") or {})}
    record["best_epoch"] = history.best_epoch
    record["history"] = history_path(path).name
    save_checkpoint(path, model, record)
    history.save(history_path(path))
