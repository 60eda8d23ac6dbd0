"""The quality-metric type: what a metric declares about itself (name, direction, category,
the inputs it needs) and how it is called with the context it names.

Every quality metric is a plain function on tensors (the functional core) that returns one value
per sample, ``(N,)``. Names say their direction where they can: ``*_score`` higher is better,
``*_error``/``*_loss`` lower is better (:func:`suffix_direction`); other names
(``deletion_auc``) declare it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["CATEGORIES", "CONTEXT_KEYS", "QualityMetric", "call_with_context", "suffix_direction"]

CATEGORIES = (
    "faithfulness",
    "robustness",
    "localization",
    "complexity",
    "agreement",
)

#: Inputs a metric may need, as they are named in metric functions' signatures.
CONTEXT_KEYS = (
    "model",  # the nn.Module
    "inputs",  # (N, ...)
    "attributions",  # (N, ...) the inputs' shape, or (N, 1, H, W) layer maps
    "target",  # LongTensor (N,)
    "masks",  # ground-truth masks, (N, 1, H, W) / (N, H, W) / (N, F) bool
    "segments",  # superpixel labels (N, H, W) (LIME's extras["segments"])
    "baseline",  # the reference value features are replaced by
    "reference_output",  # f(baseline) per sample, when the method defines its own
    "output",  # ModelFunction's `output` selector
    "explain",  # callable (inputs, target, seed=None) -> attributions: re-runs the method
    "other",  # attributions of another method (pairwise agreement metrics)
    "model_kwargs",  # the model's extra forward arguments ({"attention_mask": mask})
    "attention_mask",  # token ids: bool (N, L), the real tokens (from model_kwargs)
    "mask_token",  # token ids: the id that removes a token (deletion/insertion)
    "baseline_token",  # token ids: the reference id of gradient methods (completeness)
)


@dataclass(frozen=True)
class QualityMetric:
    """One registered quality metric.

    Attributes:
        name: the metric's name, also the key of its values in reports.
        function: the functional implementation, returning ``(N,)``.
        higher_is_better: the direction.
        category: one of :data:`CATEGORIES`.
        reference: the paper (a link).
        requires: the context inputs the function needs beyond ``attributions`` (``"model"``,
            ``"masks"``, ``"explain"``, ``"other"`` ...). A metric is skipped by
            :func:`xai.evaluate_explanation`'s default set when one is missing.
        image_only: the metric is defined for image batches ``(N, C, H, W)`` only.
        token_ids: the metric is defined for token ids ``(N, L)`` (False for metrics that
            add continuous noise to the inputs: infidelity, max-sensitivity).
        method_property: when set, the metric is meaningful only for methods whose class lists
            this property in ``Explainer.properties`` (``"completeness"``: attributions that
            sum to ``f(x) - f(baseline)``, as Integrated Gradients' do).
        stochastic_only: the metric is meaningful for stochastic methods only (seed stability).
        default: part of :func:`xai.evaluate_explanation`'s default set.
        summary: one line saying what it measures.
    """

    name: str
    function: Callable[..., torch.Tensor]
    higher_is_better: bool
    category: str
    reference: str
    requires: tuple[str, ...] = ()
    image_only: bool = False
    token_ids: bool = True
    method_property: str | None = None
    stochastic_only: bool = False
    default: bool = True
    summary: str = ""

    @property
    def direction(self) -> str:
        """``"higher"`` or ``"lower"`` (is better)."""
        return "higher" if self.higher_is_better else "lower"

    def __call__(self, **context: Any) -> torch.Tensor:
        """Call the function with the context entries its signature names, plus options."""
        return call_with_context(self.function, context)


def call_with_context(function: Callable[..., Any], context: Mapping[str, Any]) -> Any:
    """Call ``function`` with the entries of ``context`` its signature accepts."""
    parameters = inspect.signature(function).parameters
    return function(**{k: v for k, v in context.items() if k in parameters})


def suffix_direction(name: str) -> bool | None:
    if name.endswith("_score"):
        return True
    if name.endswith(("_error", "_loss")):
        return False
    return None
