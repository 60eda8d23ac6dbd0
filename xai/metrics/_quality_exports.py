"""Public names of the explanation-quality metrics, re-exported by :mod:`xai.metrics`."""

from xai.metrics._registry import (
    CATEGORIES,
    QualityMetric,
    get_quality_metric,
    quality_metrics,
    register_quality_metric,
)
from xai.metrics.agreement import rank_correlation, structural_similarity, top_k_overlap
from xai.metrics.complexity import sparseness_score
from xai.metrics.faithfulness import (
    completeness_error,
    deletion_auc,
    infidelity_error,
    insertion_auc,
    max_sensitivity_error,
    perturbation_curves,
)
from xai.metrics.localization import (
    chance_level,
    pointing_game_score,
    relevance_mass_score,
    relevance_rank_score,
)
from xai.metrics.sanity import (
    DEFAULT_THRESHOLD,
    RandomizationResult,
    data_randomization_check,
    model_randomization_check,
    seed_stability_score,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_THRESHOLD",
    "QualityMetric",
    "RandomizationResult",
    "chance_level",
    "completeness_error",
    "data_randomization_check",
    "deletion_auc",
    "get_quality_metric",
    "infidelity_error",
    "insertion_auc",
    "max_sensitivity_error",
    "model_randomization_check",
    "perturbation_curves",
    "pointing_game_score",
    "quality_metrics",
    "rank_correlation",
    "register_quality_metric",
    "relevance_mass_score",
    "relevance_rank_score",
    "seed_stability_score",
    "sparseness_score",
    "structural_similarity",
    "top_k_overlap",
]
