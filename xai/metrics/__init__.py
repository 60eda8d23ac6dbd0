"""Metrics, as plain functions on tensors (the functional core):

- :mod:`~xai.metrics.classification`: accuracy, F1, ROC-AUC, calibration (equal to scikit-learn's);
- explanation quality, one value per sample: :mod:`~xai.metrics.faithfulness`,
  :mod:`~xai.metrics.robustness`, :mod:`~xai.metrics.localization`,
  :mod:`~xai.metrics.complexity`, :mod:`~xai.metrics.agreement`, :mod:`~xai.metrics.sanity`;
- :mod:`~xai.metrics.registry`: the quality metrics by name, with their direction and needs.
"""

from xai.metrics.agreement import rank_correlation, structural_similarity, top_k_overlap
from xai.metrics.base import CATEGORIES, QualityMetric
from xai.metrics.classification import (
    accuracy_score,
    as_probabilities,
    confusion_matrix,
    expected_calibration_error,
    f1_score,
    log_loss,
    reliability_bins,
    roc_auc_score,
    roc_curve,
)
from xai.metrics.complexity import sparseness_score
from xai.metrics.faithfulness import (
    completeness_error,
    deletion_auc,
    infidelity_error,
    insertion_auc,
    perturbation_curves,
)
from xai.metrics.localization import (
    chance_level,
    pointing_game_score,
    relevance_mass_score,
    relevance_rank_score,
)
from xai.metrics.registry import get_quality_metric, quality_metrics, register_quality_metric
from xai.metrics.robustness import max_sensitivity_error
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
    "accuracy_score",
    "as_probabilities",
    "chance_level",
    "completeness_error",
    "confusion_matrix",
    "data_randomization_check",
    "deletion_auc",
    "expected_calibration_error",
    "f1_score",
    "get_quality_metric",
    "infidelity_error",
    "insertion_auc",
    "log_loss",
    "max_sensitivity_error",
    "model_randomization_check",
    "perturbation_curves",
    "pointing_game_score",
    "quality_metrics",
    "rank_correlation",
    "register_quality_metric",
    "relevance_mass_score",
    "relevance_rank_score",
    "reliability_bins",
    "roc_auc_score",
    "roc_curve",
    "seed_stability_score",
    "sparseness_score",
    "structural_similarity",
    "top_k_overlap",
]
