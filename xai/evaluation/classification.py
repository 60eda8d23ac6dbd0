"""``xai.evaluate``: classification metrics of a model on a dataset, in one report.

A thin layer over the functional core in :mod:`xai.metrics.classification`: run the model in
batches on its own device, collect outputs and labels, compute every metric once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from xai._device import model_device, move_to
from xai._files import to_json_value
from xai._model import as_output_matrix, call_model, select_output
from xai._state import eval_mode
from xai.errors import InputError, InputTypeError
from xai.metrics import classification as M

__all__ = ["ClassificationReport", "evaluate", "evaluate_outputs", "format_metrics_table"]


@dataclass
class ClassificationReport:
    """Classification metrics of one model on one dataset.

    Attributes:
        n_samples: number of samples evaluated.
        num_classes: number of classes ``K`` (2 for single-logit binary models).
        accuracy: fraction of correct top-1 predictions (higher is better).
        f1: macro-averaged F1 over the classes present in labels or predictions.
        f1_weighted: F1 averaged with each class's support as weight.
        f1_per_class: F1 of each class, ``K`` floats.
        roc_auc: positive-class AUC for binary tasks, macro one-vs-rest AUC for multiclass
            (NaN when labels hold one class only).
        roc_auc_per_class: one-vs-rest AUC of each class (NaN for classes absent from labels).
        confusion_matrix: LongTensor ``(K, K)``, rows are true classes, columns predictions.
        log_loss: mean negative log-likelihood (lower is better).
        expected_calibration_error: ECE of the top-1 confidence, 15 bins (lower is better).
        class_names: names of the classes (``"0"``, ``"1"``, ... when not given).
        y_true: the labels ``(N,)``; ``probabilities``: ``(N, K)``; ``scores``: ranking scores
            ``(N, K)`` used for ROC curves (kept for figures, left out of :meth:`to_dict`).
    """

    n_samples: int
    num_classes: int
    accuracy: float
    f1: float
    f1_weighted: float
    f1_per_class: list[float]
    roc_auc: float
    roc_auc_per_class: list[float]
    confusion_matrix: torch.Tensor
    log_loss: float
    expected_calibration_error: float
    class_names: list[str]
    y_true: torch.Tensor = field(repr=False)
    probabilities: torch.Tensor = field(repr=False)
    scores: torch.Tensor = field(repr=False)

    #: Keys of the headline metrics, in table order.
    HEADLINE = ("accuracy", "f1", "roc_auc", "log_loss", "expected_calibration_error")

    @property
    def y_pred(self) -> torch.Tensor:
        """Top-1 predicted class of each sample ``(N,)``."""
        return self.probabilities.argmax(dim=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable metrics (NaN and infinite numbers become None)."""
        return to_json_value(
            {
                "n_samples": self.n_samples,
                "num_classes": self.num_classes,
                "accuracy": float(self.accuracy),
                "f1": float(self.f1),
                "f1_weighted": float(self.f1_weighted),
                "f1_per_class": [float(v) for v in self.f1_per_class],
                "roc_auc": float(self.roc_auc),
                "roc_auc_per_class": [float(v) for v in self.roc_auc_per_class],
                "log_loss": float(self.log_loss),
                "expected_calibration_error": float(self.expected_calibration_error),
                "confusion_matrix": self.confusion_matrix.tolist(),
                "class_names": list(self.class_names),
            }
        )

    def per_class(self) -> list[dict[str, Any]]:
        """One row per class: ``class``, ``support`` (true samples), ``precision``, ``recall``,
        ``f1`` and one-vs-rest ``roc_auc``, as scikit-learn's ``classification_report`` and
        ``roc_auc_score`` give them (precision of a never-predicted class is 0, recall of an
        absent class is 0; its AUC is NaN)."""
        matrix = self.confusion_matrix.double()
        true_counts, predicted_counts = matrix.sum(dim=1), matrix.sum(dim=0)
        correct = matrix.diagonal()
        rows = []
        for k, name in enumerate(self.class_names):
            precision = float(correct[k] / predicted_counts[k]) if predicted_counts[k] else 0.0
            recall = float(correct[k] / true_counts[k]) if true_counts[k] else 0.0
            rows.append(
                {
                    "class": name,
                    "support": int(true_counts[k]),
                    "precision": precision,
                    "recall": recall,
                    "f1": float(self.f1_per_class[k]),
                    "roc_auc": float(self.roc_auc_per_class[k]),
                }
            )
        return rows

    def table(self) -> str:
        """The headline metrics as a two-column text table."""
        rows = [("samples", str(self.n_samples))]
        rows += [(key, f"{getattr(self, key):.4f}") for key in self.HEADLINE]
        width = max(len(k) for k, _ in rows) + 2
        return "\n".join(f"{k:<{width}}{v:>10}" for k, v in rows)

    def __str__(self) -> str:
        return self.table()


def evaluate_outputs(
    y_true: Any,
    outputs: Any,
    *,
    kind: str = "auto",
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    n_bins: int = 15,
) -> ClassificationReport:
    """The report of predictions already computed: labels and model outputs.

    Args:
        y_true: labels ``(N,)``.
        outputs: logits or probabilities ``(N, K)``, or one column for binary models.
        kind: ``"auto"``, ``"logits"`` or ``"probabilities"`` (see
            :func:`xai.metrics.as_probabilities`).
        num_classes: ``K``; default: the number of output columns (2 for a single column).
        class_names: ``K`` names for tables and figures.
        n_bins: bins of the expected calibration error.
    """
    names_given = _class_names(class_names)
    n_bins = M.check_n_bins(n_bins)
    y = M._labels(y_true)
    probabilities, scores = M.as_probabilities(outputs, kind)
    M._same_length(y, probabilities, "outputs")
    k = probabilities.shape[1]
    if num_classes is not None and num_classes != k:
        raise InputError(
            "num_classes",
            f"the outputs have {k} class columns, got num_classes={num_classes}.",
        )
    if int(y.max()) >= k:
        raise InputError(
            "y_true",
            f"labels go up to {int(y.max())}, but the model gives scores for {k} "
            f"classes (0..{k - 1}). Check the labels or the model's output layer.",
        )
    names = [str(c) for c in range(k)] if names_given is None else names_given
    if len(names) != k:
        raise InputError("class_names", f"expected {k} names, got {len(names)}.")
    y_pred = probabilities.argmax(dim=1)
    per_class_auc = M.roc_auc_score(y, scores if k > 2 else scores[:, 1], average=None)
    if k == 2:
        auc = float(per_class_auc[1])
        if math.isnan(auc):
            M.roc_auc_score(y, scores[:, 1])  # emits the warning
    else:
        auc = M.roc_auc_score(y, scores)
    return ClassificationReport(
        n_samples=int(y.numel()),
        num_classes=k,
        accuracy=M.accuracy_score(y, y_pred),
        f1=M.f1_score(y, y_pred, k, "macro"),
        f1_weighted=M.f1_score(y, y_pred, k, "weighted"),
        f1_per_class=M.f1_score(y, y_pred, k, None).tolist(),
        roc_auc=float(auc),
        roc_auc_per_class=per_class_auc.tolist(),
        confusion_matrix=M.confusion_matrix(y, y_pred, k),
        log_loss=M.log_loss(y, probabilities),
        expected_calibration_error=M.expected_calibration_error(y, probabilities, n_bins),
        class_names=names,
        y_true=y,
        probabilities=probabilities,
        scores=scores,
    )


def _class_names(class_names: Any) -> list[str] | None:
    """``class_names`` as a list of str: a sequence (list, tuple, array) of strings; a single
    string would otherwise be read as one name per character."""
    if class_names is None:
        return None
    if isinstance(class_names, str | bytes):
        raise InputTypeError(
            "class_names",
            f"expected a sequence of strings, one per class, got the string {class_names!r:.60}, "
            f"which would name one class per character. Pass a list: [{class_names!r:.40}] for "
            "a single class, or list(names) if each character is meant to name a class.",
        )
    if isinstance(class_names, np.ndarray):
        class_names = class_names.tolist() if class_names.ndim == 1 else class_names
    if not isinstance(class_names, Sequence) or isinstance(class_names, np.ndarray):
        raise InputTypeError(
            "class_names",
            "expected a sequence (list, tuple or 1-D array) of strings, one per class, got "
            f"{type(class_names).__name__}.",
        )
    names = list(class_names)
    wrong = [name for name in names if not isinstance(name, str)]
    if wrong:
        raise InputTypeError(
            "class_names",
            f"expected strings, got {type(wrong[0]).__name__} {wrong[0]!r:.40}; convert them, "
            "e.g. [str(name) for name in names].",
        )
    return names


def _batches(data: Any, batch_size: int) -> Any:
    if isinstance(data, tuple | list) and not isinstance(data, Dataset):
        if len(data) < 2 or not all(isinstance(t, torch.Tensor) for t in data[:2]):
            raise InputTypeError(
                "data",
                "expected a DataLoader, a Dataset, or a pair of tensors (X, y), got a "
                f"{type(data).__name__} of {[type(t).__name__ for t in data]}.",
            )
        if data[0].shape[0] != data[1].shape[0]:
            raise InputError(
                "data",
                f"X and y must have the same number of rows, got {data[0].shape[0]} and "
                f"{data[1].shape[0]}.",
            )
        data = TensorDataset(data[0], data[1])
    if isinstance(data, TensorDataset):
        x, y = data.tensors[0], data.tensors[1]
        return (
            (x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)
        )
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False)
    raise InputTypeError(
        "data",
        f"expected a torch DataLoader, a Dataset, or a pair of tensors (X, y), got "
        f"{type(data).__name__}.",
    )


def evaluate(
    model: nn.Module,
    data: Any,
    *,
    batch_size: int = 512,
    outputs: str = "auto",
    output: Any = None,
    class_names: Sequence[str] | None = None,
    n_bins: int = 15,
) -> ClassificationReport:
    """Evaluate a classifier on a dataset: accuracy, F1, ROC-AUC, confusion matrix and more.

    The model runs in eval mode under ``torch.inference_mode`` in batches on its own device
    (its train/eval mode is restored afterwards); metrics equal scikit-learn's on the same
    predictions.

    Args:
        model: a classifier returning ``(N, K)`` logits/probabilities or one column for binary.
        data: a ``DataLoader``, a ``Dataset`` of ``(x, y[, ...])``, or ``(X, y)`` tensors.
        batch_size: samples per forward pass (ignored for DataLoaders).
        outputs: ``"auto"``, ``"logits"`` or ``"probabilities"``: what the model returns.
            ``"auto"`` treats values in [0, 1] whose rows sum to 1 (any values in [0, 1] for a
            single column) as probabilities.
        output: selects the scores from non-tensor model outputs (an index, a key/attribute
            name, or a callable), as the explainers' ``output`` option.
        class_names: names of the classes for tables and figures.
        n_bins: bins of the expected calibration error.

    Returns:
        A :class:`ClassificationReport` (``.accuracy``, ``.f1``, ``.roc_auc``,
        ``.confusion_matrix``, ``.to_dict()`` ...).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``data`` is of an unsupported kind.
        ValueError: an empty dataset, labels or outputs that do not fit each other, or
            out-of-range settings (the message names the argument).

    Example::

        report = xai.evaluate(model, (x_test, y_test))
        report.accuracy, report.f1, report.roc_auc
    """
    if not isinstance(model, nn.Module):
        raise InputTypeError("model", f"expected a torch.nn.Module, got {type(model).__name__}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError("batch_size", f"expected a positive int, got {batch_size!r}.")
    # checked before the model runs over the data
    _class_names(class_names)
    M.check_n_bins(n_bins)
    device = model_device(model)
    collected_outputs: list[torch.Tensor] = []
    collected_labels: list[torch.Tensor] = []
    # eval_mode, not preserved_state: under inference_mode the forward passes cannot change
    # requires_grad or gradients, so preserved_state's copies of every .grad (a model-sized
    # copy when evaluate runs between training steps) and its hook bookkeeping would buy nothing
    with eval_mode(model), torch.inference_mode():
        for batch in _batches(data, batch_size):
            if not isinstance(batch, Sequence) or len(batch) < 2:
                raise InputTypeError(
                    "data",
                    "expected batches of (inputs, labels[, ...]), got "
                    f"{type(batch).__name__}.",
                )
            x = move_to(batch[0], device, non_blocking=device.type == "cuda")
            raw = select_output(call_model(model, x, name="data"), output)
            n = int(batch[1].shape[0])
            matrix = as_output_matrix(raw, n)
            if matrix.dtype != torch.float64:
                matrix = matrix.float()
            collected_outputs.append(matrix.cpu())
            collected_labels.append(torch.as_tensor(batch[1]).reshape(-1).cpu())
    if not collected_outputs:
        raise InputError("data", "expected at least one sample, got an empty dataset.")
    return evaluate_outputs(
        torch.cat(collected_labels),
        torch.cat(collected_outputs),
        kind=outputs,
        class_names=class_names,
        n_bins=n_bins,
    )


_TABLE_COLUMNS = (
    ("samples", "n_samples", "{:>8d}"),
    ("accuracy", "accuracy", "{:>9.4f}"),
    ("f1", "f1", "{:>8.4f}"),
    ("roc_auc", "roc_auc", "{:>8.4f}"),
    ("log_loss", "log_loss", "{:>9.4f}"),
    ("ece", "expected_calibration_error", "{:>8.4f}"),
)


def format_metrics_table(rows: Sequence[tuple[str, ClassificationReport | dict[str, Any]]]) -> str:
    """A text table with one row per ``(label, report or report.to_dict())`` pair.

    Columns: samples, accuracy, f1 (macro), roc_auc, log_loss, ece (expected calibration error).
    """
    label_width = max([len("model")] + [len(label) for label, _ in rows]) + 2
    header = f"{'model':<{label_width}}" + "".join(
        f"{title:>{len(fmt.format(0) if 'd' in fmt else fmt.format(0.0))}}"
        for title, _, fmt in _TABLE_COLUMNS
    )
    lines = [header]
    for label, report in rows:
        data = report.to_dict() if isinstance(report, ClassificationReport) else dict(report)
        cells = []
        for _, key, fmt in _TABLE_COLUMNS:
            value = data.get(key)
            width = len(fmt.format(0) if "d" in fmt else fmt.format(0.0))
            cells.append(f"{'n/a':>{width}}" if value is None else fmt.format(value))
        lines.append(f"{label:<{label_width}}" + "".join(cells))
    return "\n".join(lines)
