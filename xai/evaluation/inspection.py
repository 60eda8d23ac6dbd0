"""Finding the samples worth explaining, and reading one prediction.

Works on the probabilities and labels of a :class:`~xai.evaluation.ClassificationReport`
(``report.probabilities``, ``report.y_true``), so a model is run once for every view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["SAMPLE_SELECTIONS", "class_ranking", "select_samples"]

#: Ways to pick samples: every sample in order, the misclassified ones (most confident mistake
#: first), the least confident ones (lowest top-1 probability first).
SAMPLE_SELECTIONS = ("index", "misclassified", "least_confident")


def _check(probabilities: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(probabilities, torch.Tensor) or probabilities.ndim != 2:
        shape = getattr(probabilities, "shape", type(probabilities).__name__)
        raise ValueError(f"probabilities: expected a tensor (N, classes), got {shape}.")
    labels = torch.as_tensor(labels)
    if labels.shape != probabilities.shape[:1]:
        raise ValueError(
            f"labels: expected shape ({probabilities.shape[0]},), one per row of "
            f"probabilities, got {tuple(labels.shape)}."
        )
    return probabilities.detach().float().cpu(), labels.cpu().long()


def select_samples(probabilities: torch.Tensor, labels: Any, by: str = "index") -> list[int]:
    """Indices of the samples to offer for ``by`` (one of :data:`SAMPLE_SELECTIONS`).

    Args:
        probabilities: class probabilities ``(N, K)``.
        labels: true classes ``(N,)``.
        by: ``"index"`` (all, in order), ``"misclassified"`` (top-1 prediction differs from the
            label; the most confident mistakes first) or ``"least_confident"`` (all, by
            ascending top-1 probability; ties by index).

    Returns:
        A list of sample indices (empty when, e.g., no sample is misclassified).
    """
    probabilities, labels = _check(probabilities, labels)
    if by not in SAMPLE_SELECTIONS:
        raise ValueError(f"by: expected one of {', '.join(SAMPLE_SELECTIONS)}, got {by!r}.")
    confidence, predicted = probabilities.max(dim=1)
    if by == "index":
        return list(range(len(labels)))
    if by == "misclassified":
        wrong = (predicted != labels).nonzero().flatten()
        order = torch.argsort(-confidence[wrong], stable=True)
        return wrong[order].tolist()
    return torch.argsort(confidence, stable=True).tolist()


def class_ranking(
    probabilities: torch.Tensor, class_names: Sequence[str] | None = None, top: int | None = None
) -> list[tuple[int, str, float]]:
    """The classes of one sample by descending probability: ``(class, name, probability)``.

    Args:
        probabilities: one sample's class probabilities ``(K,)``.
        class_names: names in class order (default: the class numbers).
        top: keep the ``top`` most probable classes (default: all).
    """
    if not isinstance(probabilities, torch.Tensor) or probabilities.ndim != 1:
        shape = getattr(probabilities, "shape", type(probabilities).__name__)
        raise ValueError(f"probabilities: expected one sample's tensor (K,), got {shape}.")
    names = list(class_names) if class_names is not None else []
    if names and len(names) != len(probabilities):
        raise ValueError(
            f"class_names: expected {len(probabilities)} names, one per class, got {len(names)}."
        )
    if top is not None and (not isinstance(top, int) or top < 1):
        raise ValueError(f"top: expected a positive int or None, got {top!r}.")
    order = torch.argsort(-probabilities.detach().float().cpu(), stable=True)[:top].tolist()
    return [(k, names[k] if names else str(k), float(probabilities[k])) for k in order]
