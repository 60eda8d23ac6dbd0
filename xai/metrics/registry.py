"""The registry of explanation-quality metrics: the built-in ones, registered explicitly
below from each metric module's ``METRICS``, and those users add with
:func:`register_quality_metric`. :func:`xai.evaluate_explanation` and :func:`xai.compare` run
every applicable registered metric; a common test holds every metric to the same invariants.
"""

from __future__ import annotations

from xai.errors import InputError, InputTypeError, unknown_name_error
from xai.metrics.agreement import METRICS as AGREEMENT
from xai.metrics.base import CATEGORIES, CONTEXT_KEYS, QualityMetric, suffix_direction
from xai.metrics.complexity import METRICS as COMPLEXITY
from xai.metrics.faithfulness import METRICS as FAITHFULNESS
from xai.metrics.localization import METRICS as LOCALIZATION
from xai.metrics.robustness import METRICS as ROBUSTNESS
from xai.metrics.sanity import METRICS as SANITY

__all__ = [
    "CATEGORIES",
    "QualityMetric",
    "get_quality_metric",
    "quality_metrics",
    "register_quality_metric",
]

_REGISTRY: dict[str, QualityMetric] = {}


def register_quality_metric(metric: QualityMetric, *, overwrite: bool = False) -> QualityMetric:
    """Add a metric to the registry.

    Raises:
        TypeError: ``metric`` is not a :class:`QualityMetric`.
        ValueError: unknown category, undeclared direction, a name whose suffix contradicts its
            direction, or a name already taken (unless ``overwrite``).
    """
    if not isinstance(metric, QualityMetric):
        raise InputTypeError("metric", f"expected a QualityMetric, got {type(metric).__name__}.")
    if metric.category not in CATEGORIES:
        raise InputError(
            "category",
            f"expected one of {', '.join(map(repr, CATEGORIES))}, got "
            f"{metric.category!r} for metric {metric.name!r}.",
        )
    if not isinstance(metric.higher_is_better, bool):
        raise InputError(
            "higher_is_better",
            f"metric {metric.name!r} must declare its direction (True/False).",
        )
    suffix_says = suffix_direction(metric.name)
    if suffix_says is not None and suffix_says != metric.higher_is_better:
        raise InputError(
            "name",
            f"{metric.name!r} ends in a suffix that says "
            f"{'higher' if suffix_says else 'lower'} is better, but higher_is_better="
            f"{metric.higher_is_better}. Rename it or fix the direction.",
        )
    unknown = [key for key in metric.requires if key not in CONTEXT_KEYS]
    if unknown:
        raise InputError(
            "requires",
            f"unknown context keys {unknown}; known: {list(CONTEXT_KEYS)}.",
        )
    if metric.name in _REGISTRY and _REGISTRY[metric.name] != metric and not overwrite:
        raise InputError(
            "name",
            f"a quality metric called {metric.name!r} is already registered. Pick another "
            "name or pass overwrite=True.",
        )
    _REGISTRY[metric.name] = metric
    return metric


def quality_metrics(category: str | None = None) -> dict[str, QualityMetric]:
    """The registered quality metrics by name (optionally of one category), in registry order."""
    if category is not None and category not in CATEGORIES:
        raise InputError(
            "category",
            f"expected None or one of {', '.join(map(repr, CATEGORIES))}, got {category!r}.",
        )
    ordered = sorted(_REGISTRY.values(), key=lambda m: CATEGORIES.index(m.category))
    return {m.name: m for m in ordered if category is None or m.category == category}


def get_quality_metric(name: str) -> QualityMetric:
    """The metric registered under ``name``; a ValueError lists the names otherwise."""
    metrics = quality_metrics()
    if not isinstance(name, str):
        raise InputTypeError("metrics", f"expected metric names (str), got {type(name).__name__}.")
    if name not in metrics:
        raise unknown_name_error("metrics", "quality metric", name, metrics)
    return metrics[name]


for _metric in (*FAITHFULNESS, *ROBUSTNESS, *LOCALIZATION, *COMPLEXITY, *AGREEMENT, *SANITY):
    register_quality_metric(_metric)
