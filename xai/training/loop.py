"""``xai.fit``: a GPU-first training loop for classifiers.

One call trains any ``nn.Module`` classifier: picks the device, mixed precision on CUDA, AdamW
with a cosine schedule, optional gradient clipping, early stopping on a validation metric with
the best weights restored, a seeded (bit-for-bit repeatable on CPU) run, a progress bar, a
history, safetensors checkpoints every epoch that a later call resumes from, and
DistributedDataParallel when started by ``torchrun``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xai._device import describe_device, pick_device
from xai._files import to_json_value
from xai._progress import Progress, ProgressCallback, check_progress, shows_bar
from xai._provenance import library_versions
from xai._state import eval_mode
from xai._validation import check_bool, check_choice, check_positive_int, check_seed
from xai.errors import InputError, InputTypeError
from xai.training._checks import check_first_batch, check_lr, check_path_argument, number
from xai.training._data import Batches, as_batches
from xai.training._resume import (
    TrainingState,
    capture_rng,
    check_settings,
    read_state,
    restore_rng,
)
from xai.training.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    STATE_FORMAT,
    history_path,
    load_checkpoint,
    read_header,
    read_history,
    read_metadata,
    state_path,
    unwrap,
    write_unit,
)
from xai.training.distributed import DistributedContext, setup
from xai.training.history import History

__all__ = ["NonFiniteLossError", "fit"]

_log = logging.getLogger(__name__)

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_AMP_CHOICES = ("auto", "off", "bf16", "fp16")
_SCHEDULES = ("cosine", "constant")
_NAN_POLICIES = ("raise", "skip_batch")
# On an accelerator the loss is checked for NaN/inf on the device every step (no sync) and
# read by the host every this many steps and at the end of each epoch.
_FINITE_CHECK_EVERY = 32
# settings that must match for a resumed run to continue the same run
_RESUME_SETTINGS = (
    "epochs", "batch_size", "lr", "weight_decay", "optimizer", "max_grad_norm", "scheduler",
    "warmup_epochs", "monitor", "patience", "restore_best", "seed", "nan_policy",
    "world_size", "steps_per_epoch", "train_samples", "val_data",
)  # fmt: skip


class NonFiniteLossError(FloatingPointError):
    """Training stopped because a loss was NaN or infinite.

    Attributes:
        epoch: the epoch (1-based) where it happened.
        step: the step (1-based) within the epoch, or None for the validation loss.
    """

    def __init__(self, message: str, epoch: int, step: int | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.epoch, self.step)


def _auto_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for ``(N, K)`` logits; binary cross-entropy for one logit ``(N,)``/``(N, 1)``."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        if not targets.is_floating_point():
            targets = targets.long()  # int32/uint8 class labels too
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
    if not isinstance(amp, str) or amp not in _AMP_CHOICES:
        raise InputError(
            "amp",
            f"expected one of {', '.join(map(repr, _AMP_CHOICES))} (or True/False), got {amp!r}.",
        )
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type != "cuda":
        raise InputError(
            "amp", f"'fp16' needs a CUDA device, training is on {device}. Use amp='bf16' or 'off'."
        )
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _metric_mode(name: str) -> str:
    """'min' for names ending in _loss/_error, 'max' otherwise."""
    return "min" if name.endswith(("_loss", "_error")) else "max"


def _progress_callback(progress: Progress) -> ProgressCallback | None:
    return progress if callable(progress) and not isinstance(progress, bool) else None


def _make_scheduler(
    schedule: Any, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
) -> Any:
    if callable(schedule):
        return schedule(optimizer, total_steps)
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
def _seeded(seed: int | None, device: torch.device, fork: bool = False) -> Iterator[None]:
    """Seed torch's RNGs for the body (dropout, init of lazy layers) without touching the
    caller's; ``fork`` forks them without a seed (a resumed run sets the saved states)."""
    if seed is None and not fork:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)
        yield


@dataclass
class _Run:
    """The checked settings of one fit call."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: Any
    scheduler: Any
    warmup_epochs: float
    loss_fn: LossFunction
    default_loss: bool
    max_grad_norm: float | None
    monitor: str | None
    patience: int | None
    restore_best: bool
    device: torch.device
    amp_dtype: torch.dtype | None
    compile: bool
    seed: int | None
    checkpoint: Path | None
    metadata: Mapping[str, Any] | None
    progress: bool  # a tqdm bar per epoch
    num_workers: int
    checkpoint_every: int | None
    resume: Path | None
    nan_policy: str
    callback: ProgressCallback | None = None  # a callable progress=, told after each epoch


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
    progress: Progress = None,
    num_workers: int = 0,
    checkpoint_every: int | None = 1,
    resume: str | Path | None = None,
    nan_policy: str = "raise",
) -> History:
    """Train a classifier and return its history (one record per epoch).

    The model is trained in place and left on the training device in eval mode, holding the best
    weights seen (by ``monitor``) when ``restore_best`` and validation data are given. When
    training stops with an error or ``KeyboardInterrupt``, every submodule is left in the
    train/eval mode it had before the call, and the last complete checkpoint stays on disk.

    Args:
        model: the classifier; returns logits ``(N, K)`` or one logit ``(N,)``/``(N, 1)``.
        train_data: a ``DataLoader``, a ``Dataset`` of ``(x, y[, ...])``, or ``(X, y)`` tensors.
            With the default loss, labels are class indices in ``[0, K)`` (or class
            probabilities ``(N, K)``), or 0/1 for a single logit; the first batch is checked.
        val_data: same kinds, or None. Adds ``val_loss`` and ``val_accuracy`` to each record.
        epochs: maximum number of epochs.
        batch_size: samples per step (per process under torchrun); ignored for DataLoaders.
        lr: peak learning rate of the default AdamW optimizer, in ``(0, 1000]``.
        weight_decay: AdamW's decoupled weight decay, ``>= 0`` (and ``lr * weight_decay < 1``,
            else every step would shrink the weights to zero or past it).
        optimizer: an optimizer over the model's parameters, or a callable
            ``params -> optimizer``; default AdamW(lr, weight_decay).
        scheduler: ``"cosine"`` (decay to zero over all steps, after ``warmup_epochs`` of linear
            warm-up), ``"constant"``/None, or ``(optimizer, total_steps) -> LRScheduler``,
            stepped once per batch.
        warmup_epochs: epochs (a fraction allowed) of linear warm-up for the cosine schedule,
            between 0 and ``epochs``.
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
        checkpoint: a ``*.safetensors`` path. The weights are written there, the metadata
            (``metadata`` plus metrics, training settings, library versions) to ``*.json`` and
            the history to ``*.history.json``, as one unit, every ``checkpoint_every`` epochs
            and at the end; while the run is unfinished, ``*.resume.safetensors`` beside them
            holds what ``resume`` needs. Only rank 0 writes.
        metadata: JSON-serialisable facts stored with the checkpoint, e.g.
            ``{"architecture": {"name": ..., "config": {...}}, "data": {"split_seed": 0}}``.
        progress: None (default): a progress bar per epoch when stderr is a terminal (and
            neither ``CI`` nor ``XAI_NO_PROGRESS`` is set), else one log line per epoch
            (logger ``xai.training.loop``, INFO); True: a bar; False: nothing; a callable
            ``progress(fraction_done, message)``: called after each epoch, 1.0 at the end
            (docs/command_line.md#progress).
        num_workers: DataLoader workers for ``Dataset`` inputs (an integer >= 0).
        checkpoint_every: write the checkpoint every this many epochs (and at the end); None:
            only at the end (such a run cannot be resumed).
        resume: a checkpoint path written by an interrupted run with the same settings: the
            run continues from its last complete checkpoint, to the same final weights as an
            uninterrupted run (bit for bit on CPU). The checkpoint is written there unless
            ``checkpoint`` says otherwise. A finished run's checkpoint loads its weights and
            returns its history.
        nan_policy: ``"raise"``: a NaN or infinite training loss stops training with
            :class:`NonFiniteLossError` naming the epoch and step; ``"skip_batch"``: such a
            batch is skipped (no update; counted in the record's ``skipped_batches``).

    Returns:
        The :class:`~xai.training.History`: records with ``epoch``, ``train_loss``,
        ``val_loss``/``val_accuracy`` (with validation data), ``lr``, ``seconds``,
        ``samples_per_second``; plus ``best_epoch`` and ``stopped_early``.

    Raises:
        TypeError: when ``model`` is not an ``nn.Module``, the data is of an unsupported kind,
            or an argument has the wrong type (an :class:`~xai.errors.InputTypeError`).
        ValueError: for out-of-range settings, empty data, labels that do not fit the model's
            outputs, non-finite inputs, or a ``resume`` checkpoint of another run (an
            :class:`~xai.errors.InputError` naming the argument).
        NonFiniteLossError: when the loss becomes NaN or infinite (with ``nan_policy="raise"``).

    Example::

        history = xai.fit(model, (x_train, y_train), (x_val, y_val), epochs=5, seed=0)
        history.best["val_accuracy"]
        # continue an interrupted run where its last checkpoint left it
        xai.fit(model, (x_train, y_train), (x_val, y_val), epochs=5, seed=0,
                checkpoint="runs/m.safetensors", resume="runs/m.safetensors")
    """
    if not isinstance(model, nn.Module):
        raise InputTypeError("model", f"expected a torch.nn.Module, got {type(model).__name__}.")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_lr(lr)
    weight_decay = number("weight_decay", weight_decay, "a finite number >= 0")
    if weight_decay < 0:
        raise InputError("weight_decay", f"expected a finite number >= 0, got {weight_decay!r}.")
    if optimizer is None and lr * weight_decay >= 1:
        raise InputError(
            "weight_decay",
            f"AdamW multiplies the weights by 1 - lr * weight_decay every step; with lr={lr:g} "
            f"and weight_decay={weight_decay:g} that is {1 - lr * weight_decay:g}, which zeroes "
            "or flips them. Use a weight_decay below 1 / lr (typically 1e-4 to 1e-1).",
        )
    if not (
        optimizer is None or isinstance(optimizer, torch.optim.Optimizer) or callable(optimizer)
    ):
        raise InputTypeError(
            "optimizer",
            "expected None, a torch.optim.Optimizer, or a callable params -> optimizer, got "
            f"{type(optimizer).__name__}.",
        )
    if not (scheduler is None or callable(scheduler)) and (
        not isinstance(scheduler, str) or scheduler not in _SCHEDULES
    ):
        raise InputError(
            "scheduler",
            "expected 'cosine', 'constant', None or a callable (optimizer, total_steps) -> "
            f"LRScheduler, got {scheduler!r}.",
        )
    warmup = number("warmup_epochs", warmup_epochs, f"a number of epochs in [0, {epochs}]")
    if not 0 <= warmup <= epochs:
        raise InputError(
            "warmup_epochs", f"expected a number of epochs in [0, epochs={epochs}], got {warmup!r}."
        )
    if loss is not None and not callable(loss):
        raise InputTypeError(
            "loss", f"expected a callable (outputs, targets) -> loss, got {type(loss).__name__}."
        )
    if max_grad_norm is not None:
        max_grad_norm = number(
            "max_grad_norm", max_grad_norm, "None (no clipping) or a positive finite number"
        )
        if max_grad_norm <= 0:
            raise InputError(
                "max_grad_norm",
                f"expected None (no clipping) or a positive finite number, got {max_grad_norm!r}.",
            )
    if patience is not None:
        patience = check_positive_int("patience", patience)
    if monitor is None and val_data is not None:
        monitor = "val_loss"
    allowed = ["train_loss"] + (["val_loss", "val_accuracy"] if val_data is not None else [])
    if monitor is not None and monitor not in allowed:
        hint = " Pass val_data to monitor a validation metric." if val_data is None else ""
        raise InputError(
            "monitor", f"expected one of {', '.join(map(repr, allowed))}, got {monitor!r}.{hint}"
        )
    if patience is not None and monitor is None:
        monitor = "train_loss"
    restore_best = check_bool("restore_best", restore_best)
    compile = check_bool("compile", compile)
    seed = check_seed(seed)
    progress = check_progress(progress)
    num_workers = check_positive_int("num_workers", num_workers, minimum=0)
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every)
    nan_policy = check_choice("nan_policy", nan_policy, _NAN_POLICIES)
    checkpoint_path = check_path_argument("checkpoint", checkpoint)
    resume_path = check_path_argument("resume", resume)
    if resume_path is not None and checkpoint_path is None:
        name = resume_path.name
        if name.endswith(".resume.safetensors"):  # the training state itself
            name = name[: -len(".resume.safetensors")] + ".safetensors"
        checkpoint_path = resume_path.with_name(name)
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InputTypeError(
                "metadata", f"expected a dict of JSON data or None, got {type(metadata).__name__}."
            )
        for field in ("architecture", "metrics", "training"):
            if metadata.get(field) is not None and not isinstance(metadata[field], Mapping):
                raise InputTypeError(
                    "metadata",
                    f"metadata[{field!r}] must be a dict, got {type(metadata[field]).__name__}.",
                )
        try:  # checked before any work, not when the first checkpoint is written
            to_json_value(metadata, strict=True, where="metadata")
        except TypeError as error:
            raise InputTypeError("metadata", f"not JSON data: {error}") from None

    device = pick_device(device)
    amp_dtype = _resolve_amp(amp, device)
    run = _Run(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        optimizer=optimizer,
        scheduler=scheduler,
        warmup_epochs=warmup,
        loss_fn=loss or _auto_loss,
        default_loss=loss is None,
        max_grad_norm=max_grad_norm,
        monitor=monitor,
        patience=patience,
        restore_best=restore_best,
        device=device,
        amp_dtype=amp_dtype,
        compile=compile,
        seed=seed,
        checkpoint=checkpoint_path,
        metadata=metadata,
        progress=shows_bar(progress),
        num_workers=num_workers,
        checkpoint_every=checkpoint_every,
        resume=resume_path,
        nan_policy=nan_policy,
        callback=_progress_callback(progress),
    )
    # the resume source is read (and checked) before anything is set up
    resumed = _read_resume(resume_path) if resume_path is not None else None

    context = setup(device)
    if context.enabled and device.type == "cuda":
        run.device = device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    modes = [(module, module.training) for module in model.modules()]
    try:
        with _seeded(seed, device, fork=resumed is not None):
            return _fit(model, train_data, val_data, run, context, resumed)
    except BaseException:
        # an error or KeyboardInterrupt: every submodule back in the mode it had
        for module, training in modes:
            module.training = training
        raise
    finally:
        context.close()


# ------------------------------------------------------------------------- resuming
@dataclass
class _Finished:
    """The checkpoint of a run that finished: resuming it loads its weights and history."""

    weights: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    history: History
    source: str


def _read_resume(path: Path) -> TrainingState | _Finished:
    """What ``resume=path`` continues: the training state beside the checkpoint (or the state
    file itself), or the checkpoint of a finished run. A complete checkpoint wins over a
    training state left beside it (an interrupt between the last unit and the state's removal)."""
    if path.is_file() and read_header(path, "resume").get("format") == STATE_FORMAT:
        return read_state(path)
    state_file = state_path(path)
    complete = False
    if path.is_file():
        try:
            training = read_metadata(path, read_header(path, "resume"), "resume").get("training")
            complete = isinstance(training, dict) and training.get("complete") is True
        except InputError:
            if not state_file.is_file():
                raise
    if state_file.is_file() and not complete:
        return read_state(state_file)
    if not path.is_file():
        raise InputError(
            "resume",
            f"no checkpoint at {str(path)!r} (nor a training state {str(state_file)!r}). Pass "
            "the checkpoint path of the interrupted run, or resume=None to start a new run.",
        )
    data = read_history(path) if complete else None
    if data is None:
        raise InputError(
            "resume",
            f"{str(path)!r} has no training state to resume from (it was written with "
            "checkpoint_every=None, by save_checkpoint, or by an older xai). Start a new run, "
            "or load its weights with xai.training.load_checkpoint.",
        )
    try:
        weights, metadata = load_checkpoint(path)
    except InputError as error:
        raise error.renamed("resume") from error
    return _Finished(weights, metadata, History.from_dict(data), repr(str(path)))


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    try:
        unwrap(model).load_state_dict(dict(state))
    except RuntimeError as error:
        raise InputError(
            "resume",
            f"the weights in {source} do not fit the model: {' '.join(str(error).split())[:600]}",
        ) from error


def _non_finite(
    epoch: int, step: int, steps: int, value: float | None, x: Any, run: _Run
) -> NonFiniteLossError:
    what = f"is {value}" if value is not None else "is NaN or infinite"
    cause = ""
    if isinstance(x, torch.Tensor) and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        cause = " The inputs of this batch hold NaN or infinite values; clean the data."
    elif run.optimizer is None:
        cause = (
            f" Lower the learning rate (lr={run.lr:g}), clip gradients with max_grad_norm, or "
            "check the data."
        )
    return NonFiniteLossError(
        f"the training loss at epoch {epoch}, step {step} (of {steps}) {what}: training stopped."
        f"{cause} nan_policy='skip_batch' skips such batches instead.",
        epoch,
        step,
    )


def _settings(
    run: _Run, context: DistributedContext, train: Batches, has_val: bool
) -> dict[str, Any]:
    optimizer = run.optimizer
    if optimizer is None:
        optimizer_name = "AdamW"
    elif isinstance(optimizer, torch.optim.Optimizer):
        optimizer_name = type(optimizer).__name__
    else:
        optimizer_name = "custom"
    return {
        "epochs": run.epochs,
        "batch_size": run.batch_size,
        "lr": run.lr,
        "weight_decay": run.weight_decay,
        "optimizer": optimizer_name,
        "max_grad_norm": run.max_grad_norm,
        "scheduler": run.scheduler if isinstance(run.scheduler, str | None) else "custom",
        "warmup_epochs": run.warmup_epochs,
        "monitor": run.monitor,
        "patience": run.patience,
        "restore_best": run.restore_best,
        "seed": run.seed,
        "nan_policy": run.nan_policy,
        "world_size": context.world_size,
        "steps_per_epoch": len(train),
        "train_samples": train.num_samples,
        "val_data": has_val,
    }


def _state_problem(opt: torch.optim.Optimizer, sched: Any) -> tuple[str, str] | None:
    """Why the optimizer's or scheduler's state cannot go into a checkpoint, or None."""
    try:
        to_json_value(opt.state_dict()["param_groups"], strict=True, where="param_groups")
    except TypeError as error:
        return "optimizer", str(error)
    if sched is not None:
        if not callable(getattr(sched, "state_dict", None)):
            return "scheduler", f"{type(sched).__name__} has no state_dict()"
        try:
            to_json_value(sched.state_dict(), strict=True, where="state_dict()")
        except TypeError as error:
            return "scheduler", str(error)
    return None


def _checks_on_host(device: torch.device, nan_policy: str) -> bool:
    """Whether the host reads every step's loss before the update (on CPU, where that costs
    nothing, and for ``skip_batch``, which needs the answer first); otherwise the check stays
    on the device and is read every ``_FINITE_CHECK_EVERY`` steps (no sync per step)."""
    return device.type == "cpu" or nan_policy == "skip_batch"


def _anywhere(context: DistributedContext, device: torch.device, flag: bool) -> bool:
    """``flag`` on any process. Under torchrun every process must stop at the same step: the
    others would wait forever in the next collective (DDP's gradient all-reduce)."""
    if not context.enabled:
        return flag
    return context.all_reduce_sum([1.0 if flag else 0.0], device)[0] > 0


def _first_batch_agreed(
    x: Any, y: torch.Tensor, outputs: Any, run: _Run, context: DistributedContext
) -> None:
    """:func:`_check_first_batch` on this process's first training batch, raised on every
    process when it fails on any."""
    problem: InputError | None = None
    try:
        check_first_batch(x, y, outputs, "train_data", run.default_loss)
    except InputError as error:
        problem = error
    if _anywhere(context, run.device, problem is not None):
        raise problem or InputError(
            "train_data", "the first batch of another process failed the checks (see its error)."
        )


def _deferred_check(
    bad_step: torch.Tensor,
    step: int,
    epoch: int,
    steps: int,
    run: _Run,
    context: DistributedContext,
) -> None:
    """Read the device-side record of the first non-finite step (one sync) and stop there."""
    first = int(bad_step)
    if _anywhere(context, run.device, first >= 0):
        raise _non_finite(epoch + 1, (first if first >= 0 else step) + 1, steps, None, None, run)


# ------------------------------------------------------------------------- the loop
def _fit(
    model: nn.Module,
    train_data: Any,
    val_data: Any,
    run: _Run,
    context: DistributedContext,
    resumed: TrainingState | _Finished | None,
) -> History:
    device = run.device
    # One base seed for shuffling; drawn from torch's (possibly seeded) RNG when seed is None.
    if isinstance(resumed, TrainingState):
        base_seed = resumed.base_seed
    else:
        base_seed = (
            run.seed if run.seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
        )
    train = as_batches(
        train_data,
        "train_data",
        batch_size=run.batch_size,
        shuffle=True,
        seed=base_seed,
        device=device,
        context=context,
        num_workers=run.num_workers,
    )
    if train.sized and len(train) == 0:
        raise InputError(
            "train_data",
            "expected at least one batch, got a DataLoader that yields none (an empty dataset, "
            "or drop_last=True with fewer samples than its batch size).",
        )
    val: Batches | None = None
    if val_data is not None:
        val = as_batches(
            val_data,
            "val_data",
            batch_size=max(run.batch_size, 256),
            shuffle=False,
            seed=base_seed,
            device=device,
            context=DistributedContext(),  # every process validates on all of val_data
            num_workers=run.num_workers,
        )
        if val.sized and len(val) == 0:
            raise InputError(
                "val_data",
                "expected at least one batch, got a DataLoader that yields none (an empty "
                "dataset, or drop_last=True with fewer samples than its batch size). Pass "
                "val_data=None to train without validation.",
            )
    settings = _settings(run, context, train, val is not None)
    if resumed is not None:
        saved = (
            resumed.settings
            if isinstance(resumed, TrainingState)
            else resumed.metadata.get("training", {})
        )
        check_settings(
            {k: saved[k] for k in _RESUME_SETTINGS if k in saved},
            {k: settings[k] for k in _RESUME_SETTINGS},
            resumed.source,
        )
    writer = run.checkpoint is not None and context.is_main
    if isinstance(resumed, _Finished):
        if run.callback is not None and context.is_main:
            run.callback(1.0, f"fit: loaded the finished run {resumed.source}")
        return _finished(model, run, resumed, writer)
    left = state_path(run.checkpoint) if run.checkpoint is not None else None
    if writer and resumed is None and left is not None and left.is_file():
        warnings.warn(
            f"checkpoint: {str(run.checkpoint)!r} holds an unfinished run (its training state "
            f"{str(left)!r}); this call starts a new run and replaces it. Pass resume= that "
            "path to continue that run instead.",
            stacklevel=3,
        )

    model.to(device)
    if isinstance(resumed, TrainingState):
        _load_into(model, resumed.model, resumed.source)
    module = model
    if context.enabled:
        module = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if run.compile:
        module = torch.compile(module)  # type: ignore[assignment]

    opt: torch.optim.Optimizer
    if run.optimizer is None:
        opt = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=run.weight_decay)
    elif isinstance(run.optimizer, torch.optim.Optimizer):
        opt = run.optimizer
    else:
        opt = run.optimizer(model.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise InputTypeError(
                "optimizer",
                f"the callable returned {type(opt).__name__}, expected a torch.optim.Optimizer.",
            )
    steps_per_epoch = max(1, len(train))
    sched = _make_scheduler(
        run.scheduler,
        opt,
        run.epochs * steps_per_epoch,
        int(run.warmup_epochs * steps_per_epoch),
    )
    scaler = _grad_scaler() if run.amp_dtype == torch.float16 and device.type == "cuda" else None
    if writer and run.checkpoint_every is not None:
        problem = _state_problem(opt, sched)
        if problem is not None:
            raise InputTypeError(
                problem[0],
                f"its state cannot be saved in a checkpoint ({problem[1]}). Pass "
                "checkpoint_every=None to write the checkpoint only at the end.",
            )
    autocast: Callable[[], Any] = (
        (lambda: torch.autocast(device.type, dtype=run.amp_dtype))
        if run.amp_dtype is not None
        else contextlib.nullcontext
    )
    parameters = [p for p in model.parameters() if p.requires_grad]

    # the running loss stays on the device (no sync per step); MPS has no float64
    accumulate_dtype = torch.float32 if device.type == "mps" else torch.float64
    history = History(monitor=run.monitor)
    mode = _metric_mode(run.monitor) if run.monitor else "min"
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    start_epoch = 0
    if isinstance(resumed, TrainingState):
        try:
            opt.load_state_dict(
                {
                    "state": resumed.optimizer["state"],
                    "param_groups": resumed.optimizer["param_groups"],
                }
            )
            if sched is not None and resumed.scheduler is not None:
                sched.load_state_dict(dict(resumed.scheduler))
            if scaler is not None and resumed.scaler:  # empty before the scaler's first step
                scaler.load_state_dict(dict(resumed.scaler))
        except (ValueError, KeyError, RuntimeError, TypeError) as error:
            raise InputError(
                "resume",
                f"the optimizer or scheduler state in {resumed.source} does not fit this run "
                f"({type(error).__name__}: {str(error)[:300]}).",
            ) from error
        history = History.from_dict(resumed.history)
        best_value, stale, start_epoch = resumed.best_value, resumed.stale, resumed.epoch
        if resumed.best is not None:
            current = unwrap(model).state_dict()
            best_state = {k: v.to(current[k].device) for k, v in resumed.best.items()}
        restore_rng(resumed.rng, device, train.generators())
        _log.info("fit: resuming %s after epoch %d", resumed.source, start_epoch)
    show = run.progress and context.is_main
    host_check = _checks_on_host(device, run.nan_policy)
    first_batch = True
    _log.info(
        "fit: %d epoch(s) on %s, %d process(es), amp=%s, %d step(s) per epoch",
        run.epochs,
        describe_device(device),
        context.world_size,
        run.amp_dtype,
        steps_per_epoch,
    )

    for epoch in range(start_epoch, run.epochs):
        module.train()
        started = time.perf_counter()
        loss_sum = torch.zeros((), dtype=accumulate_dtype, device=device)
        seen = skipped = 0
        # on an accelerator: the first step whose loss was not finite, kept on the device
        bad_step = None if host_check else torch.full((), -1, dtype=torch.long, device=device)
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=steps_per_epoch,
                desc=f"epoch {epoch + 1}/{run.epochs}",
                leave=False,
                unit="batch",
            )
        try:
            for step, (x, y) in enumerate(train.epoch(epoch)):
                with autocast():
                    outputs = module(x)
                    if first_batch:
                        first_batch = False
                        _first_batch_agreed(x, y, outputs, run, context)
                    batch_loss = run.loss_fn(outputs, y)
                opt.zero_grad(set_to_none=True)
                if host_check:
                    finite = bool(torch.isfinite(batch_loss.detach()).all())
                    if _anywhere(context, device, not finite):
                        if run.nan_policy == "raise":
                            loss_value = batch_loss.detach().float()
                            raise _non_finite(
                                epoch + 1,
                                step + 1,
                                steps_per_epoch,
                                float(loss_value) if loss_value.numel() == 1 else None,
                                x,
                                run,
                            )
                        skipped += 1
                        if sched is not None:
                            sched.step()  # the schedule keeps its pace
                        if bar is not None:
                            bar.update(1)
                        continue
                elif bad_step is not None:  # always, off the host check: kept on the device
                    bad_step = torch.where(
                        (bad_step < 0) & ~torch.isfinite(batch_loss.detach()).all(), step, bad_step
                    )
                    if (step + 1) % _FINITE_CHECK_EVERY == 0:
                        _deferred_check(bad_step, step, epoch, steps_per_epoch, run, context)
                if scaler is not None:
                    scaler.scale(batch_loss).backward()
                    if run.max_grad_norm is not None:
                        scaler.unscale_(opt)
                        torch.nn.utils.clip_grad_norm_(parameters, run.max_grad_norm)
                    scaler.step(opt)
                    scaler.update()
                else:
                    batch_loss.backward()
                    if run.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(parameters, run.max_grad_norm)
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
            if bad_step is not None:
                _deferred_check(bad_step, steps_per_epoch - 1, epoch, steps_per_epoch, run, context)
        except BaseException:
            if bar is not None:
                bar.close()
            raise
        if seen == 0 and skipped == 0:
            raise InputError(
                "train_data", f"yielded no batches in epoch {epoch + 1}; expected at least one."
            )
        if seen == 0:
            raise NonFiniteLossError(
                f"every batch of epoch {epoch + 1} had a NaN or infinite loss (all {skipped} "
                "skipped with nan_policy='skip_batch'): training stopped. Check the data and "
                f"lower the learning rate (lr={run.lr:g}).",
                epoch + 1,
            )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - started
        total_loss, total_seen = context.all_reduce_sum([float(loss_sum), float(seen)], device)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": total_loss / max(total_seen, 1.0),
        }
        if run.nan_policy == "skip_batch":
            record["skipped_batches"] = skipped
        if val is not None:
            record.update(
                _validate(
                    model,
                    val,
                    run.loss_fn,
                    autocast,
                    check_labels=run.default_loss if epoch == start_epoch else None,
                )
            )
            if not math.isfinite(record["val_loss"]):
                if bar is not None:
                    bar.close()
                raise NonFiniteLossError(
                    f"the validation loss after epoch {epoch + 1} is {record['val_loss']}: "
                    "training stopped. val_data holds NaN or infinite inputs, or the model's "
                    "outputs overflow.",
                    epoch + 1,
                )
        record["lr"] = float(opt.param_groups[0]["lr"])
        record["seconds"] = time.perf_counter() - started
        record["samples_per_second"] = total_seen / train_seconds if train_seconds > 0 else 0.0
        if bar is not None:
            shown = {"loss": f"{record['train_loss']:.4f}"}
            if run.monitor and run.monitor != "train_loss":
                shown[run.monitor] = f"{record[run.monitor]:.4f}"
            bar.set_postfix(shown)
            bar.close()

        improved = False
        if run.monitor is not None:
            value = float(record[run.monitor])
            improved = best_value is None or (
                value < best_value if mode == "min" else value > best_value
            )
            if improved:
                best_value = value
                history.best_epoch = epoch + 1
                stale = 0
                if run.restore_best and val is not None:
                    best_state = copy.deepcopy(unwrap(model).state_dict())
            else:
                stale += 1
        record["best"] = improved
        history.records.append(record)
        _log.info("epoch %d: %s", epoch + 1, _format_record(record))
        stop = run.patience is not None and stale >= run.patience
        if run.callback is not None and context.is_main:
            done = 1.0 if stop else (epoch + 1) / run.epochs
            run.callback(done, f"epoch {epoch + 1}/{run.epochs}: {_format_record(record)}")
        if context.broadcast_flag(stop, device):
            history.stopped_early = True
            _log.info(
                "early stopping after epoch %d (best epoch %s)", epoch + 1, history.best_epoch
            )
            break
        due = run.checkpoint_every is not None and (epoch + 1) % run.checkpoint_every == 0
        if writer and due and epoch + 1 < run.epochs:
            state = TrainingState(
                epoch=epoch + 1,
                settings=settings,
                base_seed=base_seed,
                history=history.to_dict(),
                best_value=best_value,
                stale=stale,
                model=unwrap(model).state_dict(),
                best=best_state,
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict() if sched is not None else None,
                scaler=scaler.state_dict() if scaler is not None else None,
                rng=capture_rng(device, train.generators()),
            )
            published = best_state if best_state is not None else unwrap(model).state_dict()
            _write(run, model, published, history, settings, device, context, state=state)

    if best_state is not None:
        unwrap(model).load_state_dict(best_state)
    model.eval()

    if writer:
        _write(run, model, unwrap(model).state_dict(), history, settings, device, context)
    return history


def _finished(model: nn.Module, run: _Run, finished: _Finished, writer: bool) -> History:
    """Resuming a run that had finished: its final weights and history."""
    model.to(run.device)
    _load_into(model, finished.weights, finished.source)
    model.eval()
    if writer and run.checkpoint is not None and run.checkpoint != run.resume:
        write_unit(
            run.checkpoint,
            unwrap(model).state_dict(),
            {k: v for k, v in finished.metadata.items() if k != "checkpoint_id"},
            history=finished.history.to_dict(),
            drop_state=True,
        )
    return finished.history


@torch.inference_mode()
def _validate(
    model: nn.Module,
    batches: Batches,
    loss_fn: LossFunction,
    autocast: Callable[[], Any],
    check_labels: bool | None = None,
) -> dict[str, float]:
    """Loss and accuracy on ``batches``; ``check_labels`` not None: check the first batch
    (its inputs, and its labels too when True)."""
    loss_sum, correct, seen = 0.0, 0, 0
    with eval_mode(model):  # every submodule's mode restored, not the top one set on all
        for index, (x, y) in enumerate(batches.epoch(0)):
            with autocast():
                outputs = model(x)
                if index == 0 and check_labels is not None:
                    check_first_batch(x, y, outputs, "val_data", check_labels)
                batch_loss = loss_fn(outputs, y)
            outputs = outputs.float()
            if outputs.ndim == 2 and outputs.shape[1] > 1:
                predicted = outputs.argmax(dim=1)
            else:
                predicted = (outputs.reshape(-1) > 0).long()
            n = int(y.shape[0])
            loss_sum += float(batch_loss) * n
            if y.is_floating_point() and y.shape == outputs.shape and y.ndim == 2:
                y = y.argmax(dim=1)  # class probabilities: the most likely class
            correct += int((predicted == y.reshape(-1).long()).sum())
            seen += n
    if seen == 0:
        raise InputError("val_data", "yielded no batches; expected at least one.")
    return {"val_loss": loss_sum / seen, "val_accuracy": correct / seen}


def _format_record(record: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
    )


def _write(
    run: _Run,
    model: nn.Module,
    weights: Mapping[str, torch.Tensor],
    history: History,
    settings: Mapping[str, Any],
    device: torch.device,
    context: DistributedContext,
    state: TrainingState | None = None,
) -> None:
    """Write the checkpoint unit: the published weights, metadata and history, plus the
    training state while the run is unfinished (removed once it is complete)."""
    path = run.checkpoint
    if path is None:
        raise RuntimeError("_write called for a run without a checkpoint path.")
    record: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
    record.update(dict(run.metadata or {}))
    record.setdefault("library_versions", library_versions())
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
    training = {
        **settings,
        "epochs_run": len(history.records),
        "complete": state is None,
        "checkpoint_every": run.checkpoint_every,
        "amp": str(run.amp_dtype).replace("torch.", "") if run.amp_dtype else "off",
        "device": describe_device(device),
    }
    record["training"] = {**training, **dict(record.get("training") or {})}
    record["best_epoch"] = history.best_epoch
    record["history"] = history_path(path).name
    write_unit(
        path,
        weights,
        record,
        history=history.to_dict(),
        state=state.encode() if state is not None else None,
        drop_state=state is None,
    )
