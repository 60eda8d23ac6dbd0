"""Classification metrics: a functional core of pure functions on tensors.

Every function takes labels ``y_true`` (integers ``(N,)``) and predictions, and returns plain
Python numbers or tensors. Values equal scikit-learn's on the same predictions (the tests check
it): ``f1_score`` averages over the classes present in ``y_true`` or ``y_pred`` as scikit-learn
does, ``roc_auc_score`` is the positive-class AUC for binary tasks and the macro one-vs-rest
AUC for multiclass ones, with ties counted as half.

Names say the direction: ``*_score`` higher is better, ``*_loss`` / ``*_error`` lower is better.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, overload

import numpy as np
import torch

from xai._batching import check_memory
from xai._validation import all_finite
from xai.errors import InputError, InputTypeError

__all__ = [
    "accuracy_score",
    "as_probabilities",
    "confusion_matrix",
    "expected_calibration_error",
    "f1_score",
    "log_loss",
    "reliability_bins",
    "roc_auc_score",
    "roc_curve",
]

_OUTPUT_KINDS = ("auto", "logits", "probabilities")


def _labels(y_true: Any, name: str = "y_true") -> torch.Tensor:
    if isinstance(y_true, np.ndarray):
        y_true = torch.from_numpy(y_true)
    if not isinstance(y_true, torch.Tensor):
        try:
            y_true = torch.as_tensor(y_true)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{name}: expected integer class labels (tensor, array or list), got "
                f"{type(y_true).__name__}."
            ) from error
    y_true = y_true.reshape(-1) if y_true.ndim == 2 and y_true.shape[1] == 1 else y_true
    if y_true.ndim != 1:
        raise ValueError(
            f"{name}: expected a 1-D tensor of class indices (N,), got shape {tuple(y_true.shape)}."
        )
    if y_true.numel() == 0:
        raise ValueError(f"{name}: expected at least one label, got none.")
    if torch.is_floating_point(y_true):
        if not bool((y_true == y_true.round()).all()):
            raise TypeError(
                f"{name}: expected integer class indices, got non-integer floats. Pass labels, "
                "not scores, e.g. y.long()."
            )
        y_true = y_true.long()
    if y_true.dtype == torch.bool:
        y_true = y_true.long()
    y_true = y_true.long().cpu()
    if bool((y_true < 0).any()):
        raise ValueError(f"{name}: expected class indices >= 0, got {int(y_true.min())}.")
    return y_true


def _same_length(y_true: torch.Tensor, other: torch.Tensor, name: str) -> None:
    if other.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"{name}: expected one row per label ({y_true.shape[0]}), got {other.shape[0]}."
        )


def _matrix(outputs: Any, name: str) -> torch.Tensor:
    if isinstance(outputs, np.ndarray):
        outputs = torch.from_numpy(outputs)
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(
            f"{name}: expected a tensor of scores (N, K) or (N,), got {type(outputs).__name__}."
        )
    if outputs.ndim == 1:
        outputs = outputs.unsqueeze(1)
    if outputs.ndim != 2:
        raise ValueError(
            f"{name}: expected scores of shape (N, K) or (N,), got {tuple(outputs.shape)}."
        )
    outputs = outputs.detach().cpu().double()
    if not all_finite(outputs):
        raise ValueError(f"{name}: expected finite scores, got NaN or inf values.")
    return outputs


def _probability_matrix(probabilities: Any) -> torch.Tensor:
    """``(N, K)`` probabilities, ``K >= 2`` (one column of the positive class becomes two);
    logits or rows that do not sum to 1 are refused rather than binned or logged as if
    they were probabilities."""
    p = _matrix(probabilities, "probabilities")
    if bool(((p < 0) | (p > 1)).any()):
        raise ValueError(
            f"probabilities: expected values in [0, 1], got values from {float(p.min()):.4g} "
            f"to {float(p.max()):.4g}. These look like logits: convert them with "
            "xai.metrics.as_probabilities(outputs)[0] (softmax, or sigmoid for one column)."
        )
    if p.shape[1] == 1:
        return torch.cat([1 - p, p], dim=1)
    sums = p.sum(1)
    worst = int((sums - 1).abs().argmax())
    if abs(float(sums[worst]) - 1) > 1e-4:
        raise ValueError(
            f"probabilities: expected each row to sum to 1 (within 1e-4), got "
            f"{float(sums[worst]):.6g} for row {worst}. Pass all K class probabilities, or "
            "convert scores with xai.metrics.as_probabilities(outputs)[0]."
        )
    return p


def as_probabilities(outputs: Any, kind: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities ``(N, K)`` (``K >= 2``) and ranking scores from model outputs.

    Args:
        outputs: ``(N, K)`` logits or probabilities, or a single column ``(N,)``/``(N, 1)`` for
            binary models (the positive class's logit or probability).
        kind: ``"logits"``, ``"probabilities"``, or ``"auto"``: probabilities when every value
            is in [0, 1] and (for ``K > 1``) every row sums to 1 within 1e-4, logits otherwise.

    Returns:
        ``(probabilities, scores)`` in float64 on the CPU. ``scores`` rank samples per class
        for ROC curves: the logit margin for logits (no float saturation), the probabilities
        otherwise. A single column becomes two: ``[1 - p, p]``.
    """
    if kind not in _OUTPUT_KINDS:
        raise ValueError(
            f"outputs: expected one of {', '.join(map(repr, _OUTPUT_KINDS))}, got {kind!r}."
        )
    scores = _matrix(outputs, "outputs")
    k = scores.shape[1]
    if kind == "auto":
        in_range = bool(((scores >= 0) & (scores <= 1)).all())
        sums_to_one = k == 1 or bool(((scores.sum(1) - 1).abs() <= 1e-4).all())
        kind = "probabilities" if in_range and sums_to_one else "logits"
    if kind == "probabilities":
        if bool(((scores < 0) | (scores > 1)).any()):
            raise ValueError(
                "outputs: probabilities must lie in [0, 1]. Pass outputs='logits' if these are "
                "raw model scores."
            )
        if k == 1:
            p = scores[:, 0]
            return torch.stack([1 - p, p], dim=1), torch.stack([1 - p, p], dim=1)
        return scores, scores
    if k == 1:
        z = scores[:, 0]
        p = torch.sigmoid(z)
        return torch.stack([1 - p, p], dim=1), torch.stack([-z, z], dim=1)
    probabilities = torch.softmax(scores, dim=1)
    if k == 2:
        margin = scores[:, 1] - scores[:, 0]
        return probabilities, torch.stack([-margin, margin], dim=1)
    return probabilities, scores.log_softmax(dim=1)


def accuracy_score(y_true: Any, y_pred: Any) -> float:
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = _labels(y_true), _labels(y_pred, "y_pred")
    _same_length(y_true, y_pred, "y_pred")
    return float((y_true == y_pred).double().mean())


def _num_classes(num_classes: int | None, *labels: torch.Tensor) -> int:
    largest = max(int(t.max()) for t in labels) + 1
    if num_classes is None:
        return largest
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive int or None, got {num_classes!r}.")
    if largest > num_classes:
        raise ValueError(
            f"num_classes: labels go up to {largest - 1}, so num_classes must be at least "
            f"{largest}, got {num_classes}."
        )
    return num_classes


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> torch.Tensor:
    """Counts ``C[i, j]`` of samples of class ``i`` predicted as ``j`` (LongTensor ``(K, K)``)."""
    y_true, y_pred = _labels(y_true), _labels(y_pred, "y_pred")
    _same_length(y_true, y_pred, "y_pred")
    k = _num_classes(num_classes, y_true, y_pred)
    return torch.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


@overload
def f1_score(
    y_true: Any, y_pred: Any, num_classes: int | None = None, average: str = "macro"
) -> float: ...
@overload
def f1_score(y_true: Any, y_pred: Any, num_classes: int | None, average: None) -> torch.Tensor: ...
@overload
def f1_score(
    y_true: Any, y_pred: Any, num_classes: int | None = None, *, average: None
) -> torch.Tensor: ...
def f1_score(
    y_true: Any, y_pred: Any, num_classes: int | None = None, average: str | None = "macro"
) -> float | torch.Tensor:
    """F1 score, ``2 TP / (2 TP + FP + FN)`` per class.

    Args:
        y_true: labels ``(N,)``.
        y_pred: predicted labels ``(N,)``.
        num_classes: number of classes (default: the largest label + 1).
        average: ``"macro"`` (unweighted mean over the classes present in ``y_true`` or
            ``y_pred``, as scikit-learn), ``"weighted"`` (mean weighted by each class's count in
            ``y_true``), ``"binary"`` (class 1's F1) or None (per-class tensor ``(K,)``; 0 for a
            class absent from both).
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes).double()
    tp = matrix.diag()
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    denominator = support + predicted  # = 2TP + FP + FN
    per_class = torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), 0.0)
    if average is None:
        return per_class
    if average == "macro":
        present = denominator > 0
        return float(per_class[present].mean())
    if average == "weighted":
        return float((per_class * support).sum() / support.sum())
    if average == "binary":
        if per_class.numel() < 2:
            return 0.0
        return float(per_class[1])
    raise ValueError(f"average: expected 'macro', 'weighted', 'binary' or None, got {average!r}.")


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``values``, ties sharing the average of their ranks."""
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    average = ends - (counts.double() - 1) / 2
    return average[inverse]


def _binary_auc(positive: torch.Tensor, scores: torch.Tensor) -> float:
    n_pos = int(positive.sum())
    n_neg = int(positive.numel() - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@overload
def roc_auc_score(y_true: Any, scores: Any, average: str = "macro") -> float: ...
@overload
def roc_auc_score(y_true: Any, scores: Any, average: None) -> torch.Tensor: ...
def roc_auc_score(y_true: Any, scores: Any, average: str | None = "macro") -> float | torch.Tensor:
    """Area under the ROC curve (ties count as half, as in scikit-learn).

    Args:
        y_true: labels ``(N,)``.
        scores: ``(N,)`` scores of the positive class (binary), or ``(N, K)`` per-class scores
            (probabilities for the macro one-vs-rest AUC; for ``K = 2`` column 1 is used).
        average: ``"macro"`` (mean of the one-vs-rest AUCs of the classes present in
            ``y_true``) or None (per-class tensor ``(K,)``, NaN where undefined).

    Returns:
        The AUC; NaN (with a warning) when ``y_true`` holds a single class.
    """
    y_true = _labels(y_true)
    matrix = _matrix(scores, "scores")
    _same_length(y_true, matrix, "scores")
    if matrix.shape[1] <= 2:
        column = matrix[:, -1]
        if int(y_true.max()) > 1:
            raise ValueError(
                f"y_true: binary scores given, but labels go up to {int(y_true.max())}. Pass "
                "one score column per class for a multiclass AUC."
            )
        auc = _binary_auc(y_true == 1, column)
        if math.isnan(auc):
            warnings.warn(
                "roc_auc_score: only one class is present in y_true; ROC AUC is not defined "
                "(returning NaN).",
                stacklevel=2,
            )
        if average is None:
            return torch.tensor([auc, auc], dtype=torch.float64)
        return auc
    k = matrix.shape[1]
    if int(y_true.max()) >= k:
        raise ValueError(
            f"scores: labels go up to {int(y_true.max())} but scores have only {k} columns."
        )
    per_class = torch.tensor(
        [_binary_auc(y_true == c, matrix[:, c]) for c in range(k)], dtype=torch.float64
    )
    if average is None:
        return per_class
    if average != "macro":
        raise ValueError(f"average: expected 'macro' or None, got {average!r}.")
    defined = ~torch.isnan(per_class)
    if not bool(defined.any()):
        warnings.warn(
            "roc_auc_score: only one class is present in y_true; ROC AUC is not defined "
            "(returning NaN).",
            stacklevel=2,
        )
        return math.nan
    if not bool(defined.all()):
        missing = torch.nonzero(~defined).flatten().tolist()
        warnings.warn(
            f"roc_auc_score: class(es) {missing} have no samples in y_true; the macro "
            "one-vs-rest AUC averages over the other classes.",
            stacklevel=2,
        )
    return float(per_class[defined].mean())


def roc_curve(
    y_true: Any, scores: Any, positive: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ROC curve of one class against the rest, at every distinct score.

    Returns:
        ``(fpr, tpr, thresholds)``, float64, starting at ``(0, 0)`` with threshold ``inf``.
    """
    y_true = _labels(y_true)
    column = _matrix(scores, "scores")
    column = column[:, positive] if column.shape[1] > 1 else column[:, 0]
    _same_length(y_true, column, "scores")
    order = torch.argsort(column, descending=True, stable=True)
    sorted_scores = column[order]
    hits = (y_true[order] == positive).double()
    last = torch.ones_like(sorted_scores, dtype=torch.bool)
    last[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    tps = hits.cumsum(0)[last]
    fps = (1 - hits).cumsum(0)[last]
    thresholds = sorted_scores[last]
    zero = torch.zeros(1, dtype=torch.float64)
    tps, fps = torch.cat([zero, tps]), torch.cat([zero, fps])
    thresholds = torch.cat([torch.tensor([math.inf], dtype=torch.float64), thresholds])
    fpr = fps / fps[-1] if fps[-1] > 0 else torch.full_like(fps, math.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else torch.full_like(tps, math.nan)
    return fpr, tpr, thresholds


def log_loss(y_true: Any, probabilities: Any) -> float:
    """Mean negative log-likelihood of the labels (natural log).

    Probabilities are clipped to ``[eps, 1 - eps]`` (float64 machine epsilon) as in scikit-learn.

    Args:
        y_true: labels ``(N,)``.
        probabilities: ``(N, K)`` class probabilities, or ``(N,)`` of the positive class.
    """
    y_true = _labels(y_true)
    p = _probability_matrix(probabilities)
    _same_length(y_true, p, "probabilities")
    if int(y_true.max()) >= p.shape[1]:
        raise ValueError(
            f"probabilities: labels go up to {int(y_true.max())} but there are only "
            f"{p.shape[1]} probability columns."
        )
    eps = torch.finfo(torch.float64).eps
    picked = p.gather(1, y_true.view(-1, 1)).squeeze(1).clamp(eps, 1 - eps)
    return float(-picked.log().mean())


#: Bytes per calibration bin: the edges, counts, sums, means and gaps (float64 each).
_BYTES_PER_BIN = 80


def check_n_bins(n_bins: Any) -> int:
    """``n_bins`` as an int >= 1 whose per-bin tables (~80 bytes a bin) fit in memory; checked
    before any work (``xai.evaluate`` checks it before running the model)."""
    if isinstance(n_bins, bool | np.bool_) or not isinstance(n_bins, int | np.integer):
        raise InputTypeError(
            "n_bins", f"expected a positive int, got {type(n_bins).__name__} {n_bins!r:.40}."
        )
    if n_bins < 1:
        raise InputError("n_bins", f"expected a positive int, got {n_bins!r}.")
    check_memory(
        "n_bins",
        f"{int(n_bins):,} calibration bins",
        float(n_bins) * _BYTES_PER_BIN,
        torch.device("cpu"),
        "Use fewer bins: 10-20 are usual (the default is 15), and more bins than samples "
        "leave most of them empty.",
    )
    return int(n_bins)


def reliability_bins(y_true: Any, probabilities: Any, n_bins: int = 15) -> dict[str, torch.Tensor]:
    """Per-bin confidence, accuracy and counts of top-1 predictions (equal-width bins on [0, 1]).

    Returns:
        ``{"edges": (n_bins + 1,), "confidence": (n_bins,), "accuracy": (n_bins,),
        "count": (n_bins,)}``; empty bins hold NaN confidence and accuracy.
    """
    n_bins = check_n_bins(n_bins)
    y_true = _labels(y_true)
    p = _probability_matrix(probabilities)
    _same_length(y_true, p, "probabilities")
    confidence, predicted = p.max(dim=1)
    correct = (predicted == y_true).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bin i holds (edges[i], edges[i+1]]; confidence 0 goes to the first bin
    index = (torch.bucketize(confidence, edges, right=False) - 1).clamp(0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins).double()
    conf_sum = torch.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = torch.bincount(index, weights=correct, minlength=n_bins)
    safe = count.clamp(min=1)
    empty = count == 0
    return {
        "edges": edges,
        "confidence": torch.where(empty, math.nan, conf_sum / safe),
        "accuracy": torch.where(empty, math.nan, acc_sum / safe),
        "count": count,
    }


def expected_calibration_error(y_true: Any, probabilities: Any, n_bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence (Guo et al. 2017, equal-width bins).

    ``ECE = sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|`` over bins
    ``(i / n_bins, (i + 1) / n_bins]``. 0 is perfectly calibrated; lower is better.
    See https://arxiv.org/abs/1706.04599.
    """
    bins = reliability_bins(y_true, probabilities, n_bins)
    count = bins["count"]
    gap = (bins["accuracy"] - bins["confidence"]).abs().nan_to_num(0.0)
    return float((gap * count).sum() / count.sum())
