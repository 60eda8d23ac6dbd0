"""``xai.explain_dataset``: explain a whole dataset, streamed to disk, resumable, and split
across the processes of a ``torch.distributed`` group; :class:`DatasetExplanation` reads a run
back batch by batch and summarises it.

How a run works (the file format is in :mod:`xai.evaluation._shards`):

- The data is cut into global batches of ``batch_size`` samples by sample index: batch ``b``
  holds samples ``[b * batch_size, (b + 1) * batch_size)``. Each batch becomes one shard, an
  :class:`xai.Explanation` file written atomically, so memory holds one batch at a time and a
  shard on disk is always complete.
- ``resume=True`` skips the batches whose shard is on disk (checked against the run's
  fingerprint); a run killed at any point continues where it stopped.
- Under ``torchrun`` (or any launcher that initialises ``torch.distributed``) every process
  takes every ``world_size``-th of the batches still to do and writes their shards; rank 0
  writes the index after a barrier. Which process explains a batch changes nothing in it.
- Per-sample forward arguments (``model_kwargs``: an attention mask) are read with the
  samples, a field of each sample or a tensor aligned with the data, and every batch (and
  every sample of the seeded per-sample path) is explained and scored with its own rows.
- Stochastic methods explain each sample with its own seed, derived from the run's seed and
  the sample's index (:func:`sample_seed`): the numbers do not depend on the batch size, the
  number of processes or where a run was resumed.
"""

from __future__ import annotations

import hashlib
import heapq
import inspect
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    TensorDataset,
    default_collate,
)

from xai._device import model_device, move_to, pick_device
from xai._files import dumps_json, to_json_value
from xai._model import as_output_matrix, call_model, select_output
from xai._progress import Progress, Tracker, check_progress
from xai._provenance import library_versions
from xai._state import eval_mode
from xai._validation import check_bool, check_seed
from xai.errors import InputError, InputTypeError
from xai.evaluation import _shards
from xai.explainers.registry import explainer_class, get_explainer
from xai.explanation import Explanation, check_tokens
from xai.metrics.classification import as_probabilities
from xai.training.distributed import DistributedContext, setup

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DatasetExplanation", "DatasetSummary", "explain_dataset", "sample_seed"]

_log = logging.getLogger(__name__)

#: Targets by name: the data's labels, or the model's predicted class (as ``None``).
TARGETS = ("label", "predicted")
#: Samples per batch when neither ``batch_size`` nor a DataLoader gives one.
DEFAULT_BATCH_SIZE = 64
#: Seconds between rewrites of the index's progress while a run works (the shards on disk are
#: the truth; the index is what readers see first).
_INDEX_EVERY_SECONDS = 2.0


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` in a run seeded ``seed``: a number in ``[0, 2**32)`` from
    numpy's :class:`~numpy.random.SeedSequence` of ``(seed, index)``, so nearby indices get
    unrelated streams and every process computes the same seed for the same sample."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint32)
    return int(state[0])


# ------------------------------------------------------------------------------- data
#: A batch as the sources give it: inputs, labels (or None), forward arguments by name.
_Batch = tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]


@dataclass
class _Source:
    """The data as ``n`` samples read by index, a batch of index ranges at a time."""

    n: int
    first: torch.Tensor  # sample 0's input (its shape and dtype describe every sample)
    last: torch.Tensor
    has_labels: bool
    batches: Callable[[list[tuple[int, int]]], Iterator[_Batch]]
    # the forward arguments of sample 0 and of the last sample (for the run's fingerprint)
    edges: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


@dataclass
class _ForwardSpec:
    """``model_kwargs`` of :func:`explain_dataset`: which field of each sample is which
    forward argument (``fields``), and which come as tensors aligned with the data
    (``tensors``), in the order given (``names``)."""

    names: list[str] = field(default_factory=list)
    fields: dict[str, int] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.names)


_SPEC_HELP = (
    "model_kwargs={'attention_mask': 3} (field 3 of each sample tuple) or "
    "{'attention_mask': mask} (a tensor with one row per sample of the data)"
)


def _check_forward_spec(model_kwargs: Any) -> _ForwardSpec:
    """``model_kwargs`` of :func:`explain_dataset` checked: a dict from argument name to the
    index (>= 1) of a field of each sample, or to a tensor with one row per sample (its row
    count is checked against the data later, in :func:`_source`)."""
    spec = _ForwardSpec()
    if model_kwargs is None:
        return spec
    if not isinstance(model_kwargs, Mapping):
        raise InputTypeError(
            "model_kwargs",
            f"expected None or a dict of forward arguments by name, e.g. {_SPEC_HELP}; got "
            f"{type(model_kwargs).__name__}.",
        )
    for name, value in model_kwargs.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InputTypeError(
                "model_kwargs",
                f"expected the forward arguments' names (str, Python identifiers) as keys, e.g. "
                f"{_SPEC_HELP}; got the key "
                f"{name!r} ({type(name).__name__}).",
            )
        if isinstance(value, torch.Tensor):
            if value.ndim == 0:
                raise InputError(
                    "model_kwargs",
                    f"{name!r}: expected a tensor with one row per sample of the data, got a "
                    "0-d tensor. A constant forward argument belongs in the model (a wrapper "
                    "module or functools.partial of its forward).",
                )
            spec.tensors[name] = value
        elif isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            if value < 1:
                raise InputError(
                    "model_kwargs",
                    f"{name!r}: expected the index (>= 1) of a field of each sample, got "
                    f"{int(value)}"
                    + (": field 0 is the input itself." if value == 0 else ".")
                    + f" E.g. {_SPEC_HELP}.",
                )
            spec.fields[name] = int(value)
        else:
            raise InputTypeError(
                "model_kwargs",
                f"{name!r}: expected the index (int) of a field of each sample or a tensor "
                f"with one row per sample, e.g. {_SPEC_HELP}; got {type(value).__name__} "
                f"{value!r:.40}.",
            )
        spec.names.append(name)
    return spec


def _split(batch: Any, fields: Mapping[str, int] | None = None, collated: bool = False) -> _Batch:
    """``(inputs, labels or None, forward arguments)`` of a collated batch or one sample: a
    tensor, or a tuple ``(x, y, ...)`` whose first element is the input and second the label
    (unless ``fields`` names it as a forward argument); ``fields`` says which elements are
    forward arguments."""
    fields = fields or {}
    if isinstance(batch, torch.Tensor):
        if fields:
            raise InputError(
                "model_kwargs",
                f"names sample fields ({_listed_fields(fields)}), but the data's samples are "
                "plain tensors, not tuples (x, y, ...): pass the forward arguments as tensors "
                "with one row per sample ({'attention_mask': mask}), or samples as tuples.",
            )
        return batch, None, {}
    if isinstance(batch, list | tuple) and batch and isinstance(batch[0], torch.Tensor):
        label = batch[1] if len(batch) > 1 and 1 not in fields.values() else None
        if label is not None and not isinstance(label, torch.Tensor):
            label = torch.as_tensor(label)
        kwargs: dict[str, torch.Tensor] = {}
        for name, index in fields.items():
            if index >= len(batch):
                raise InputError(
                    "model_kwargs",
                    f"{name!r}: field {index} of each sample, but the data's samples have "
                    f"{len(batch)} field(s) (0 the input, 1 the label, ...): expected an index "
                    f"below {len(batch)}, or a tensor with one row per sample "
                    "({'attention_mask': mask}).",
                )
            value = batch[index]
            if not isinstance(value, torch.Tensor):
                raise InputTypeError(
                    "model_kwargs",
                    f"{name!r}: field {index} of the samples is a {type(value).__name__}, not a "
                    "tensor; forward arguments read from the samples must be tensors.",
                )
            if collated and (value.ndim == 0 or value.shape[0] != batch[0].shape[0]):
                raise InputError(
                    "model_kwargs",
                    f"{name!r}: field {index} of a batch has shape {tuple(value.shape)}, not one "
                    f"row per sample ({batch[0].shape[0]}); check the collate function.",
                )
            kwargs[name] = value
        return batch[0], label, kwargs
    raise InputTypeError(
        "data",
        "expected samples that are a tensor or a tuple (x, y, ...) whose first element is the "
        f"input tensor, got {type(batch).__name__}"
        + (
            f" of {[type(v).__name__ for v in batch][:4]}"
            if isinstance(batch, list | tuple)
            else ""
        )
        + ".",
    )


def _listed_fields(fields: Mapping[str, int]) -> str:
    return ", ".join(f"{name!r}: {index}" for name, index in fields.items())


def _tensor_source(tensors: Sequence[torch.Tensor], fields: Mapping[str, int]) -> _Source:
    """Tensors ``(X, y, ...)`` of one row per sample: ``X`` the inputs, ``y`` the labels
    (unless ``fields`` names it), ``fields`` the forward arguments."""
    x = tensors[0]
    n = len(x)
    if n == 0:
        raise InputError("data", "expected at least one sample, got an empty dataset.")
    _split(tuple(t[:1] for t in tensors), fields)  # field indices checked
    y = tensors[1] if len(tensors) > 1 and 1 not in fields.values() else None

    def batches(ranges: list[tuple[int, int]]) -> Iterator[_Batch]:
        for start, stop in ranges:
            yield (
                x[start:stop],
                None if y is None else y[start:stop],
                {name: tensors[i][start:stop] for name, i in fields.items()},
            )

    edges = {name: (tensors[i][0], tensors[i][n - 1]) for name, i in fields.items()}
    return _Source(n, x[0], x[n - 1], y is not None, batches, edges)


def _dataset_source(
    dataset: Dataset[Any], loader: DataLoader[Any] | None, fields: Mapping[str, int]
) -> _Source:
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise InputError("data", "expected at least one sample, got an empty dataset.")
    first, label, first_kwargs = _split(dataset[0], fields)
    last, _, last_kwargs = _split(dataset[n - 1], fields)
    options: dict[str, Any] = {}
    if loader is not None:  # the user's way of reading the data, with our batches
        options = {
            "collate_fn": loader.collate_fn,
            "num_workers": loader.num_workers,
            "pin_memory": loader.pin_memory,
        }

    def batches(ranges: list[tuple[int, int]]) -> Iterator[_Batch]:
        if not ranges:
            return
        reader = DataLoader(
            dataset, batch_sampler=[list(range(a, b)) for a, b in ranges], **options
        )
        for batch in reader:
            yield _split(batch, fields, collated=True)

    edges = {name: (first_kwargs[name], last_kwargs[name]) for name in fields}
    return _Source(n, first, last, label is not None, batches, edges)


def _with_tensors(source: _Source, spec: _ForwardSpec) -> _Source:
    """``source`` whose batches also carry the rows of ``spec``'s tensors (one row per sample
    of the data), the forward arguments in the order ``spec`` names them."""
    for name, value in spec.tensors.items():
        if value.shape[0] != source.n:
            raise InputError(
                "model_kwargs",
                f"{name!r}: expected a tensor with one row per sample of the data ({source.n}), "
                f"got shape {tuple(value.shape)}. Constant forward arguments are not taken "
                "(a tensor's first dimension decides what is per sample): bind them in the "
                "model.",
            )
    inner = source.batches

    def batches(ranges: list[tuple[int, int]]) -> Iterator[_Batch]:
        for (start, stop), (x, labels, kwargs) in zip(ranges, inner(ranges), strict=True):
            merged = {**kwargs, **{n: v[start:stop] for n, v in spec.tensors.items()}}
            yield x, labels, {name: merged[name] for name in spec.names}  # the spec's order

    edges = {
        **source.edges,
        **{name: (value[0], value[source.n - 1]) for name, value in spec.tensors.items()},
    }
    return _Source(source.n, source.first, source.last, source.has_labels, batches, edges)


def _source(
    data: Any, batch_size: int | None, spec: _ForwardSpec | None = None
) -> tuple[_Source, int]:
    """The data as a :class:`_Source` (with the forward arguments ``spec`` names), and the
    batch size (``batch_size``, else the DataLoader's, else :data:`DEFAULT_BATCH_SIZE`)."""
    spec = spec or _ForwardSpec()
    fields = spec.fields
    size = batch_size
    if isinstance(data, torch.Tensor):
        data = (data,)
    if isinstance(data, tuple | list) and not isinstance(data, Dataset):
        if not data or not all(isinstance(t, torch.Tensor) for t in data):
            raise InputTypeError(
                "data",
                "expected a Dataset, a DataLoader, or tensors (X, y, ...), got a "
                f"{type(data).__name__} of {[type(t).__name__ for t in data][:4]}.",
            )
        if data[0].ndim == 0 or data[0].shape[0] == 0:
            raise InputError("data", "expected at least one sample, got an empty X.")
        rows = [t.shape[0] if t.ndim else 0 for t in data]
        if len(set(rows)) > 1:
            raise InputError(
                "data",
                "X, y (and any further tensors) must have the same number of rows (one per "
                f"sample), got {rows}.",
            )
        source = _tensor_source(list(data), fields)
    elif isinstance(data, DataLoader):
        if isinstance(data.dataset, IterableDataset):
            raise _iterable_error()
        if not isinstance(data.sampler, SequentialSampler):
            raise InputError(
                "data",
                f"expected a DataLoader that reads its dataset in order, got one with a "
                f"{type(data.sampler).__name__}. Results are stored by sample index, so that a "
                "run can resume and be split across processes: pass DataLoader(dataset, "
                "shuffle=False), or torch.utils.data.Subset(dataset, indices) for a part.",
            )
        size = batch_size or data.batch_size
        dataset = data.dataset
        if isinstance(dataset, TensorDataset) and data.collate_fn is default_collate:
            source = _tensor_source(dataset.tensors, fields)
        else:
            source = _dataset_source(dataset, data, fields)
    elif isinstance(data, IterableDataset):
        raise _iterable_error()
    elif isinstance(data, TensorDataset):
        tensors = data.tensors
        if not tensors or tensors[0].shape[0] == 0:
            raise InputError("data", "expected at least one sample, got an empty dataset.")
        source = _tensor_source(tensors, fields)
    elif isinstance(data, Dataset) and hasattr(data, "__len__"):
        source = _dataset_source(data, None, fields)
    else:
        raise InputTypeError(
            "data",
            "expected a torch Dataset (with __len__), a DataLoader, or tensors (X, y, ...), "
            f"got {type(data).__name__}.",
        )
    if spec:
        source = _with_tensors(source, spec)
    return source, int(size or DEFAULT_BATCH_SIZE)


def _iterable_error() -> InputError:
    return InputTypeError(
        "data",
        "expected a map-style Dataset (samples read by index), got an IterableDataset: a run "
        "stores results by sample index to resume and to split the data across processes. "
        "Wrap the data in a Dataset with __getitem__ and __len__.",
    )


# ------------------------------------------------------------------------- fingerprints
def _digest(tensor: torch.Tensor) -> str:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return hashlib.sha256(flat.view(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def _model_fingerprint(model: nn.Module) -> str:
    """A fingerprint of the model's weights: names, shapes and rounded sums (cheap for large
    models; a changed model changes it)."""
    parts = [type(model).__qualname__]
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            value = float(tensor.double().sum()) if tensor.is_floating_point() else 0.0
            parts.append(f"{name}:{tuple(tensor.shape)}:{value:.8g}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _option_record(value: Any) -> Any:
    """How an option is recorded in the index: tensors by shape, dtype and digest (not their
    values), everything else as JSON."""
    if isinstance(value, torch.Tensor):
        return {"tensor": list(value.shape), "dtype": str(value.dtype), "sha256": _digest(value)}
    return to_json_value(value)


# ------------------------------------------------------------------------- one batch
def _scores(
    model: nn.Module, x: torch.Tensor, output: Any, kwargs: Mapping[str, Any] | None = None
) -> torch.Tensor:
    """The model's scores ``(N, K)`` on ``x`` with the forward arguments ``kwargs`` (eval
    mode, no autograd)."""
    extra = dict(kwargs or {})
    with eval_mode(model), torch.inference_mode():
        raw = call_model(model, x, name="data", run=lambda inputs: model(inputs, **extra))
        return as_output_matrix(select_output(raw, output), int(x.shape[0])).float().clone()


def _concatenate(parts: list[Explanation]) -> Explanation:
    """One explanation of the samples of several single-sample explanations (same method):
    per-sample tensors concatenated (the samples' ``model_kwargs`` in the params too), counts
    and times added, the tokens joined, the rest from the first."""
    first = parts[0]
    extras: dict[str, Any] = {}
    for key, value in first.extras.items():
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == 1:
            extras[key] = torch.cat([part.extras[key] for part in parts])
        elif key in ("model_evaluations", "seconds"):
            extras[key] = sum(part.extras[key] for part in parts)
        else:
            extras[key] = value
    params = dict(first.params)
    forward = params.get("model_kwargs")
    if isinstance(forward, Mapping):  # not after a load: then a description (a str)
        params["model_kwargs"] = {
            key: torch.cat([part.params["model_kwargs"][key] for part in parts])
            if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == 1
            else value
            for key, value in forward.items()
        }
    tokens = None
    if all(part.tokens is not None for part in parts):
        tokens = [list(row) for part in parts for row in part.tokens or []]
    return Explanation(
        attributions=torch.cat([part.attributions for part in parts]),
        inputs=torch.cat([part.inputs for part in parts]),
        target=torch.cat([part.target for part in parts]),
        method=first.method,
        params=params,
        extras=extras,
        tokens=tokens,
    )


@dataclass
class _Run:
    """What explaining one batch needs."""

    model: nn.Module
    method: str
    options: dict[str, Any]
    seed: int | None
    target: str | int | None
    device: torch.device
    fingerprint: str
    feature_names: list[str] | None
    rank: int = 0
    explainer: Any = None
    tokens: Callable[[torch.Tensor], Any] | None = None

    def _explainer(self, kwargs: dict[str, torch.Tensor], seed: int | None = None) -> Any:
        """The method's explainer for a batch (or one sample, with ``seed``) whose forward
        arguments are ``kwargs``; without either, one explainer serves every batch."""
        extra: dict[str, Any] = {}
        if kwargs:
            extra["model_kwargs"] = kwargs
        if seed is not None:
            extra["seed"] = seed
        if extra:
            return get_explainer(self.method, self.model, **self.options, **extra)
        if self.explainer is None:
            self.explainer = get_explainer(self.method, self.model, **self.options)
        return self.explainer

    def explain(
        self,
        batch: int,
        start: int,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        kwargs: dict[str, torch.Tensor] | None = None,
    ) -> Explanation:
        tokens = None
        if self.tokens is not None:  # checked here: the per-sample path slices them
            ids = x.detach().cpu()
            tokens = check_tokens(self.tokens(ids), ids)
        x = move_to(x, self.device)
        kwargs = {name: move_to(value, self.device) for name, value in (kwargs or {}).items()}
        n = int(x.shape[0])
        outputs = _scores(self.model, x, self.options.get("output"), kwargs)
        probabilities, _ = as_probabilities(outputs.cpu(), "auto")
        confidence, predictions = probabilities.max(dim=1)
        if self.target == "label":
            if labels is None:
                raise InputError("target", f"'label': batch {batch} has no labels.")
            target: Any = labels.reshape(-1).long().to(self.device)
        else:
            target = self.target if isinstance(self.target, int) else None
        indices = torch.arange(start, start + n, dtype=torch.long)
        if self.seed is None:
            explanation = self._explainer(kwargs).explain(x, target, tokens=tokens)
        else:
            seeds = [sample_seed(self.seed, int(i)) for i in indices]
            explanation = _concatenate(
                [
                    self._explainer(
                        {name: value[i : i + 1] for name, value in kwargs.items()}, s
                    ).explain(
                        x[i : i + 1],
                        target[i : i + 1] if isinstance(target, torch.Tensor) else target,
                        tokens=None if tokens is None else tokens[i : i + 1],
                    )
                    for i, s in enumerate(seeds)
                ]
            )
            # the run's seed, not the last sample's: the per-sample seeds are in the extras
            explanation.params["seed"] = self.seed
            explanation.extras["seeds"] = torch.tensor(seeds, dtype=torch.long)
        explanation.extras.update(
            {
                "indices": indices,
                "predictions": predictions.long(),
                "confidence": confidence.float(),
                "outputs": outputs.cpu(),
                _shards.RUN_KEY: {
                    "run": self.fingerprint,
                    "batch": batch,
                    "rank": self.rank,
                    "start": start,
                    "stop": start + n,
                },
            }
        )
        if labels is not None:
            explanation.extras["labels"] = labels.reshape(-1).long().cpu()
        if self.feature_names:
            explanation.extras["feature_names"] = list(self.feature_names)
        return explanation


# ------------------------------------------------------------------------- processes
def _agree(context: DistributedContext, ok: bool, device: torch.device) -> bool:
    """Whether every process is ``ok`` (a collective: it is also a barrier)."""
    if not context.enabled:
        return ok
    failed = context.all_reduce_sum([0.0 if ok else 1.0], device)[0]
    return failed == 0.0


def _elsewhere(what: str) -> RuntimeError:
    return RuntimeError(
        f"explain_dataset: another process failed while {what}; see its error (the run "
        "folder is left resumable)."
    )


def _collective(
    context: DistributedContext, device: torch.device, what: str, work: Callable[[], Any]
) -> Any:
    """Run ``work`` here, then wait for every process; raise when any of them failed."""
    try:
        result = work()
    except BaseException:
        _agree(context, False, device)
        raise
    if not _agree(context, True, device):
        raise _elsewhere(what)
    return result


# ------------------------------------------------------------------------- the folder
def _prepare(
    out: Path,
    config: dict[str, Any],
    fingerprint: str,
    resume: bool,
    overwrite: bool,
    world_size: int,
) -> None:
    """Make ``out`` ready for the run (rank 0): create it, refuse a folder xai did not write,
    compare the settings of a run already there, clean up what a killed run left, write the
    index."""
    if out.exists() and not out.is_dir():
        raise InputError("out", f"{str(out)!r} is a file; expected a folder for the run.")
    out.mkdir(parents=True, exist_ok=True)
    foreign = _shards.foreign_entries(out)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise InputError(
            "out",
            f"{str(out)!r} holds files xai did not write ({shown}); a run never writes into "
            "such a folder, even with overwrite=True. Choose a new or empty folder.",
        )
    index = _shards.read_index(out)
    if index is None and any(True for _ in _shards.shard_files(out)):
        raise InputError(
            "out",
            f"{str(out)!r} holds shards but no index.json; it is not a run xai can continue. "
            "Remove the folder or choose another.",
        )
    if index is not None:
        previous = index["run"]
        if previous != config and not overwrite:
            changed = sorted(
                k for k in set(previous) | set(config) if previous.get(k) != config.get(k)
            )
            raise InputError(
                "out",
                f"{str(out)!r} holds a run with other settings ({', '.join(changed)} differ: "
                + "; ".join(
                    f"{k} {_short(previous.get(k))} there, {_short(config.get(k))} now"
                    for k in changed[:3]
                )
                + "). Pass overwrite=True to replace it, or choose another folder.",
            )
        if previous == config and not resume and not overwrite:
            raise InputError(
                "out",
                f"{str(out)!r} holds this run already; pass resume=True to continue it (done "
                "batches are kept) or overwrite=True to start again.",
            )
        if overwrite and (previous != config or not resume):
            _shards.clear(out)
            index = None
    _shards.remove_temporaries(out)
    now = _now()
    _shards.write_index(
        out,
        {
            "format": _shards.FORMAT,
            "format_version": _shards.FORMAT_VERSION,
            "fingerprint": fingerprint,
            "run": config,
            "params": (index or {}).get("params"),
            "versions": library_versions(),
            "created": (index or {}).get("created", now),
            "updated": now,
            "world_size": world_size,
            "shards": (index or {}).get("shards", []),
            "progress": (index or {}).get("progress", {}),
        },
    )


def _short(value: Any) -> str:
    text = dumps_json(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _done_batches(
    out: Path, fingerprint: str, n_batches: int, batch_size: int | None = None
) -> dict[int, dict[str, Any]]:
    """The batches whose shard is on disk and belongs to this run. With ``batch_size``, the
    shards' names are trusted (for the index's progress while a run works, where reading every
    header again would cost more the longer the run); else every header is checked."""
    done = {}
    for batch, path in _shards.shard_files(out):
        if batch_size is not None:
            if 0 <= batch < n_batches:
                done[batch] = {"start": batch * batch_size, "stop": (batch + 1) * batch_size}
            continue
        record = _shards.shard_header(path)
        if record is None or record.get("run") != fingerprint or not 0 <= batch < n_batches:
            # not this run's (or damaged): computed again and replaced
            _log.warning("explain_dataset: %s is not a complete shard of this run", path)
            continue
        done[batch] = record
    return done


def _update_index(out: Path, n_samples: int, n_batches: int, final: bool) -> dict[str, Any]:
    """Rewrite the index's shard list and progress from the shards on disk (rank 0); only the
    final rewrite reads every shard's header."""
    index = _shards.read_index(out) or {}
    fingerprint = index.get("fingerprint", "")
    size = None if final else int(index["run"]["batch_size"])
    done = _done_batches(out, fingerprint, n_batches, size)
    shards = [
        {
            "file": _shards.shard_name(b),
            "batch": b,
            "start": r["start"],
            "stop": min(r["stop"], n_samples),
        }
        for b, r in sorted(done.items())
    ]
    samples = sum(s["stop"] - s["start"] for s in shards)
    if final and shards and index.get("params") is None:
        index["params"] = _shard_params(out / shards[0]["file"])
    index.update(
        {
            "updated": _now(),
            "shards": shards,
            "progress": {
                "done_batches": len(shards),
                "n_batches": n_batches,
                "done_samples": samples,
                "n_samples": n_samples,
                "complete": len(shards) == n_batches,
            },
        }
    )
    _shards.write_index(out, index)
    return index


def _shard_params(path: Path) -> Any:
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = json.loads((handle.metadata() or {}).get("xai", "{}"))
    return header.get("params")


# ------------------------------------------------------------------------- the entry point
def _check_target(target: Any) -> str | int | None:
    if target is None or target == "predicted":
        return None
    if isinstance(target, str):
        if target not in TARGETS:
            raise InputError(
                "target", f"expected 'label', 'predicted', an int or None, got {target!r}."
            )
        return target
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or target < 0:
        raise InputTypeError(
            "target",
            "expected 'label', 'predicted', None (the predicted class) or a class number >= 0, "
            f"got {target!r}. For one class per sample, use target='label' with the classes "
            "as the data's labels.",
        )
    return int(target)


def _forward_record(
    spec: _ForwardSpec, name: str, edges: tuple[torch.Tensor, torch.Tensor]
) -> dict[str, Any]:
    """How forward argument ``name`` is recorded in the run's settings: its field index and a
    digest of its first and last samples, or a tensor's shape, dtype and digest."""
    if name in spec.tensors:
        record: dict[str, Any] = _option_record(spec.tensors[name])
        return record
    return {"field": spec.fields[name], "data": f"{_digest(edges[0])}-{_digest(edges[1])}"}


def _warn_unmasked(model: nn.Module, spec: _ForwardSpec) -> None:
    """Warn when token ids go to a model whose forward takes an ``attention_mask`` that the
    run does not pass: every position, padding included, would be read and explained as a
    token (perturbation methods replace [PAD] with [MASK] and attribute the padding)."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # a forward without a signature: nothing to tell
        return
    if "attention_mask" in parameters and "attention_mask" not in spec.names:
        message = (
            "explain_dataset: the data are token ids and the model's forward takes an "
            "attention_mask, but model_kwargs passes none: every position, padding included, "
            "is read and explained as a token. Pass model_kwargs={'attention_mask': FIELD} "
            "(the index of the mask in each sample tuple) or {'attention_mask': mask} (one row "
            "per sample)."
        )
        warnings.warn(message, stacklevel=3)


def _run_device(device: Any, model: nn.Module) -> torch.device:
    if device is None:
        return model_device(model)
    if device == "auto" and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    return pick_device(device)


def explain_dataset(
    model: nn.Module,
    data: Any,
    method: str = "integrated_gradients",
    *,
    out: str | os.PathLike[str],
    target: str | int | None = None,
    batch_size: int | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool | Progress | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
    feature_names: list[str] | None = None,
    model_kwargs: Mapping[str, int | torch.Tensor] | None = None,
    tokens: Callable[[torch.Tensor], Sequence[Sequence[str]]] | None = None,
    **options: Any,
) -> DatasetExplanation:
    """Explain every sample of ``data`` with ``method``, streaming the results to ``out``.

    Memory holds one batch at a time whatever the size of the data; each batch is written as
    one shard (an :class:`xai.Explanation` file) as soon as it is explained. Under
    ``torchrun --nproc_per_node K`` (or any launcher that initialises ``torch.distributed``)
    each process explains every K-th batch still to do on its own device and writes its
    shards; rank 0 writes the index. The results equal one process's.

    Args:
        model: any ``torch.nn.Module``.
        data: a map-style ``Dataset``, a ``DataLoader`` that reads in order (its collate
            function, workers and batch size are used), or tensors ``(X, y, ...)`` (or
            ``X``) with one row per sample. Samples may be tuples ``(x, y, ...)``: the first
            element is the input, the second the label (unless ``model_kwargs`` names it).
        method: one of :func:`xai.available_explainers`.
        out: the run's folder (created when missing). A folder holding files xai did not
            write is refused.
        target: ``"label"`` (the data's labels), ``"predicted"`` or ``None`` (the model's
            predicted class), or a class number for every sample.
        batch_size: samples per batch and per shard (default: the DataLoader's, else 64).
            Part of the run's settings: resuming needs the same value.
        resume: continue a run of the same settings in ``out``: batches whose shard is on
            disk are not explained again.
        overwrite: replace a run with other settings in ``out`` (or, with ``resume=False``,
            the same run) instead of raising.
        progress: ``None`` (a bar on a terminal, else log lines), ``True`` (a bar),
            ``False`` (nothing) or a callable ``(fraction_done, message)``, as everywhere
            (:mod:`xai._progress`); shown by rank 0, for its share of the batches.
        seed: the run's seed, for stochastic methods (default 0). Sample ``i`` is explained
            with :func:`sample_seed(seed, i) <sample_seed>`.
        device: where to run: ``None`` (the model's device), ``"auto"`` (under torchrun with
            GPUs: ``cuda:LOCAL_RANK``), ``"cpu"``, ``"cuda:N"``. The model is moved there for
            the run and back afterwards.
        feature_names: names of tabular features, stored for figures and summaries.
        model_kwargs: the model's per-sample forward arguments, by name: ``{"attention_mask":
            3}`` reads field 3 of each sample tuple (of the Dataset, the DataLoader's or the
            tensors ``(X, y, ...)``; field 0 is the input, so indices start at 1; a field
            named here is not read as the label), ``{"attention_mask": mask}`` takes row
            ``i`` of a tensor with one row per sample of the data for sample ``i``. Every
            batch is explained, and its predictions and confidence computed, with its rows of
            them (as ``xai.explain(..., model_kwargs=...)``; the seeded per-sample path with
            each sample's row). Constant arguments are not taken: bind them in the model.
            Part of the run's settings; shards record only their names and shapes.
        tokens: for token ids: a callable ``ids (n, L) -> one list of L strings per row``
            (ids on the CPU), called per batch; the shards keep the strings
            (:attr:`xai.Explanation.tokens`). Not part of the run's settings.
        **options: the method's options (``n_steps``, ``layer``, ``nsamples`` ...), as for
            :func:`xai.explain`.

    Returns:
        The :class:`DatasetExplanation` of ``out``.

    Raises:
        InputError: bad arguments (named); ``out`` holds another run's settings (and not
            ``overwrite``), the same run with ``resume=False``, or files xai did not write.
        RuntimeError: another process of the group failed.

    Example::

        run = xai.explain_dataset(model, (x_test, y_test), "integrated_gradients",
                                  out="runs/ig", target="label", n_steps=32)
        run.summary().feature_importance
        for expl in run:  # one Explanation per stored batch, loaded when reached
            ...
    """
    if not isinstance(model, nn.Module):
        raise InputTypeError("model", f"expected a torch.nn.Module, got {type(model).__name__}.")
    cls = explainer_class(method)
    if not isinstance(out, str | os.PathLike):
        raise InputTypeError("out", f"expected a folder path, got {type(out).__name__}.")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise InputError("batch_size", f"expected a positive int or None, got {batch_size!r}.")
    resume = check_bool("resume", resume)
    overwrite = check_bool("overwrite", overwrite)
    show = check_progress(progress)
    target_spec = _check_target(target)
    seed = check_seed(seed)
    if cls.stochastic:
        seed = 0 if seed is None else seed
    elif seed is not None:
        raise InputError(
            "seed", f"method {method!r} is deterministic and takes no seed; leave seed=None."
        )
    spec = _check_forward_spec(model_kwargs)
    if tokens is not None and not callable(tokens):
        raise InputTypeError(
            "tokens",
            "expected None or a callable ids (n, L) -> one list of L strings per row, e.g. "
            "lambda ids: [[vocabulary[i] for i in row] for row in ids.tolist()]; got "
            f"{type(tokens).__name__}.",
        )
    get_explainer(method, model, **options)  # option names checked before any work
    source, size = _source(data, batch_size, spec)
    token_ids = not source.first.is_floating_point() and source.first.ndim == 1
    if tokens is not None and not token_ids:
        raise InputError(
            "tokens",
            f"token strings go with token ids (integer samples (L,)); the data's samples have "
            f"shape {tuple(source.first.shape)} and dtype {source.first.dtype}. Leave tokens=None.",
        )
    if token_ids:
        _warn_unmasked(model, spec)
    if not cls.accepts(source.first.unsqueeze(0)):
        raise InputError(
            "method",
            f"{method!r} explains {', '.join(cls.input_kinds())} inputs; the data's samples "
            f"have shape {tuple(source.first.shape)}. Choose a method for this kind of input.",
        )
    if target_spec == "label" and not source.has_labels:
        raise InputError(
            "target",
            "'label' needs labels, but the data's samples have none; pass (X, y)."
            + (
                " Field 1 of the samples is a forward argument here (model_kwargs)."
                if 1 in spec.fields.values()
                else ""
            ),
        )
    out = Path(out)
    run_device = _run_device(device, model)
    original_device = model_device(model)
    n_batches = -(-source.n // size)
    config = {
        "method": method,
        "options": {k: _option_record(v) for k, v in sorted(options.items())},
        "seed": seed,
        "target": "predicted" if target_spec is None else target_spec,
        "batch_size": size,
        "n_samples": source.n,
        "sample_shape": list(source.first.shape),
        "dtype": str(source.first.dtype),
        "data": f"{_digest(source.first)}-{_digest(source.last)}",
        "model": _model_fingerprint(model),
    }
    if spec:  # recorded only when given: runs written before model_kwargs existed resume
        config["model_kwargs"] = {
            name: _forward_record(spec, name, source.edges[name]) for name in spec.names
        }
    fingerprint = hashlib.sha256(dumps_json(config).encode()).hexdigest()[:16]
    moved = run_device != original_device
    if moved:
        model.to(run_device)
    try:
        context = setup(run_device)
        _collective(
            context,
            run_device,
            "preparing the run folder",
            lambda: (
                _prepare(out, config, fingerprint, resume, overwrite, context.world_size)
                if context.is_main
                else None
            ),
        )
        done = _collective(
            context,
            run_device,
            "reading the run folder",
            lambda: _done_batches(out, fingerprint, n_batches),
        )
        pending = [b for b in range(n_batches) if b not in done]
        mine = pending[context.rank :: context.world_size]
        run = _Run(
            model=model,
            method=method,
            options=dict(options),
            seed=seed,
            target=target_spec,
            device=run_device,
            fingerprint=fingerprint,
            feature_names=list(feature_names) if feature_names else None,
            rank=context.rank,
            tokens=tokens,
        )
        _collective(
            context,
            run_device,
            "explaining its batches",
            lambda: _work(run, source, out, size, mine, done, n_batches, show, context),
        )
        if context.is_main:
            _update_index(out, source.n, n_batches, final=True)
        _agree(context, True, run_device)  # the index is final when every process returns
    finally:
        if moved:
            model.to(original_device)
    return DatasetExplanation.load(out)


def _work(
    run: _Run,
    source: _Source,
    out: Path,
    size: int,
    mine: list[int],
    done: dict[int, Any],
    n_batches: int,
    show: Any,
    context: DistributedContext,
) -> None:
    ranges = [(b * size, min((b + 1) * size, source.n)) for b in mine]
    what = f"explain_dataset {run.method}"
    last_index = time.monotonic()
    started = time.perf_counter()
    # only rank 0 shows progress (of its own share of the batches)
    with Tracker(show if context.is_main else False, what, len(mine), unit="batch") as tracker:
        batches = source.batches(ranges)
        for batch, (start, stop), (x, labels, kwargs) in zip(mine, ranges, batches, strict=True):
            tracker.begin(f"batch {batch} (samples {start}..{stop - 1})")
            explanation = run.explain(batch, start, x, labels, kwargs)
            explanation.save(out / _shards.shard_name(batch))
            tracker.end(f"batch {batch}: {len(explanation)} samples")
            if context.is_main and time.monotonic() - last_index > _INDEX_EVERY_SECONDS:
                _update_index(out, source.n, n_batches, final=False)
                last_index = time.monotonic()
    _log.debug(
        "explain_dataset: rank %d explained %d batch(es) in %.2f s",
        context.rank,
        len(mine),
        time.perf_counter() - started,
    )


# ------------------------------------------------------------------------- reading a run
class DatasetExplanation:
    """A dataset run on disk (written by :func:`explain_dataset`): its settings, its stored
    batches (iterated lazily, one :class:`xai.Explanation` per shard) and their summary.

    Example::

        run = xai.DatasetExplanation.load("runs/ig")
        run.complete, run.n_samples, run.method
        for expl in run:
            expl.extras["indices"]  # the samples' positions in the data
        summary = run.summary()
    """

    def __init__(self, path: Path, index: dict[str, Any], shards: list[tuple[int, Path]]) -> None:
        self.path = path
        self.index = index
        self._shards = shards

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DatasetExplanation:
        """Open the run in folder ``path`` (its complete shards; nothing is loaded yet).

        Raises:
            FileNotFoundError: ``path`` holds no run (no ``index.json``).
            InputError: the index is not a run's, or of a newer format.
        """
        folder = Path(path)
        try:
            index = _shards.read_index(folder) if folder.is_dir() else None
        except InputError as error:
            raise error.renamed("path") from error
        if index is None:
            raise FileNotFoundError(f"path: no dataset run (index.json) in {str(folder)!r}.")
        n_batches = -(-int(index["run"]["n_samples"]) // int(index["run"]["batch_size"]))
        done = _done_batches(folder, index.get("fingerprint", ""), n_batches)
        return cls(folder, index, [(b, folder / _shards.shard_name(b)) for b in sorted(done)])

    # ------------------------------------------------------------- settings
    @property
    def method(self) -> str:
        return str(self.index["run"]["method"])

    @property
    def options(self) -> dict[str, Any]:
        """The options the run was started with (tensors recorded by shape and digest)."""
        return dict(self.index["run"]["options"])

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """The run's per-sample forward arguments as recorded: by name, ``{"field": 3,
        "data": ...}`` for a field of the samples, a tensor's shape and digest otherwise (``{}``
        for a run without them). The shards keep their names and shapes only: pass the
        tensors again (``model_kwargs=``) to the metrics that rerun the model."""
        return dict(self.index["run"].get("model_kwargs", {}))

    @property
    def params(self) -> dict[str, Any] | None:
        """The method's params as recorded in the first shard (values chosen automatically
        included), or None before any shard is written."""
        return self.index.get("params")

    @property
    def seed(self) -> int | None:
        return self.index["run"]["seed"]

    @property
    def target(self) -> str | int:
        return self.index["run"]["target"]

    @property
    def batch_size(self) -> int:
        return int(self.index["run"]["batch_size"])

    @property
    def n_samples(self) -> int:
        """Samples in the data."""
        return int(self.index["run"]["n_samples"])

    @property
    def n_batches(self) -> int:
        return -(-self.n_samples // self.batch_size)

    @property
    def done_samples(self) -> int:
        return sum(
            min((b + 1) * self.batch_size, self.n_samples) - b * self.batch_size
            for b, _ in self._shards
        )

    @property
    def complete(self) -> bool:
        """Whether every batch is stored."""
        return len(self._shards) == self.n_batches

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.index.get("versions", {}))

    # ------------------------------------------------------------- batches
    def __len__(self) -> int:
        """Number of stored batches."""
        return len(self._shards)

    def __iter__(self) -> Iterator[Explanation]:
        """The explanation of each stored batch, in sample order, each loaded when reached."""
        for _, path in self._shards:
            yield Explanation.load(path)

    def batch(self, number: int) -> Explanation:
        """The explanation of global batch ``number`` (samples ``number * batch_size`` on)."""
        for batch, path in self._shards:
            if batch == number:
                return Explanation.load(path)
        raise InputError(
            "number", f"batch {number} is not stored (stored: {len(self)} of {self.n_batches})."
        )

    def sample(self, index: int) -> Explanation:
        """The explanation of sample ``index`` of the data (one row)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise InputTypeError("index", f"expected an int, got {type(index).__name__}.")
        if not 0 <= index < self.n_samples:
            raise InputError("index", f"expected 0..{self.n_samples - 1}, got {index}.")
        number = int(index) // self.batch_size
        return self.batch(number)[int(index) - number * self.batch_size]

    def summary(self, top_k: int = 5) -> DatasetSummary:
        """Dataset-level results, computed in one pass over the shards (one in memory at a
        time): see :class:`DatasetSummary`."""
        return summarize(self, top_k=top_k)

    def __repr__(self) -> str:
        return (
            f"DatasetExplanation({str(self.path)!r}, method={self.method!r}, "
            f"{self.done_samples}/{self.n_samples} samples, {len(self)}/{self.n_batches} batches)"
        )


# ------------------------------------------------------------------------- the summary
@dataclass
class DatasetSummary:
    """What a dataset run shows at the level of the dataset.

    Attributes:
        method: the method's name.
        kind: ``"image"`` ``(N, C, H, W)``, ``"tabular"`` ``(N, F)``, ``"text"`` (integer token
            ids ``(N, L)``) or ``"other"``.
        n_samples: samples summarised (the stored ones).
        num_classes: output columns of the model (2 for a single column).
        class_counts: ``{"label": (K,), "predicted": (K,), "target": (K,)}`` counts per class
            (``"label"`` only when the data has labels).
        accuracy: fraction of predictions equal to the labels (None without labels).
        importance: mean ``|attribution|`` per feature: ``(F,)`` tabular, ``(H, W)`` of the
            channel-summed maps for images, ``(L,)`` per token position for text.
        mean_attribution: the signed mean, same shape.
        class_maps: per explained class, the mean signed map ``(K, ...)`` (``(K, H, W)`` for
            images, ``(K, F)`` tabular, ``(K, L)`` text); rows of classes never explained are 0.
        class_map_counts: samples behind each row of ``class_maps`` ``(K,)``.
        vocabulary: text only: the tokens with the largest mean ``|attribution|``, as
            ``[{"token": id, "mean_abs": float, "count": int}, ...]``.
        most_confident, least_confident: explanations of the ``top_k`` samples with the
            highest / lowest confidence (probability of the predicted class), with their maps;
            ``extras["indices"]`` gives their positions in the data.
        feature_names: the tabular feature names stored with the run, if any.
    """

    method: str
    kind: str
    n_samples: int
    num_classes: int
    class_counts: dict[str, torch.Tensor]
    accuracy: float | None
    importance: torch.Tensor
    mean_attribution: torch.Tensor
    class_maps: torch.Tensor
    class_map_counts: torch.Tensor
    vocabulary: list[dict[str, Any]] | None
    most_confident: Explanation | None = field(repr=False)
    least_confident: Explanation | None = field(repr=False)
    feature_names: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data (tensors as lists; the example explanations by index and confidence)."""

        def examples(expl: Explanation | None) -> list[dict[str, Any]]:
            if expl is None:
                return []
            return [
                {
                    "index": int(expl.extras["indices"][i]),
                    "confidence": float(expl.extras["confidence"][i]),
                    "predicted": int(expl.extras["predictions"][i]),
                    "target": int(expl.target[i]),
                }
                for i in range(len(expl))
            ]

        return to_json_value(
            {
                "method": self.method,
                "kind": self.kind,
                "n_samples": self.n_samples,
                "num_classes": self.num_classes,
                "class_counts": self.class_counts,
                "accuracy": self.accuracy,
                "importance": self.importance,
                "mean_attribution": self.mean_attribution,
                "class_maps": self.class_maps,
                "class_map_counts": self.class_map_counts,
                "vocabulary": self.vocabulary,
                "most_confident": examples(self.most_confident),
                "least_confident": examples(self.least_confident),
                "feature_names": self.feature_names,
            }
        )

    def plot(self) -> Figure:
        """The overview figure, :func:`xai.viz.plot_dataset_summary`."""
        from xai.viz.dataset import plot_dataset_summary

        return plot_dataset_summary(self)


def _kind(expl: Explanation) -> str:
    if not expl.inputs.is_floating_point() and expl.inputs.ndim == 2:
        return "text"
    return {4: "image", 2: "tabular"}.get(expl.inputs.ndim, "other")


def _maps(expl: Explanation, kind: str) -> torch.Tensor:
    """One map per sample, float64 on the CPU: channel-summed for images, as is otherwise."""
    if kind == "image":
        return expl.heatmap().double().cpu()
    return expl.attributions.detach().double().cpu().reshape(len(expl), -1)


class _Examples:
    """The ``k`` samples with the highest (``sign=1``) or lowest (``sign=-1``) confidence,
    kept while streaming; ties go to the lower index."""

    def __init__(self, k: int, sign: int) -> None:
        self.k, self.sign = k, sign
        self.heap: list[tuple[float, int, int, int]] = []  # (key, -index, batch, row)

    def offer(self, confidence: torch.Tensor, indices: torch.Tensor, batch: int) -> None:
        for row, (c, i) in enumerate(zip(confidence.tolist(), indices.tolist(), strict=True)):
            item = (self.sign * c, -i, batch, row)
            if len(self.heap) < self.k:
                heapq.heappush(self.heap, item)
            elif item > self.heap[0]:
                heapq.heapreplace(self.heap, item)

    def explanation(self, run: DatasetExplanation) -> Explanation | None:
        if not self.heap:
            return None
        chosen = sorted(self.heap, reverse=True)
        parts = []
        for _, _, batch, row in chosen:  # at most k shards read again
            parts.append(run.batch(batch)[row])
        return _concatenate(parts)


def summarize(run: DatasetExplanation, top_k: int = 5) -> DatasetSummary:
    """The :class:`DatasetSummary` of ``run`` (what :meth:`DatasetExplanation.summary` returns)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise InputError("top_k", f"expected an int >= 0, got {top_k!r}.")
    if len(run) == 0:
        raise InputError(
            "run", f"{str(run.path)!r} holds no stored batch yet; nothing to summarise."
        )
    most, least = _Examples(top_k, 1), _Examples(top_k, -1)
    total: dict[str, Any] = {}
    kind = "other"
    feature_names = None
    for (batch, _), expl in zip(run._shards, run, strict=True):
        kind = _kind(expl)
        maps = _maps(expl, kind)
        k = int(expl.extras["outputs"].shape[1]) if expl.extras["outputs"].shape[1] > 1 else 2
        if not total:
            total = {
                "n": 0,
                "abs": torch.zeros(maps.shape[1:], dtype=torch.float64),
                "signed": torch.zeros(maps.shape[1:], dtype=torch.float64),
                "class_sum": torch.zeros((k, *maps.shape[1:]), dtype=torch.float64),
                "class_n": torch.zeros(k, dtype=torch.long),
                "label": torch.zeros(k, dtype=torch.long),
                "predicted": torch.zeros(k, dtype=torch.long),
                "target": torch.zeros(k, dtype=torch.long),
                "correct": 0,
                "has_labels": "labels" in expl.extras,
                "vocab_sum": torch.zeros(0, dtype=torch.float64),
                "vocab_n": torch.zeros(0, dtype=torch.long),
            }
            feature_names = expl.extras.get("feature_names")
        target = expl.target.cpu()
        predictions = expl.extras["predictions"].cpu()
        total["n"] += len(expl)
        total["abs"] += maps.abs().sum(0)
        total["signed"] += maps.sum(0)
        total["class_sum"].index_add_(0, target.clamp(max=k - 1), maps)
        total["class_n"] += torch.bincount(target.clamp(max=k - 1), minlength=k)
        total["predicted"] += torch.bincount(predictions, minlength=k)[:k]
        total["target"] += torch.bincount(target.clamp(max=k - 1), minlength=k)[:k]
        if total["has_labels"]:
            labels = expl.extras["labels"].cpu()
            total["label"] += torch.bincount(labels.clamp(0, k - 1), minlength=k)[:k]
            total["correct"] += int((labels == predictions).sum())
        if kind == "text":
            ids = expl.inputs.reshape(-1).long().cpu()
            size = max(int(ids.max()) + 1, total["vocab_sum"].numel())
            total["vocab_sum"] = _grown(total["vocab_sum"], size)
            total["vocab_n"] = _grown(total["vocab_n"], size)
            total["vocab_sum"] += torch.bincount(
                ids, weights=maps.abs().reshape(-1), minlength=size
            )
            total["vocab_n"] += torch.bincount(ids, minlength=size)
        confidence = expl.extras["confidence"].double().cpu()
        indices = expl.extras["indices"].cpu()
        most.offer(confidence, indices, batch)
        least.offer(confidence, indices, batch)
    n = total["n"]
    counts = total["class_n"].clamp(min=1).double()
    class_maps = total["class_sum"] / counts.reshape(-1, *([1] * (total["class_sum"].ndim - 1)))
    vocabulary = None
    if kind == "text":
        seen = total["vocab_n"].nonzero().flatten()
        means = total["vocab_sum"][seen] / total["vocab_n"][seen]
        order = means.argsort(descending=True)[:20]
        vocabulary = [
            {
                "token": int(seen[i]),
                "mean_abs": float(means[i]),
                "count": int(total["vocab_n"][seen[i]]),
            }
            for i in order.tolist()
        ]
    class_counts = {"predicted": total["predicted"], "target": total["target"]}
    if total["has_labels"]:
        class_counts["label"] = total["label"]
    return DatasetSummary(
        method=run.method,
        kind=kind,
        n_samples=n,
        num_classes=int(total["class_n"].numel()),
        class_counts=class_counts,
        accuracy=total["correct"] / n if total["has_labels"] else None,
        importance=(total["abs"] / n).float(),
        mean_attribution=(total["signed"] / n).float(),
        class_maps=class_maps.float(),
        class_map_counts=total["class_n"],
        vocabulary=vocabulary,
        most_confident=most.explanation(run),
        least_confident=least.explanation(run),
        feature_names=list(feature_names) if feature_names else None,
    )


def _grown(tensor: torch.Tensor, size: int) -> torch.Tensor:
    if tensor.numel() >= size:
        return tensor
    return torch.cat([tensor, torch.zeros(size - tensor.numel(), dtype=tensor.dtype)])
