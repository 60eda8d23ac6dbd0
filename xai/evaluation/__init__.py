"""Evaluation, above the functional metrics: a model's classification quality
(:func:`evaluate`), an explanation's quality (:func:`evaluate_explanation`), several methods
compared on the same inputs (:func:`compare`), whole datasets explained to disk
(:func:`explain_dataset`), and finding the samples worth explaining."""

from xai.evaluation.classification import (
    ClassificationReport,
    evaluate,
    evaluate_outputs,
    format_metrics_table,
)
from xai.evaluation.comparison import Comparison, compare
from xai.evaluation.dataset_run import (
    DatasetExplanation,
    DatasetSummary,
    explain_dataset,
    sample_seed,
)
from xai.evaluation.inspection import SAMPLE_SELECTIONS, class_ranking, select_samples
from xai.evaluation.quality import QualityReport, evaluate_explanation

__all__ = [
    "SAMPLE_SELECTIONS",
    "ClassificationReport",
    "Comparison",
    "DatasetExplanation",
    "DatasetSummary",
    "QualityReport",
    "class_ranking",
    "compare",
    "evaluate",
    "evaluate_explanation",
    "evaluate_outputs",
    "explain_dataset",
    "format_metrics_table",
    "sample_seed",
    "select_samples",
]
