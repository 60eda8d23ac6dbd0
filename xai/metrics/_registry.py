"""Registry of explanation-quality metrics, and the checks their functions share.

Every quality metric is a plain function on tensors (the functional core) that returns one value
per sample, ``(N,)``. The registry records, for each, its name, its direction
(``higher_is_better``), its category, the paper it comes from, and which inputs it needs, so
:func:`xai.evaluate_explanation` and :func:`xai.compare` can run every applicable metric and a
common test can hold every metric to the same invariants.

Names say their direction where they can: ``*_score`` higher is better, ``*_error``/``*_loss``
lower is better; other names (``deletion_auc``) declare it in the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from xai._validation import all_finite

__all__ = [
    "CATEGORIES",
    "QualityMetric",
    "get_quality_metric",
    "quality_metrics",
    "register_quality_metric",
]

#: The kinds of quality metric; every registered metric belongs to exactly one.
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
        methods: when not None, the methods the metric is meaningful for (IG completeness).
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
    methods: tuple[str, ...] | None = None
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


_REGISTRY: dict[str, QualityMetric] = {}
_builtins_loaded = False


def register_quality_metric(metric: QualityMetric, *, overwrite: bool = False) -> QualityMetric:
    """Add a metric to the registry.

    Raises:
        TypeError: ``metric`` is not a :class:`QualityMetric`.
        ValueError: unknown category, undeclared direction, a name whose suffix contradicts its
            direction, or a name already taken (unless ``overwrite``).
    """
    if not isinstance(metric, QualityMetric):
        raise TypeError(f"metric: expected a QualityMetric, got {type(metric).__name__}.")
    if metric.category not in CATEGORIES:
        raise ValueError(
            f"category: expected one of {', '.join(map(repr, CATEGORIES))}, got "
            f"{metric.category!r} for metric {metric.name!r}."
        )
    if not isinstance(metric.higher_is_better, bool):
        raise ValueError(
            f"higher_is_better: metric {metric.name!r} must declare its direction (True/False)."
        )
    suffix_says = _suffix_direction(metric.name)
    if suffix_says is not None and suffix_says != metric.higher_is_better:
        raise ValueError(
            f"name: {metric.name!r} ends in a suffix that says "
            f"{'higher' if suffix_says else 'lower'} is better, but higher_is_better="
            f"{metric.higher_is_better}. Rename it or fix the direction."
        )
    unknown = [key for key in metric.requires if key not in CONTEXT_KEYS]
    if unknown:
        raise ValueError(f"requires: unknown context keys {unknown}; known: {list(CONTEXT_KEYS)}.")
    if metric.name in _REGISTRY and _REGISTRY[metric.name] != metric and not overwrite:
        raise ValueError(
            f"name: a quality metric called {metric.name!r} is already registered. Pick another "
            "name or pass overwrite=True."
        )
    _REGISTRY[metric.name] = metric
    return metric


def _suffix_direction(name: str) -> bool | None:
    if name.endswith("_score"):
        return True
    if name.endswith(("_error", "_loss")):
        return False
    return None


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    # Importing the modules registers their metrics.
    from xai.metrics import agreement, complexity, faithfulness, localization, sanity  # noqa: F401


def quality_metrics(category: str | None = None) -> dict[str, QualityMetric]:
    """The registered quality metrics by name (optionally of one category), in registry order."""
    _load_builtins()
    if category is not None and category not in CATEGORIES:
        raise ValueError(
            f"category: expected None or one of {', '.join(map(repr, CATEGORIES))}, got {category!r}."
        )
    ordered = sorted(_REGISTRY.values(), key=lambda m: CATEGORIES.index(m.category))
    return {m.name: m for m in ordered if category is None or m.category == category}


def get_quality_metric(name: str) -> QualityMetric:
    """The metric registered under ``name``; a ValueError lists the names otherwise."""
    metrics = quality_metrics()
    if not isinstance(name, str):
        raise TypeError(f"metrics: expected metric names (str), got {type(name).__name__}.")
    if name not in metrics:
        import difflib

        close = difflib.get_close_matches(name, list(metrics), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"metrics: unknown quality metric {name!r}.{hint} Available: {', '.join(metrics)}."
        )
    return metrics[name]


def call_with_context(function: Callable[..., Any], context: Mapping[str, Any]) -> Any:
    """Call ``function`` with the entries of ``context`` its signature accepts."""
    parameters = inspect.signature(function).parameters
    return function(**{k: v for k, v in context.items() if k in parameters})


# ----------------------------------------------------------------- shared checks and views
def check_attributions(
    attributions: Any, inputs: torch.Tensor | None = None, name: str = "attributions"
) -> torch.Tensor:
    """Return ``attributions`` as a float tensor ``(N, ...)``, checked against ``inputs``."""
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(
            f"{name}: expected a torch.Tensor of shape (N, ...), got {type(attributions).__name__}. "
            "Pass explanation.attributions."
        )
    if attributions.ndim < 2 or attributions.shape[0] == 0:
        raise ValueError(
            f"{name}: expected a batch (N, ...) with at least one sample, got shape "
            f"{tuple(attributions.shape)}. Add a batch dimension with {name}.unsqueeze(0)."
        )
    if not torch.is_floating_point(attributions):
        attributions = attributions.float()
    if inputs is not None:
        layer_map = (
            inputs.ndim == 4
            and attributions.ndim == 4
            and attributions.shape[1] == 1
            and attributions.shape[2:] == inputs.shape[2:]
        )
        if attributions.shape != inputs.shape and not layer_map:
            raise ValueError(
                f"{name}: expected the inputs' shape {tuple(inputs.shape)} (or (N, 1, H, W) for "
                f"image layer maps), got {tuple(attributions.shape)}."
            )
    if not all_finite(attributions):
        raise ValueError(f"{name}: expected finite values, got NaN or inf.")
    return attributions.detach()


def check_inputs(inputs: Any, name: str = "inputs") -> torch.Tensor:
    from xai._validation import as_input_batch

    return as_input_batch(inputs, name).detach()


def check_target(target: Any, n: int, device: torch.device) -> torch.Tensor:
    """A LongTensor ``(n,)`` of class indices (an int is broadcast)."""
    if isinstance(target, bool) or target is None:
        raise TypeError(
            f"target: expected an int or one class index per sample ({n}), got {target!r}. "
            "Pass explanation.target."
        )
    target = torch.as_tensor(target, device=device)
    if torch.is_floating_point(target):
        raise TypeError(f"target: expected integer class indices, got dtype {target.dtype}.")
    if target.ndim == 0:
        target = target.expand(n)
    if target.shape != (n,):
        raise ValueError(
            f"target: expected one class index per sample, shape ({n},), got {tuple(target.shape)}."
        )
    if bool((target < 0).any()):
        raise ValueError(
            f"target: expected class indices >= 0, got {int(target.min())}. Pass explanation.target."
        )
    return target.long()


def check_target_range(target: torch.Tensor, columns: int) -> None:
    """Raise if a class index is not a column of the model's ``columns`` outputs."""
    if bool((target >= columns).any()):
        raise ValueError(
            f"target: class index {int(target.max())} is outside the model's outputs; the model "
            f"returns {columns} output column(s), so valid targets are 0..{columns - 1}."
        )


def target_column(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The score of each sample's target class, ``outputs[i, target[i]]``, ``(N,)``."""
    check_target_range(target, outputs.shape[1])
    return outputs.gather(1, target[:, None]).squeeze(1)


def relevance_maps(attributions: torch.Tensor) -> torch.Tensor:
    """One relevance value per position: ``(N, H*W)`` for images (channels summed, sign kept),
    ``(N, L)`` for ``(N, C, L)`` sequences, ``(N, F)`` for tabular rows."""
    if attributions.ndim >= 3:
        return attributions.sum(dim=1).reshape(attributions.shape[0], -1)
    return attributions.reshape(attributions.shape[0], -1)


def check_positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    return float(value)
