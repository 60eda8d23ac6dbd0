"""Metrics: classification metrics (functional core on tensors) and their report."""

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

# Explanation-quality metrics (faithfulness, localization, complexity, agreement, sanity).
from xai.metrics._quality_exports import *  # noqa: F403
from xai.metrics._quality_exports import __all__ as _quality_all

__all__ += _quality_all
